/* SPDX-License-Identifier: BSD-3-Clause */
/* Frontends in their own process: see fault_child.h. */
#include "fault_child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault_ring.h"
#include "fault_usage.h"
#include "fm_conn.h"
#include "test_clock.h"

/* Guest memory of a frontend: rings and half the buffers in region 0,
 * the other half across a hole, as RAM below and above 4 GiB. */
#define CHILD_REGION_SIZE (1u << 20)
#define CHILD_TX_BUFS 64
#define CHILD_RX_BUFS 96
/* Buffers per direction and step of a frontend behind a vIOMMU (each
 * costs an UPDATE or INVALIDATE round trip). */
#define CHILD_IOMMU_BATCH 16
/* A frontend left alone (its parent stuck) gives up after this. */
#define CHILD_MAX_LIFE_MS 30000
/* Memory slots: the spare region, removed and added again every
 * CHILD_SLOT_EVERY traffic steps. */
#define CHILD_SPARE_GPA (2ull << 30)
#define CHILD_SPARE_SIZE (64u << 10)
#define CHILD_SLOT_EVERY 8
#define PF_CONFIGURE_MEM_SLOTS 15
#define REQ_ADD_MEM_REG 37
#define REQ_REM_MEM_REG 38

const char *
fault_phase_name(int phase)
{
	static const char *const names[FAULT_PH_NB] = {
		"start", "connected", "features", "memtable", "rings",
		"traffic",
	};

	return phase >= 0 && phase < FAULT_PH_NB ? names[phase] : "?";
}

const char *
fault_stop_name(int stop)
{
	static const char *const names[FAULT_STOP_NB] = {
		"none", "connected", "negotiated", "half-message",
		"memtable-in-flight", "memtable-done", "ring0",
		"misses-pending",
	};

	return stop >= 0 && stop < FAULT_STOP_NB ? names[stop] : "?";
}

int
fault_child_init(struct fault_child *c)
{
	memset(c, 0, sizeof(*c));
	c->pid = -1;
	c->listen_fd = -1;
	fm_frontend_attach(&c->m, -1);
	c->sh = mmap(NULL, sizeof(*c->sh), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (c->sh == MAP_FAILED) {
		c->sh = NULL;
		return -1;
	}
	return 0;
}

void
fault_child_fini(struct fault_child *c)
{
	if (c->pid > 0)
		fault_child_kill(c);
	fault_child_release(c);
	if (c->sh != NULL)
		munmap(c->sh, sizeof(*c->sh));
	c->sh = NULL;
}

int
fault_child_prepare(struct fault_child *c, const char *path, int listen_fd,
		const struct fault_child_plan *plan)
{
	struct fm_config cfg;

	fm_frontend_close(&c->m);
	fm_frontend_attach(&c->m, -1);
	memset(c->sh, 0, sizeof(*c->sh));
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->listen_fd = listen_fd;
	c->stop = plan->stop;
	c->deaf_after = plan->deaf_after;
	c->iommu = plan->iommu;
	c->slots = plan->slots;
	c->packed = plan->packed;
	if (c->stop == FAULT_STOP_MISSES && !c->iommu)
		return -1;
	fm_config_default(&cfg);
	c->features = cfg.features;
	if (c->packed)
		c->features |= FM_BIT(VIRTIO_F_RING_PACKED);
	if (!plan->mergeable)
		c->features &= ~FM_BIT(VIRTIO_NET_F_MRG_RXBUF);
	c->protocol = cfg.protocol;
	if (c->slots)
		c->protocol |= FM_BIT(PF_CONFIGURE_MEM_SLOTS);
	if (fm_mem_add_region(&c->m.mem, 0, CHILD_REGION_SIZE, 0) < 0 ||
			fm_mem_add_region(&c->m.mem, 1ull << 30,
				CHILD_REGION_SIZE, 4096) < 0 ||
			(c->slots && fm_mem_add_region(&c->m.mem,
				CHILD_SPARE_GPA, CHILD_SPARE_SIZE, 0) < 0) ||
			fault_rings_layout(&c->m, 2, 0, c->packed) < 0)
		return -1;
	/* The engine learns the features when the child negotiates. */
	if (fault_guest_init(&c->g, &c->m, &c->sh->st, plan->stream,
			CHILD_TX_BUFS, CHILD_RX_BUFS, 2) < 0)
		return -1;
	if (c->iommu) {
		fault_iommu_init(&c->x, &c->m, &c->g, plan->stream);
		/* Misses are answered between steps: keep steps short. */
		c->g.batch = CHILD_IOMMU_BATCH;
	}
	return 0;
}

/* Closes every fd but the standard ones and those of the guest. */
static void
close_other_fds(struct fault_child *c)
{
	int keep[4 + FM_MAX_REGIONS + 2 * FM_MAX_VRINGS], n = 0, i, j;
	unsigned int from = 3;

	for (i = 0; i < c->m.mem.nregions; i++)
		keep[n++] = c->m.mem.r[i].fd;
	for (i = 0; i < c->m.nvrings; i++) {
		keep[n++] = c->m.vr[i].kick_fd;
		keep[n++] = c->m.vr[i].call_fd;
	}
	if (c->listen_fd >= 0)
		keep[n++] = c->listen_fd;
	/* Sorted, then the gaps between them closed. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned int)keep[i] > from)
			close_range(from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	close_range(from, ~0u, 0);
}

static void __attribute__((noreturn))
give_up(struct fault_child *c, int result)
{
	atomic_store(&c->sh->failed_result, result);
	atomic_store(&c->sh->failed_phase,
			(int)atomic_load(&c->sh->st.phase));
	_exit(1);
}

static void
set_phase(struct fault_child *c, enum fault_phase ph)
{
	atomic_store(&c->sh->st.phase, ph);
}

/* Parks here (until SIGKILL) if this is the planned stop. */
static void
stop_point(struct fault_child *c, enum fault_stop s)
{
	if (c->stop != (int)s)
		return;
	atomic_store(&c->sh->parked, s);
	for (;;)
		pause();
}

/*
 * SET_MEM_TABLE without waiting for its reply: the library is still
 * mapping (or answering) when the frontend dies. With half, only the
 * header, the fds and the first bytes of the payload go: the library
 * is waiting for the rest when the frontend dies.
 */
static int
send_mem_table(const struct fm_frontend *m, const struct fm_mem *mem,
		bool half)
{
	struct fm_wire_memory wire;
	int fds[FM_MAX_REGIONS];
	uint32_t size = fm_mem_wire(mem, &wire, fds);

	return fm_send(m->sock, FM_REQ_SET_MEM_TABLE,
			FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, size, &wire,
			half ? 8 : size, fds, mem->nregions);
}

/* ADD_MEM_REG (with the region's fd) or REM_MEM_REG of region i. */
static int
mem_reg(struct fm_frontend *m, uint32_t req, int i)
{
	const struct fm_region *g = &m->mem.r[i];
	struct {
		uint64_t padding;
		struct fm_wire_region r;
	} msg = { 0, { g->gpa, g->size, fm_ptr_uaddr(g->base),
		g->mmap_offset } };

	return fm_request(m, req, &msg, sizeof(msg),
			req == REQ_ADD_MEM_REG ? &g->fd : NULL,
			req == REQ_ADD_MEM_REG ? 1 : 0, NULL);
}

/* Memory slots in traffic: the spare region out and in again. */
static void
churn_slot(struct fault_child *c, unsigned int step)
{
	int spare = c->m.mem.nregions - 1, r;

	if (!c->slots || step % CHILD_SLOT_EVERY != 0)
		return;
	/* It starts added: out first. */
	r = mem_reg(&c->m, (step / CHILD_SLOT_EVERY) % 2 ?
			REQ_REM_MEM_REG : REQ_ADD_MEM_REG, spare);
	if (r != FM_OK)
		give_up(c, r);
	atomic_fetch_add(&c->sh->slot_ops, 1);
}

static void __attribute__((noreturn))
child_main(struct fault_child *c)
{
	struct fm_frontend *m = &c->m;
	int64_t end = fm_now_ms() + CHILD_MAX_LIFE_MS, last;
	unsigned int step = 0;
	struct fm_mem table;
	int fd, r, q;

	fault_unpin();
	close_other_fds(c);
	fd = c->listen_fd >= 0 ? fm_accept(c->listen_fd, FM_REPLY_TIMEOUT_MS) :
		fm_connect(c->path, FM_REPLY_TIMEOUT_MS);
	if (fd < 0)
		give_up(c, fd);
	m->sock = fd;
	set_phase(c, FAULT_PH_CONNECTED);
	stop_point(c, FAULT_STOP_CONNECTED);

	set_phase(c, FAULT_PH_FEATURES);
	if (c->iommu) {
		r = fault_iommu_negotiate(&c->x, c->features);
	} else {
		r = fm_negotiate(m, c->features, c->protocol);
		c->g.mergeable =
			(m->features & FM_BIT(VIRTIO_NET_F_MRG_RXBUF)) != 0;
	}
	if (r != FM_OK)
		give_up(c, r);
	stop_point(c, FAULT_STOP_NEGOTIATED);

	set_phase(c, FAULT_PH_MEMTABLE);
	/* With slots the table has region 0 (the rings) only; the rest
	 * comes one region at a time, as QEMU does after a hot-plug. */
	table = m->mem;
	if (c->slots)
		table.nregions = 1;
	if (c->stop == FAULT_STOP_MEMTABLE_SENT ||
			c->stop == FAULT_STOP_HALF_MESSAGE) {
		if (send_mem_table(m, &table,
				c->stop == FAULT_STOP_HALF_MESSAGE) < 0)
			give_up(c, FM_SENDFAIL);
		stop_point(c, FAULT_STOP_MEMTABLE_SENT);
		stop_point(c, FAULT_STOP_HALF_MESSAGE);
	}
	r = fm_set_mem_table(m, &table);
	for (q = 1; r == FM_OK && c->slots && q < m->mem.nregions; q++) {
		r = mem_reg(m, REQ_ADD_MEM_REG, q);
		atomic_fetch_add(&c->sh->slot_ops, r == FM_OK);
	}
	if (r != FM_OK)
		give_up(c, r);
	stop_point(c, FAULT_STOP_MEMTABLE_DONE);

	set_phase(c, FAULT_PH_RINGS);
	/* No miss can come before the rings are set up. */
	atomic_store(&c->sh->served_us, test_now_us());
	for (q = 0; q < 2; q++) {
		r = c->iommu ? fault_iommu_ring_start(&c->x, (uint32_t)q) :
			fault_ring_start(m, (uint32_t)q,
				fault_ring_base0(&m->vr[q]), NULL);
		if (r != FM_OK)
			give_up(c, r);
		if (q == 0)
			stop_point(c, FAULT_STOP_RING0);
	}

	/* With the IOMMU the rings themselves wait for their misses to be
	 * answered here. */
	set_phase(c, FAULT_PH_TRAFFIC);
	last = test_now_us();
	while (fm_now_ms() < end) {
		int64_t t0 = test_now_us();
		int moved = fault_guest_step(&c->g);

		churn_slot(c, ++step);
		if (c->stop == FAULT_STOP_MISSES && step >= c->deaf_after &&
				atomic_load(&c->sh->parked) == 0) {
			/* Deaf from now on: the device's misses pile up. */
			atomic_store(&c->sh->deaf_since_us, test_now_us());
			atomic_store(&c->sh->parked, FAULT_STOP_MISSES);
		}
		if (c->iommu && atomic_load(&c->sh->parked) == 0) {
			int64_t waited;

			moved += fault_iommu_serve(&c->x);
			atomic_store(&c->sh->iommu_failures, c->x.failures);
			atomic_store(&c->sh->iommu_refused,
					c->x.misses_refused);
			atomic_store(&c->sh->iommu_answered,
					c->x.misses_mapped);
			/* A miss sent after the previous serving round's
			 * look found the channel empty (that round started
			 * before it) is answered now. */
			waited = test_now_us() - atomic_load(&c->sh->served_us);
			if (waited > atomic_load(&c->sh->max_answer_us))
				atomic_store(&c->sh->max_answer_us,
						(unsigned int)waited);
			atomic_store(&c->sh->served_us, t0);
		}
		if (t0 - last > atomic_load(&c->sh->max_gap_us))
			atomic_store(&c->sh->max_gap_us,
					(unsigned int)(t0 - last));
		last = t0;
		if (moved == 0)
			usleep(20);
	}
	_exit(0);
}

int
fault_child_spawn(struct fault_child *c)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Never outlive the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(2);
		child_main(c);
	}
	c->pid = pid;
	return 0;
}

bool
fault_child_ended(struct fault_child *c, int *status)
{
	pid_t r;

	if (c->pid <= 0)
		return false;
	r = waitpid(c->pid, status, WNOHANG);
	if (r != c->pid)
		return false;
	c->pid = -1;
	return true;
}

int
fault_child_kill(struct fault_child *c)
{
	int status = 0;

	if (c->pid <= 0)
		return 0;
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	c->pid = -1;
	return status;
}

void
fault_child_release(struct fault_child *c)
{
	if (c->iommu)
		fault_iommu_fini(&c->x);
	c->iommu = false;
	/* The parent's copy never has the socket (only the child did). */
	c->m.sock = -1;
	fm_frontend_close(&c->m);
	fm_frontend_attach(&c->m, -1);
}

uint32_t
fault_child_g2h_published(const struct fault_child *c)
{
	const struct fm_vring *vr = &c->m.vr[1];
	uint32_t posted = atomic_load(&c->sh->st.tx_posted), n = posted;

	if (!vr->packed)
		return __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
	/* Two looked at, so that a count behind by more shows. */
	while (n < posted + 2 && fm_vring_packed_at(vr,
			fault_guest_chain_pos(1, n), NULL))
		n++;
	return n;
}

uint32_t
fault_child_used(const struct fault_child *c, int q)
{
	const struct fm_vring *vr = &c->m.vr[q];
	const struct fault_guest_stats *st = &c->sh->st;
	uint32_t n;
	bool used;

	if (!vr->packed)
		return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	/* From what the guest took back (its counts lag at most the chain
	 * it was taking, still marked used: it is posted again only
	 * later), the chains the device wrote back after it, in order. */
	n = q == 1 ? atomic_load(&st->tx_done) : atomic_load(&st->rx_got) +
		atomic_load(&st->rx_bad) + atomic_load(&st->rx_empty) +
		atomic_load(&st->revoked_back);
	while (fm_vring_packed_at(vr, fault_guest_chain_pos(q, n), &used) &&
			used)
		n++;
	return n;
}

uint16_t
fault_child_ring_base(const struct fault_child *c, int q, uint32_t count)
{
	return fault_guest_ring_base(&c->m.vr[q], q, count);
}
