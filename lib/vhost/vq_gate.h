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
 * notification) exclude each other with a spinlock. */

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

/* Control path, in two steps so that several rings share one barrier:
 * close (no new burst gets in after the next vhost_gate_sync()), then
 * wait for the burst under way. */
static inline void
vhost_gate_close(struct vhost_vq_gate *g)
{
	rte_spinlock_lock(&g->ctl);
	__atomic_store_n(&g->closed, 1, __ATOMIC_SEQ_CST);
}

static inline void
vhost_gate_wait(struct vhost_vq_gate *g)
{
	while (__atomic_load_n(&g->busy, __ATOMIC_ACQUIRE) != 0)
		rte_pause();
}

static inline void
vhost_gate_open(struct vhost_vq_gate *g)
{
	__atomic_store_n(&g->closed, 0, __ATOMIC_RELEASE);
	rte_spinlock_unlock(&g->ctl);
}

#endif /* VHOST_VQ_GATE_H */
