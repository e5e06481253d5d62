/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "test_eal.h"

void
test_eal_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >=
				(int)sizeof(p))
			continue;
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

void
test_eal_cleanup(void)
{
	char dir[PATH_MAX];

	/* The path is EAL's: copy it before EAL lets go of it. */
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (dir[0] != '\0')
		test_eal_remove_dir(dir);
}

/* Where EAL puts runtime directories (eal_get_runtime_dir's rule). */
static void
runtime_base(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (getuid() == 0 || xdg == NULL)
		snprintf(buf, len, "/var/run/dpdk");
	else
		snprintf(buf, len, "%s/dpdk", xdg);
}

void
test_eal_sweep_stale(const char *prefix)
{
	char base[PATH_MAX], p[PATH_MAX];
	struct dirent *e;
	DIR *d;

	runtime_base(base, sizeof(base));
	d = opendir(base);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const char *dash = strrchr(e->d_name, '-');
		char *end;
		long pid;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
				dash == NULL || dash[1] == '\0')
			continue;
		pid = strtol(dash + 1, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == getpid())
			continue;
		/* Alive (or not ours to ask): leave it. */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", base, e->d_name) >=
				(int)sizeof(p))
			continue;
		test_eal_remove_dir(p);
	}
	closedir(d);
}

int
test_eal_init_unit(const char *argv0, const char *prefix)
{
	char file_prefix[96];
	char *eal[] = {
		(char *)(uintptr_t)argv0, "--no-huge", "--no-pci", "-m", "64",
		"-l", "0", "--no-telemetry", "--log-level=lib.eal:error",
		file_prefix,
	};
	int ret;

	/* Unique per process, so parallel runs never share EAL files. */
	snprintf(file_prefix, sizeof(file_prefix), "--file-prefix=%s%d",
			prefix, (int)getpid());
	test_eal_sweep_stale(prefix);
	ret = rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])), eal);
	if (ret < 0)
		fprintf(stderr, "rte_eal_init failed: %s\n",
				rte_strerror(rte_errno));
	return ret;
}
