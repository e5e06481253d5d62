/* SPDX-License-Identifier: BSD-3-Clause */

/* vhost-user message framing (vhost_msg.c) over a socketpair: what the
 * library receives from a well-behaved peer, and what it does when the
 * peer sends too many fds, too big a payload, half a message, or
 * nothing. The peer side is written with raw sendmsg() so the receive
 * tests do not depend on vhost_msg_send(). */

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "test_clock.h"
#include "test_sock.h"
#include "vhost_msg.h"
#include "unit_common.h"

static int sv[2] = { -1, -1 };	/* sv[0]: library side, sv[1]: peer */
static struct vhost_user_msg msg;

static void
setup(void)
{
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&msg, 0, sizeof(msg));
}

static void
teardown(void)
{
	vhost_msg_close_fds(&msg);
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		sv[i] = -1;
	}
}

/* Peer side: bytes with optional fds in one sendmsg. */
static void
peer_send(const void *buf, size_t len, const int *fds, int nfd)
{
	CU_ASSERT_EQUAL_FATAL(test_send_fds(sv[1], buf, len, fds, nfd),
			(ssize_t)len);
}

/* A whole message as the wire carries it: header then payload. */
struct wire {
	struct vhost_msg_header hdr;
	uint8_t payload[VHOST_MAX_MSG_PAYLOAD + 16];
} __attribute__((packed));

static size_t
make_wire(struct wire *w, uint32_t request, uint32_t size, uint8_t fill)
{
	w->hdr.request = request;
	w->hdr.flags = VHOST_USER_VERSION;
	w->hdr.size = size;
	memset(w->payload, fill, sizeof(w->payload));
	return sizeof(w->hdr) + size;
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
		sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void
make_memfds(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = ut_memfd("ut_msg", 4096);
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
}

static void
close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static void
test_payload(void)
{
	struct wire w;
	struct vhost_vring_state st = { .index = 3, .num = 256 };
	size_t len = make_wire(&w, VHOST_USER_SET_VRING_NUM, sizeof(st), 0);

	memcpy(w.payload, &st, sizeof(st));
	peer_send(&w, len, NULL, 0);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(msg.hdr.request, VHOST_USER_SET_VRING_NUM);
	CU_ASSERT_EQUAL(msg.hdr.flags, VHOST_USER_VERSION);
	CU_ASSERT_EQUAL(msg.hdr.size, sizeof(st));
	CU_ASSERT_EQUAL(msg.payload.state.index, 3);
	CU_ASSERT_EQUAL(msg.payload.state.num, 256);
	CU_ASSERT_EQUAL(msg.fd_num, 0);

	/* Two messages in one write, then one without payload: each recv
	 * takes exactly one message from the stream. */
	struct wire two[2];
	uint8_t buf[2 * sizeof(struct wire)];
	size_t l0 = make_wire(&two[0], VHOST_USER_SET_FEATURES, 8, 0x11);
	size_t l1 = make_wire(&two[1], VHOST_USER_SET_LOG_BASE, 16, 0x22);

	memcpy(buf, &two[0], l0);
	memcpy(buf + l0, &two[1], l1);
	peer_send(buf, l0 + l1, NULL, 0);
	len = make_wire(&w, VHOST_USER_SET_OWNER, 0, 0);
	peer_send(&w, len, NULL, 0);

	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(msg.hdr.request, VHOST_USER_SET_FEATURES);
	CU_ASSERT_EQUAL(msg.payload.u64, 0x1111111111111111ULL);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(msg.hdr.request, VHOST_USER_SET_LOG_BASE);
	CU_ASSERT_EQUAL(msg.payload.log.mmap_offset, 0x2222222222222222ULL);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(msg.hdr.request, VHOST_USER_SET_OWNER);
	CU_ASSERT_EQUAL(msg.hdr.size, 0);

	/* The largest payload there is room for. */
	len = make_wire(&w, VHOST_USER_SET_CONFIG, VHOST_MAX_MSG_PAYLOAD, 0x5a);
	peer_send(&w, len, NULL, 0);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(msg.hdr.size, VHOST_MAX_MSG_PAYLOAD);
	CU_ASSERT_EQUAL(msg.payload.raw[VHOST_MAX_MSG_PAYLOAD - 1], 0x5a);
}

static void
check_fds(const int *sent, int n)
{
	CU_ASSERT_EQUAL_FATAL(msg.fd_num, n);
	for (int i = 0; i < n; i++) {
		CU_ASSERT(msg.fds[i] >= 0);
		CU_ASSERT(msg.fds[i] != sent[i]);
		/* In order, and not inherited by anything we exec. */
		CU_ASSERT(same_file(msg.fds[i], sent[i]));
		CU_ASSERT(fcntl(msg.fds[i], F_GETFD) & FD_CLOEXEC);
	}
}

static void
test_fds(void)
{
	int fds[VHOST_MAX_MSG_FDS];
	struct wire w;
	size_t len = make_wire(&w, VHOST_USER_SET_VRING_KICK, 8, 0);
	int nfds;

	make_memfds(fds, VHOST_MAX_MSG_FDS);
	nfds = test_count_fds();
	peer_send(&w, len, fds, 1);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	check_fds(fds, 1);
	CU_ASSERT_EQUAL(test_count_fds(), nfds + 1);
	vhost_msg_close_fds(&msg);
	CU_ASSERT_EQUAL(msg.fd_num, 0);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	len = make_wire(&w, VHOST_USER_SET_MEM_TABLE, sizeof(struct vhost_user_memory), 0);
	peer_send(&w, len, fds, VHOST_MAX_MSG_FDS);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	check_fds(fds, VHOST_MAX_MSG_FDS);
	CU_ASSERT_EQUAL(test_count_fds(), nfds + VHOST_MAX_MSG_FDS);
	vhost_msg_close_fds(&msg);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	/* A fd taken by a handler (-1) is not closed again. */
	peer_send(&w, len, fds, 2);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	int taken = msg.fds[0];

	msg.fds[0] = -1;
	vhost_msg_close_fds(&msg);
	CU_ASSERT(ut_fd_is_open(taken));
	close(taken);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	close_all(fds, VHOST_MAX_MSG_FDS);
}

static void
test_too_many_fds(void)
{
	int fds[16];
	struct wire w;
	size_t len = make_wire(&w, VHOST_USER_SET_MEM_TABLE, sizeof(struct vhost_user_memory), 0);
	int nfds;

	make_memfds(fds, 16);
	nfds = test_count_fds();
	peer_send(&w, len, fds, VHOST_MAX_MSG_FDS + 1);
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT_EQUAL(msg.fd_num, 0);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	teardown();
	setup();
	peer_send(&w, len, fds, 16);
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT_EQUAL(msg.fd_num, 0);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	close_all(fds, 16);
}

static void
test_oversized_payload(void)
{
	int fds[2];
	struct wire w;
	int nfds;

	make_memfds(fds, 2);
	nfds = test_count_fds();
	/* One byte more than the union, all of it sent: refused on the
	 * size, not read into (and past) the payload. */
	peer_send(&w, make_wire(&w, VHOST_USER_SET_CONFIG, sizeof(msg.payload) + 1, 0),
		  fds, 2);
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT_EQUAL(msg.fd_num, 0);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	/* Only a header: the size alone must be refused at once, without
	 * waiting for 4 GiB that never come. */
	teardown();
	setup();
	make_wire(&w, VHOST_USER_SET_CONFIG, UINT32_MAX, 0);
	peer_send(&w, sizeof(w.hdr), NULL, 0);
	uint64_t t0 = test_now_ms();

	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT(test_now_ms() - t0 < VHOST_MSG_TIMEOUT_MS / 2);
	close_all(fds, 2);
}

static void
test_eof(void)
{
	close(sv[1]);
	sv[1] = -1;
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 0);
	CU_ASSERT_EQUAL(msg.fd_num, 0);
}

/* The peer goes away in the middle of a message: an error, at once. */
static void
test_peer_closes_midway(void)
{
	struct wire w;
	int fd = ut_memfd("ut_msg", 4096);
	int nfds;
	uint64_t t0;

	make_wire(&w, VHOST_USER_SET_VRING_CALL, 8, 0);
	peer_send(&w, 6, &fd, 1);
	close(sv[1]);
	sv[1] = -1;
	nfds = test_count_fds();	/* the fd in flight is not counted */
	t0 = test_now_ms();
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT(test_now_ms() - t0 < VHOST_MSG_TIMEOUT_MS / 2);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	teardown();
	setup();
	make_wire(&w, VHOST_USER_SET_LOG_BASE, 16, 0);
	peer_send(&w, sizeof(w.hdr) + 8, &fd, 1);
	close(sv[1]);
	sv[1] = -1;
	nfds = test_count_fds();
	t0 = test_now_ms();
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT(test_now_ms() - t0 < VHOST_MSG_TIMEOUT_MS / 2);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	close(fd);
}

/* Half a message and silence: the call gives up after the library's
 * timeout, not before (it waited for the rest) and not much later
 * (plus scheduling slack), and drops the fds it received. */
#define SLACK_MS 300
/* Time the call's thread waited for a CPU is left out of the upper
 * bound (a loaded machine stretches the call; at load 25 past
 * SLACK_MS); where the kernel does not tell it, this much is allowed. */
#define LOAD_SLACK_MS 10000

/* Clocks a call: wall time, and the time it waited for a CPU. */
struct call_clock {
	uint64_t t0;
	int64_t w0;
};

static void
call_clock_start(struct call_clock *c)
{
	c->w0 = test_thread_cpu_wait_ms();
	c->t0 = test_now_ms();
}

/* True if the call ended within the library's timeout plus slack and
 * the time it waited for a CPU; *dt is its wall time. */
static bool
call_clock_within_timeout(const struct call_clock *c, uint64_t *dt)
{
	int64_t w1;

	*dt = test_now_ms() - c->t0;
	w1 = test_thread_cpu_wait_ms();
	if (*dt <= VHOST_MSG_TIMEOUT_MS + SLACK_MS)
		return true;
	if (c->w0 < 0 || w1 < 0)
		return *dt <= VHOST_MSG_TIMEOUT_MS + SLACK_MS + LOAD_SLACK_MS;
	if (*dt <= VHOST_MSG_TIMEOUT_MS + SLACK_MS + (uint64_t)(w1 - c->w0))
		return true;
	fprintf(stderr, "\n  call held the caller %" PRIu64 " ms, of which "
			"%" PRId64 " ms waiting for a CPU\n", *dt, w1 - c->w0);
	return false;
}

static void
test_silent_peer_times_out(void)
{
	struct wire w;
	struct call_clock c;
	int fd = ut_memfd("ut_msg", 4096);
	int nfds = test_count_fds();
	uint64_t dt;

	make_wire(&w, VHOST_USER_SET_LOG_BASE, 16, 0);
	peer_send(&w, 6, &fd, 1);	/* half a header */
	call_clock_start(&c);
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT(call_clock_within_timeout(&c, &dt));
	CU_ASSERT(dt >= VHOST_MSG_TIMEOUT_MS);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	teardown();
	setup();
	peer_send(&w, sizeof(w.hdr) + 8, &fd, 1);	/* half a payload */
	call_clock_start(&c);
	CU_ASSERT(vhost_msg_recv(sv[0], &msg) < 0);
	CU_ASSERT(call_clock_within_timeout(&c, &dt));
	CU_ASSERT(dt >= VHOST_MSG_TIMEOUT_MS);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	close(fd);
}

/* A peer that trickles a message one byte at a time, each byte just
 * inside the timeout, must not hold the caller (the event thread of
 * every device) for longer than the timeout either. */
struct trickle {
	int sock;
	int stop;		/* read end of a pipe: readable = stop */
	const uint8_t *bytes;
	size_t len;
};

static void *
trickle_main(void *arg)
{
	struct trickle *t = arg;

	for (size_t i = 0; i < t->len; i++) {
		struct pollfd p = { .fd = t->stop, .events = POLLIN };

		if (poll(&p, 1, VHOST_MSG_TIMEOUT_MS * 3 / 5) != 0)
			break;
		if (send(t->sock, t->bytes + i, 1, MSG_NOSIGNAL) != 1)
			break;
	}
	return NULL;
}

static void
test_trickling_peer_times_out(void)
{
	struct wire w;
	int stop[2];
	pthread_t th;
	struct trickle t;
	struct call_clock c;
	uint64_t dt;
	bool in_time;
	int ret;

	/* 3 bytes, 3 x 0.6 timeouts: the message completes after 1.8
	 * timeouts, too late if the timeout bounds the whole call. */
	make_wire(&w, VHOST_USER_SET_FEATURES, 3, 0x33);
	CU_ASSERT_EQUAL_FATAL(pipe(stop), 0);
	peer_send(&w, sizeof(w.hdr), NULL, 0);
	t = (struct trickle){ .sock = sv[1], .stop = stop[0],
			      .bytes = w.payload, .len = 3 };
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, trickle_main, &t), 0);
	call_clock_start(&c);
	ret = vhost_msg_recv(sv[0], &msg);
	in_time = call_clock_within_timeout(&c, &dt);
	CU_ASSERT_EQUAL(write(stop[1], "x", 1), 1);
	pthread_join(th, NULL);
	close(stop[0]);
	close(stop[1]);
	if (!in_time)
		fprintf(stderr, "\n  3-byte payload at 1 byte per %d ms held the caller %" PRIu64 " ms (returned %d)\n",
			VHOST_MSG_TIMEOUT_MS * 3 / 5, dt, ret);
	CU_ASSERT(ret < 0);
	CU_ASSERT(in_time);
}

static void
test_send_round_trip(void)
{
	int fds[3];
	struct vhost_msg_header hdr = {
		.request = VHOST_USER_SET_VRING_ADDR,
		.flags = VHOST_USER_VERSION | VHOST_USER_NEED_REPLY,
		.size = sizeof(struct vhost_vring_addr),
	};
	struct vhost_vring_addr a = {
		.index = 1, .flags = 1, .desc_user_addr = 0x1000,
		.used_user_addr = 0x2000, .avail_user_addr = 0x3000,
		.log_guest_addr = 0x4000,
	};
	int nfds;
	uint8_t byte;

	make_memfds(fds, 3);
	nfds = test_count_fds();
	CU_ASSERT_EQUAL(vhost_msg_send(sv[1], &hdr, &a, fds, 3), 0);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(memcmp(&msg.hdr, &hdr, sizeof(hdr)), 0);
	CU_ASSERT_EQUAL(memcmp(&msg.payload.addr, &a, sizeof(a)), 0);
	check_fds(fds, 3);
	vhost_msg_close_fds(&msg);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);

	/* No payload, no fds. */
	hdr = (struct vhost_msg_header){ .request = VHOST_USER_GET_FEATURES,
					 .flags = VHOST_USER_VERSION };
	CU_ASSERT_EQUAL(vhost_msg_send(sv[1], &hdr, NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL(vhost_msg_recv(sv[0], &msg), 1);
	CU_ASSERT_EQUAL(msg.hdr.request, VHOST_USER_GET_FEATURES);
	CU_ASSERT_EQUAL(msg.hdr.size, 0);
	CU_ASSERT_EQUAL(msg.fd_num, 0);

	/* Too many fds: refused, and nothing at all goes out. */
	int many[VHOST_MAX_MSG_FDS + 1];

	for (int i = 0; i <= VHOST_MAX_MSG_FDS; i++)
		many[i] = fds[0];
	CU_ASSERT(vhost_msg_send(sv[1], &hdr, NULL, many, VHOST_MAX_MSG_FDS + 1) < 0);
	CU_ASSERT_EQUAL(recv(sv[0], &byte, 1, MSG_DONTWAIT), -1);
	CU_ASSERT_EQUAL(errno, EAGAIN);

	/* Peer gone: an error, not SIGPIPE. */
	close(sv[0]);
	sv[0] = -1;
	CU_ASSERT(vhost_msg_send(sv[1], &hdr, NULL, NULL, 0) < 0);
	close_all(fds, 3);
}

static CU_TestInfo tests[] = {
	{ "message with payload", test_payload },
	{ "1 and 8 fds", test_fds },
	{ "more than 8 fds", test_too_many_fds },
	{ "payload larger than the union", test_oversized_payload },
	{ "EOF", test_eof },
	{ "peer closes mid-header / mid-payload", test_peer_closes_midway },
	{ "silent peer: timeout", test_silent_peer_times_out },
	{ "trickling peer: timeout", test_trickling_peer_times_out },
	{ "send round trip", test_send_round_trip },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "msg", NULL, NULL, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	alarm(30);	/* a hung receive fails the run instead of stalling it */
	return test_run(suites, argc, argv);
}
