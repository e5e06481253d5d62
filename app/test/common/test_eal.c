/* SPDX-License-Identifier: BSD-3-Clause */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

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
