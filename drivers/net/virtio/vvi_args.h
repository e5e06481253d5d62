/* SPDX-License-Identifier: BSD-3-Clause */
/* Device arguments (devargs) of net_virtio_viommu. */
#ifndef VVI_ARGS_H
#define VVI_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

enum vvi_iommu_mode {
	VVI_IOMMU_OFF,
	VVI_IOMMU_STATIC,	/* everything mapped at start (or on miss) */
	VVI_IOMMU_DYNAMIC,	/* each buffer mapped while in flight */
};

enum vvi_attack_mode {
	VVI_ATTACK_NONE,
	VVI_ATTACK_UNMAPPED,
	VVI_ATTACK_PERM,
	VVI_ATTACK_STRADDLE,
	VVI_ATTACK_OVERFLOW,
	VVI_ATTACK_INDIRECT,
	VVI_ATTACK_LOOP,
	VVI_ATTACK_CANARY,
	/* Packed rings only: */
	VVI_ATTACK_WRAP,	/* heads published with wrong AVAIL/USED bits */
	VVI_ATTACK_BADID,	/* buffer ids outside the ring */
};

/* Queue pairs: at most what a memory table of 8 regions comfortably feeds. */
#define VVI_MAX_QUEUE_PAIRS 8
#define VVI_MAX_QUEUE_SIZE 32768

struct vvi_args {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool server;
	uint16_t queues;
	uint16_t queue_size;
	bool packed_vq;
	bool mrg_rxbuf;
	enum vvi_iommu_mode iommu;
	uint64_t iommu_page;
	bool iommu_preload;
	bool scatter;		/* iommu_map=scatter */
	uint64_t iommu_seed;	/* places the scattered windows */
	uint32_t working_set;	/* windows; 0: one per mempool page */
	bool strict_perm;	/* rx buffers write-only, not read-write */
	enum vvi_attack_mode attack;
	uint32_t attack_every;
};

#define VVI_PARAMS "path=<unix socket> server=0|1 queues=<1-8> " \
	"queue_size=<64-32768, split: power of 2> packed_vq=0|1 " \
	"mrg_rxbuf=0|1 iommu=off|static|dynamic " \
	"iommu_page=4K|2M|1G iommu_preload=0|1 iommu_map=contig|scatter " \
	"iommu_seed=<n> iotlb_working_set=<1-1048576> strict_perm=0|1 " \
	"attack=none|unmapped|perm|straddle|overflow|indirect|loop|canary|" \
	"wrap|badid " \
	"attack_every=<n>"

/* Parses a devargs string into *a (defaults first). Returns 0 or -EINVAL. */
int vvi_args_parse(const char *str, struct vvi_args *a);

const char *vvi_iommu_mode_name(enum vvi_iommu_mode m);
const char *vvi_attack_name(enum vvi_attack_mode m);

#endif /* VVI_ARGS_H */
