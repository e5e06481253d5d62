/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_kvargs.h>

#include "vvi_args.h"
#include "vvi_log.h"
#include "vvi_scatter.h"

static const char *const iommu_names[] = {
	[VVI_IOMMU_OFF] = "off",
	[VVI_IOMMU_STATIC] = "static",
	[VVI_IOMMU_DYNAMIC] = "dynamic",
};

static const char *const attack_names[] = {
	[VVI_ATTACK_NONE] = "none",
	[VVI_ATTACK_UNMAPPED] = "unmapped",
	[VVI_ATTACK_PERM] = "perm",
	[VVI_ATTACK_STRADDLE] = "straddle",
	[VVI_ATTACK_OVERFLOW] = "overflow",
	[VVI_ATTACK_INDIRECT] = "indirect",
	[VVI_ATTACK_LOOP] = "loop",
	[VVI_ATTACK_CANARY] = "canary",
	[VVI_ATTACK_WRAP] = "wrap",
	[VVI_ATTACK_BADID] = "badid",
};

static const char *const valid_keys[] = {
	"path", "server", "queues", "queue_size", "packed_vq", "mrg_rxbuf", "iommu",
	"iommu_page", "iommu_preload", "strict_perm", "attack", "attack_every",
	"iommu_map", "iommu_seed", "iotlb_working_set", NULL,
};

const char *
vvi_iommu_mode_name(enum vvi_iommu_mode m)
{
	return iommu_names[m];
}

const char *
vvi_attack_name(enum vvi_attack_mode m)
{
	return attack_names[m];
}

static int
parse_name(const char *v, const char *const *names, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

/* Unsigned decimal in [lo, hi]; anything else is an error. */
static int
parse_uint(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return -EINVAL;
	*out = x;
	return 0;
}

static int
parse_page(const char *v, uint64_t *out)
{
	if (strcmp(v, "4K") == 0 || strcmp(v, "4k") == 0)
		*out = 4096;
	else if (strcmp(v, "2M") == 0 || strcmp(v, "2m") == 0)
		*out = 2ULL << 20;
	else if (strcmp(v, "1G") == 0 || strcmp(v, "1g") == 0)
		*out = 1ULL << 30;
	else
		return -EINVAL;
	return 0;
}

/* The last scatter-only devarg given, to refuse it without scatter. */
static const char *seen_scatter_arg;

static int
handle_kv(const char *key, const char *v, void *opaque)
{
	struct vvi_args *a = opaque;
	uint64_t x = 0;
	int r = 0;

	if (strcmp(key, "path") == 0) {
		if (strlen(v) == 0 || strlen(v) >= sizeof(a->path))
			return -EINVAL;
		strcpy(a->path, v);
	} else if (strcmp(key, "server") == 0) {
		r = parse_uint(v, 0, 1, &x);
		a->server = x;
	} else if (strcmp(key, "queues") == 0) {
		r = parse_uint(v, 1, VVI_MAX_QUEUE_PAIRS, &x);
		a->queues = x;
	} else if (strcmp(key, "queue_size") == 0) {
		/* Split sizes are checked once packed_vq is known. */
		r = parse_uint(v, 64, VVI_MAX_QUEUE_SIZE, &x);
		a->queue_size = x;
	} else if (strcmp(key, "packed_vq") == 0) {
		r = parse_uint(v, 0, 1, &x);
		a->packed_vq = x;
	} else if (strcmp(key, "mrg_rxbuf") == 0) {
		r = parse_uint(v, 0, 1, &x);
		a->mrg_rxbuf = x;
	} else if (strcmp(key, "iommu") == 0) {
		r = parse_name(v, iommu_names, RTE_DIM(iommu_names));
		a->iommu = r < 0 ? VVI_IOMMU_OFF : (enum vvi_iommu_mode)r;
	} else if (strcmp(key, "iommu_page") == 0) {
		r = parse_page(v, &a->iommu_page);
	} else if (strcmp(key, "iommu_preload") == 0) {
		r = parse_uint(v, 0, 1, &x);
		a->iommu_preload = x;
	} else if (strcmp(key, "iommu_map") == 0) {
		if (strcmp(v, "scatter") == 0)
			a->scatter = true;
		else if (strcmp(v, "contig") == 0)
			a->scatter = false;
		else
			r = -EINVAL;
	} else if (strcmp(key, "iommu_seed") == 0) {
		r = parse_uint(v, 0, UINT64_MAX, &a->iommu_seed);
		seen_scatter_arg = key;
	} else if (strcmp(key, "iotlb_working_set") == 0) {
		r = parse_uint(v, 1, VVI_SCATTER_MAX_WINDOWS, &x);
		a->working_set = x;
		seen_scatter_arg = key;
	} else if (strcmp(key, "strict_perm") == 0) {
		r = parse_uint(v, 0, 1, &x);
		a->strict_perm = x;
	} else if (strcmp(key, "attack") == 0) {
		r = parse_name(v, attack_names, RTE_DIM(attack_names));
		a->attack = r < 0 ? VVI_ATTACK_NONE : (enum vvi_attack_mode)r;
	} else if (strcmp(key, "attack_every") == 0) {
		r = parse_uint(v, 2, 1u << 20, &x);
		a->attack_every = x;
	}
	if (r < 0) {
		VVI_LOG(ERR, "bad value '%s' for %s; valid: %s", v, key,
			VVI_PARAMS);
		return -EINVAL;
	}
	return 0;
}

int
vvi_args_parse(const char *str, struct vvi_args *a)
{
	struct rte_kvargs *kv;
	int r;

	memset(a, 0, sizeof(*a));
	a->queues = 1;
	a->queue_size = 256;
	a->mrg_rxbuf = true;
	a->iommu = VVI_IOMMU_OFF;
	a->iommu_page = 2ULL << 20;
	a->iommu_preload = true;
	a->attack = VVI_ATTACK_NONE;
	a->attack_every = 16;
	a->iommu_seed = 1;
	seen_scatter_arg = NULL;

	kv = rte_kvargs_parse(str ? str : "", valid_keys);
	if (kv == NULL) {
		VVI_LOG(ERR, "cannot parse devargs '%s'; valid: %s",
			str, VVI_PARAMS);
		return -EINVAL;
	}
	r = rte_kvargs_process(kv, NULL, handle_kv, a);
	rte_kvargs_free(kv);
	if (r < 0)
		return -EINVAL;
	if (a->path[0] == '\0') {
		VVI_LOG(ERR, "path= is required");
		return -EINVAL;
	}
	/* Split rings index with a mask; packed ones take any size. */
	if (!a->packed_vq && !rte_is_power_of_2(a->queue_size)) {
		VVI_LOG(ERR, "queue_size=%u: split rings need a power of 2",
			a->queue_size);
		return -EINVAL;
	}
	if ((a->attack == VVI_ATTACK_WRAP || a->attack == VVI_ATTACK_BADID) &&
			!a->packed_vq) {
		VVI_LOG(ERR, "attack=%s needs packed_vq=1",
			vvi_attack_name(a->attack));
		return -EINVAL;
	}
	if (a->attack != VVI_ATTACK_NONE && a->iommu == VVI_IOMMU_OFF) {
		VVI_LOG(ERR, "attack=%s needs iommu=static or dynamic",
			vvi_attack_name(a->attack));
		return -EINVAL;
	}
	if (a->scatter && a->iommu != VVI_IOMMU_STATIC) {
		VVI_LOG(ERR, "iommu_map=scatter needs iommu=static");
		return -EINVAL;
	}
	if (a->scatter && a->iommu_page > (2ULL << 20)) {
		VVI_LOG(ERR, "iommu_map=scatter needs iommu_page=4K or 2M");
		return -EINVAL;
	}
	if (a->scatter && a->attack != VVI_ATTACK_NONE) {
		VVI_LOG(ERR, "iommu_map=scatter does not combine with attack=");
		return -EINVAL;
	}
	if (!a->scatter && seen_scatter_arg != NULL) {
		VVI_LOG(ERR, "%s= needs iommu_map=scatter", seen_scatter_arg);
		return -EINVAL;
	}
	return 0;
}
