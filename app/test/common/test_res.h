/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_RES_H
#define TEST_RES_H

/*
 * What this process holds, counted from /proc: a test counts before and
 * after an operation to show that a refusal or a teardown leaks no fd
 * and no mapping (and how much memory it uses). Header-only, so that the fuzz targets (built by
 * run_fuzz.sh, not meson) use the same code.
 */

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Open fds of this process, the directory stream's own excluded. */
static inline int
test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Mappings of this process whose line in /proc/self/maps contains tag
 * (e.g. "memfd:name"), or every mapping if tag is NULL. A line longer
 * than the buffer counts once. */
static inline int
test_count_maps(const char *tag)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool hit = tag == NULL;
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (!hit && strstr(line, tag) != NULL)
			hit = true;
		if (strchr(line, '\n') != NULL) {
			n += hit;
			hit = tag == NULL;
		}
	}
	fclose(f);
	return n;
}

/* Resident set size of this process (VmRSS) in KiB, or -1. */
static inline long
test_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

#endif /* TEST_RES_H */
