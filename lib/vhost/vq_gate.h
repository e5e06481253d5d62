/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_VQ_GATE_H
#define VHOST_VQ_GATE_H

/* The gate between a ring's datapath thread and the control path.
 *
 * A burst enters with no locked instruction: the ring's one datapath
 * thread (the API allows one per ring) marks itself busy with a plain
 * store, then reads whether the control path has closed the gate. The
 * control path closes it and then calls membarrier(): every running
 * thread of the process passes a full barrier, so either the burst's busy
 * mark is visible to the control path, which waits for it to clear, or
 * the burst's read sees the gate closed and it backs off. The cost of the
 * barrier falls on the control path, whose messages are rare next to
 * bursts. Where membarrier() is not available (old kernel, seccomp) the
 * burst puts a full fence between its store and its load instead: one
 * locked instruction, still one less than a reader lock's two.
 *
 * Control-path threads (the event thread, application threads changing
 * notification) exclude each other with a spinlock.
 *
 * The control path's waits (a burst to end, the spinlock, the IOTLB
 * write lock) spin only briefly: a burst takes microseconds, so a longer
 * wait means the thread waited for is not running (descheduled on a busy
 * machine), and spinning on would keep from it a CPU it needs to finish.
 * Past VHOST_BACKOFF_SPIN_US the waiter sleeps, longer each time up to
 * VHOST_BACKOFF_SLEEP_MAX_US (vhost_backoff_pause). */

#include <stdbool.h>
#include <stdint.h>

#include <rte_atomic.h>
#include <rte_branch_prediction.h>
#include <rte_pause.h>
#include <rte_spinlock.h>

#if defined(__SANITIZE_THREAD__)
#define VHOST_GATE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VHOST_GATE_TSAN 1
#endif
#endif

struct vhost_vq_gate {
	uint32_t busy;		/* the datapath thread is in a burst */
	uint32_t closed;	/* the control path holds the ring */
	rte_spinlock_t ctl;	/* control-path threads among themselves */
};

/* Spin this long, then sleep from the first to the last length, each
 * sleep twice the one before. */
#define VHOST_BACKOFF_SPIN_US 50
#define VHOST_BACKOFF_SLEEP_MIN_US 20
#define VHOST_BACKOFF_SLEEP_MAX_US 1000

/* One wait of the control path; zeroed (vhost_backoff_init) before it. */
struct vhost_backoff {
	uint64_t start;		/* timer cycles at the first pause */
	uint32_t sleep_us;	/* the last sleep, 0 while spinning */
};

static inline void
vhost_backoff_init(struct vhost_backoff *b)
{
	b->start = 0;
	b->sleep_us = 0;
}

/* One round of a wait loop: rte_pause() while the wait is short, a sleep
 * once it is not. */
void vhost_backoff_pause(struct vhost_backoff *b);

/* True when bursts must fence (no membarrier); set once at load. */
extern bool vhost_gate_burst_fence;

/* Make every thread of the process pass a full memory barrier. */
void vhost_gate_sync(void);

static inline void
vhost_gate_init(struct vhost_vq_gate *g)
{
	g->busy = 0;
	g->closed = 0;
	rte_spinlock_init(&g->ctl);
}

/* Datapath: enter for a burst; false if the control path holds it. */
static __rte_always_inline bool
vhost_gate_enter(struct vhost_vq_gate *g)
{
#ifdef VHOST_GATE_TSAN
	/* The thread sanitizer does not know membarrier(): use atomics it
	 * understands, with the same ordering. */
	__atomic_store_n(&g->busy, 1, __ATOMIC_SEQ_CST);
#else
	__atomic_store_n(&g->busy, 1, __ATOMIC_RELAXED);
	if (unlikely(vhost_gate_burst_fence))
		rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	else
		rte_compiler_barrier();	/* membarrier() orders it */
#endif
	if (likely(__atomic_load_n(&g->closed, __ATOMIC_SEQ_CST) == 0))
		return true;
	__atomic_store_n(&g->busy, 0, __ATOMIC_RELEASE);
	return false;
}

/* Datapath: leave; everything the burst did is before the clear. */
static __rte_always_inline void
vhost_gate_leave(struct vhost_vq_gate *g)
{
	__atomic_store_n(&g->busy, 0, __ATOMIC_RELEASE);
}

/* Control path: the spinlock alone (its holder may be descheduled too). */
static inline void
vhost_gate_ctl_lock(struct vhost_vq_gate *g)
{
	struct vhost_backoff b;

	if (likely(rte_spinlock_trylock(&g->ctl)))
		return;
	vhost_backoff_init(&b);
	while (!rte_spinlock_trylock(&g->ctl))
		vhost_backoff_pause(&b);
}

/* Control path, in two steps so that several rings share one barrier:
 * close (no new burst gets in after the next vhost_gate_sync()), then
 * wait for the burst under way. */
static inline void
vhost_gate_close(struct vhost_vq_gate *g)
{
	vhost_gate_ctl_lock(g);
	__atomic_store_n(&g->closed, 1, __ATOMIC_SEQ_CST);
}

static inline void
vhost_gate_wait(struct vhost_vq_gate *g)
{
	struct vhost_backoff b;

	if (likely(__atomic_load_n(&g->busy, __ATOMIC_ACQUIRE) == 0))
		return;
	vhost_backoff_init(&b);
	while (__atomic_load_n(&g->busy, __ATOMIC_ACQUIRE) != 0)
		vhost_backoff_pause(&b);
}

static inline void
vhost_gate_open(struct vhost_vq_gate *g)
{
	__atomic_store_n(&g->closed, 0, __ATOMIC_RELEASE);
	rte_spinlock_unlock(&g->ctl);
}

#endif /* VHOST_VQ_GATE_H */
