/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malformed vhost-user messages: wrong payload sizes, ring indexes and
 * sizes out of range, unknown requests, bad features and MTUs, fds that
 * do not belong, bad versions and broken framing. Every case must be
 * refused without harm: see fe_victim.h for what is checked after each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "fe_victim.h"

/* --- wrong payload sizes --- */

struct size_case {
	uint32_t request;
	const char *name;
	uint32_t size;        /* the right size */
	enum fe_level lvl;
	enum fe_fd_kind fd;
};

static const struct size_case size_cases[] = {
	{ FM_REQ_SET_FEATURES, "SET_FEATURES", 8, FE_NEGOTIATED, FE_FD_NONE },
	{ FM_REQ_SET_PROTOCOL_FEATURES, "SET_PROTOCOL_FEATURES", 8,
		FE_NEGOTIATED, FE_FD_NONE },
	{ FM_REQ_SET_VRING_NUM, "SET_VRING_NUM", 8, FE_MEMORY, FE_FD_NONE },
	{ FM_REQ_SET_VRING_ADDR, "SET_VRING_ADDR", 40, FE_MEMORY, FE_FD_NONE },
	{ FM_REQ_SET_VRING_BASE, "SET_VRING_BASE", 8, FE_MEMORY, FE_FD_NONE },
	{ FM_REQ_GET_VRING_BASE, "GET_VRING_BASE", 8, FE_RUNNING, FE_FD_NONE },
	{ FM_REQ_SET_VRING_KICK, "SET_VRING_KICK", 8, FE_MEMORY, FE_FD_EVENT },
	{ FM_REQ_SET_VRING_CALL, "SET_VRING_CALL", 8, FE_MEMORY, FE_FD_EVENT },
	{ FM_REQ_SET_VRING_ERR, "SET_VRING_ERR", 8, FE_MEMORY, FE_FD_EVENT },
	{ FM_REQ_SET_VRING_ENABLE, "SET_VRING_ENABLE", 8, FE_MEMORY,
		FE_FD_NONE },
	{ FM_REQ_NET_SET_MTU, "NET_SET_MTU", 8, FE_NEGOTIATED, FE_FD_NONE },
	{ FM_REQ_SET_LOG_BASE, "SET_LOG_BASE", 16, FE_RUNNING, FE_FD_MEM },
	{ FM_REQ_SEND_RARP, "SEND_RARP", 8, FE_RUNNING, FE_FD_NONE },
};

/* A valid payload of the right size for c, in buf (zero padded). */
static void
size_case_payload(const struct size_case *c, uint8_t *buf)
{
	struct vhost_vring_state st = { .index = 0, .num = 256 };
	struct vhost_vring_addr a;
	uint64_t v = 0, log[2] = { 4096, 0 };
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x09 };

	memset(buf, 0, 64);
	switch (c->request) {
	case FM_REQ_SET_FEATURES:
		v = VM->features;
		break;
	case FM_REQ_SET_PROTOCOL_FEATURES:
		v = VM->protocol;
		break;
	case FM_REQ_SET_VRING_ADDR:
		fm_vring_addr_of(VM, 0, &a);
		memcpy(buf, &a, sizeof(a));
		return;
	case FM_REQ_SET_VRING_BASE:
	case FM_REQ_GET_VRING_BASE:
		st.num = 0;
		/* fall through */
	case FM_REQ_SET_VRING_NUM:
		memcpy(buf, &st, sizeof(st));
		return;
	case FM_REQ_SET_VRING_ENABLE:
		st.num = 1;
		memcpy(buf, &st, sizeof(st));
		return;
	case FM_REQ_NET_SET_MTU:
		v = 1500;
		break;
	case FM_REQ_SET_LOG_BASE:
		memcpy(buf, log, sizeof(log));
		return;
	case FM_REQ_SEND_RARP:
		memcpy(buf, mac, sizeof(mac));
		return;
	default:
		break;
	}
	memcpy(buf, &v, sizeof(v));
}

/*
 * Debian's DPDK 22.11 fails most of these: it checks no payload size
 * except SET_LOG_BASE's and uses whatever its message buffer holds.
 */
static void
test_wrong_payload_size(void)
{
	size_t i;

	for (i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		const struct size_case *c = &size_cases[i];
		uint32_t sizes[3] = { 0, c->size - 1, c->size + 8 };
		int j;

		for (j = 0; j < 3; j++) {
			uint8_t payload[64];
			char name[96];
			int fd = -1, r;

			snprintf(name, sizeof(name), "%s with %u bytes",
					c->name, sizes[j]);
			CU_ASSERT_FATAL(fe_victim_open(c->lvl));
			size_case_payload(c, payload);
			if (c->fd != FE_FD_NONE)
				fd = fe_make_fd(c->fd);
			r = fm_expect_refused(VM, c->request, payload,
					sizes[j], sizes[j], &fd, fd >= 0);
			if (fd >= 0)
				close(fd);
			fe_case_done(name, r);
		}
	}
}

/* --- ring indexes and sizes --- */

static void
test_ring_index_out_of_range(void)
{
	static const uint32_t idx[] = { 0x10000, 1000 };
	static const struct {
		uint32_t request;
		const char *name;
		enum fe_level lvl;
	} reqs[] = {
		{ FM_REQ_SET_VRING_NUM, "SET_VRING_NUM", FE_MEMORY },
		{ FM_REQ_SET_VRING_ADDR, "SET_VRING_ADDR", FE_MEMORY },
		{ FM_REQ_SET_VRING_BASE, "SET_VRING_BASE", FE_MEMORY },
		{ FM_REQ_SET_VRING_ENABLE, "SET_VRING_ENABLE", FE_MEMORY },
		{ FM_REQ_GET_VRING_BASE, "GET_VRING_BASE", FE_RUNNING },
	};
	size_t i, j;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		for (j = 0; j < sizeof(idx) / sizeof(idx[0]); j++) {
			struct vhost_vring_state st = { idx[j], 256 };
			struct vhost_vring_addr a;
			char name[96];
			int r;

			snprintf(name, sizeof(name), "%s index %u",
					reqs[i].name, idx[j]);
			CU_ASSERT_FATAL(fe_victim_open(reqs[i].lvl));
			if (reqs[i].request == FM_REQ_SET_VRING_ADDR) {
				fm_vring_addr_of(VM, 0, &a);
				a.index = idx[j];
				r = fm_expect_refused(VM, reqs[i].request,
						&a, sizeof(a), sizeof(a),
						NULL, 0);
			} else {
				if (reqs[i].request != FM_REQ_SET_VRING_NUM)
					st.num = reqs[i].request ==
						FM_REQ_SET_VRING_ENABLE;
				r = fm_expect_refused(VM, reqs[i].request,
						&st, sizeof(st), sizeof(st),
						NULL, 0);
			}
			fe_case_done(name, r);
		}
	}
}

/*
 * The same with an fd attached: refusing must not leak it.
 * Debian's DPDK 22.11 fails: it drops the connection on a bad index
 * without closing the fds that came with the message.
 */
static void
test_ring_index_out_of_range_with_fd(void)
{
	static const uint32_t reqs[] = {
		FM_REQ_SET_VRING_NUM, FM_REQ_SET_VRING_BASE,
		FM_REQ_SET_VRING_ENABLE,
	};
	size_t i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct vhost_vring_state st = { 1000, 1 };
		char name[64];
		int fd, r;

		snprintf(name, sizeof(name), "request %u index 1000 with an fd",
				reqs[i]);
		CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
		fd = eventfd(0, EFD_CLOEXEC);
		r = fm_expect_refused(VM, reqs[i], &st, sizeof(st),
				sizeof(st), &fd, 1);
		close(fd);
		fe_case_done(name, r);
	}
}

static void
test_vring_num_invalid(void)
{
	static const uint32_t nums[] = {
		0, 3, 100, 32769, 65536, 0x80000000u, 0xffffffffu,
	};
	size_t i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		struct vhost_vring_state st = { 0, nums[i] };
		char name[64];
		int r;

		snprintf(name, sizeof(name), "SET_VRING_NUM %u", nums[i]);
		CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
		r = fm_expect_refused(VM, FM_REQ_SET_VRING_NUM, &st,
				sizeof(st), sizeof(st), NULL, 0);
		if (r == FM_NACK && !fe_victim_recovers(name, false))
			CU_FAIL("no recovery after a refused ring size");
		fe_case_done(name, r);
	}
}

static void
test_unknown_request(void)
{
	static const uint32_t ids[] = {
		0, 41, 99, 1000, 0x7fffffffu, 0xffffffffu,
	};
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint64_t v = 0;
		char name[64];
		int r;

		snprintf(name, sizeof(name), "request %u", ids[i]);
		CU_ASSERT_FATAL(fe_victim_open(FE_NEGOTIATED));
		r = fm_expect_refused(VM, ids[i], &v, sizeof(v), sizeof(v),
				NULL, 0);
		fe_case_done(name, r);
	}
}

/* --- features, MTU --- */

static int
lowest_unoffered_bit(uint64_t offered)
{
	int b;

	for (b = 0; b < 64; b++)
		if (!(offered & FM_BIT(b)))
			return b;
	return -1;
}

static void
test_features_invalid(void)
{
	int b, r;

	CU_ASSERT_FATAL(fe_victim_open(FE_NEGOTIATED));
	b = lowest_unoffered_bit(VM->offered_features);
	CU_ASSERT_FATAL(b >= 0);
	r = fm_expect_refused(VM, FM_REQ_SET_FEATURES,
			&(uint64_t){ VM->features | FM_BIT(b) }, 8, 8, NULL, 0);
	fe_case_done("SET_FEATURES with a feature not offered", r);

	CU_ASSERT_FATAL(fe_victim_open(FE_NEGOTIATED));
	b = lowest_unoffered_bit(VM->offered_protocol);
	CU_ASSERT_FATAL(b >= 0);
	r = fm_expect_refused(VM, FM_REQ_SET_PROTOCOL_FEATURES,
			&(uint64_t){ VM->protocol | FM_BIT(b) }, 8, 8, NULL, 0);
	fe_case_done("SET_PROTOCOL_FEATURES with a feature not offered", r);

	/* Only VHOST_F_LOG_ALL may change once the device runs (DPDK
	 * refuses the rest too). */
	CU_ASSERT_FATAL(fe_victim_open(FE_RUNNING));
	r = fm_expect_refused(VM, FM_REQ_SET_FEATURES,
			&(uint64_t){ VM->features ^
			FM_BIT(VIRTIO_NET_F_MRG_RXBUF) }, 8, 8, NULL, 0);
	if (r == FM_NACK && !fe_traffic_ok(&fe_victim))
		CU_FAIL("device broken after a refused feature change");
	fe_case_done("SET_FEATURES changing MRG_RXBUF while running", r);
}

static void
test_mtu_invalid(void)
{
	static const uint64_t mtus[] = { 0, 10, 67, 65536, 1ull << 40 };
	size_t i;

	for (i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		char name[64];
		int r;

		snprintf(name, sizeof(name), "NET_SET_MTU %llu",
				(unsigned long long)mtus[i]);
		CU_ASSERT_FATAL(fe_victim_open(FE_NEGOTIATED));
		r = fm_expect_refused(VM, FM_REQ_NET_SET_MTU, &mtus[i], 8, 8,
				NULL, 0);
		fe_case_done(name, r);
	}
}

/* --- file descriptors --- */

static void
test_fd_count_mismatch(void)
{
	static const struct {
		const char *name;
		uint32_t request;
		uint64_t u64;          /* payload for file requests */
		bool state;            /* payload is a vring state instead */
		int nfds;
	} cases[] = {
		{ "SET_OWNER with an fd", FM_REQ_SET_OWNER, 0, false, 1 },
		{ "SET_VRING_KICK without fd nor NOFD", FM_REQ_SET_VRING_KICK,
			0, false, 0 },
		{ "SET_VRING_CALL with 2 fds", FM_REQ_SET_VRING_CALL, 0, false,
			2 },
		{ "SET_VRING_KICK with NOFD and an fd", FM_REQ_SET_VRING_KICK,
			FM_VRING_NOFD, false, 1 },
		{ "SET_VRING_ENABLE with an fd", FM_REQ_SET_VRING_ENABLE, 0,
			true, 1 },
		{ "SET_VRING_NUM with 8 fds", FM_REQ_SET_VRING_NUM, 0, true,
			8 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vhost_vring_state st = { 0, 1 };
		int fds[FM_MAX_FDS], k, r;
		uint32_t size;
		const void *p;

		CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
		for (k = 0; k < cases[i].nfds; k++)
			fds[k] = eventfd(0, EFD_CLOEXEC);
		if (cases[i].request == FM_REQ_SET_VRING_NUM)
			st.num = 256;
		if (cases[i].request == FM_REQ_SET_OWNER) {
			p = NULL;
			size = 0;
		} else if (cases[i].state) {
			p = &st;
			size = sizeof(st);
		} else {
			p = &cases[i].u64;
			size = 8;
		}
		r = fm_expect_refused(VM, cases[i].request, p, size, size,
				fds, cases[i].nfds);
		for (k = 0; k < cases[i].nfds; k++)
			close(fds[k]);
		fe_case_done(cases[i].name, r);
	}
}

/*
 * Every request id, sent with an fd it does not expect (and a zero u64
 * payload) on a running device. Whatever the backend answers, the fd must
 * not stay open in it.
 */
static void
test_unexpected_fd_not_leaked(void)
{
	uint32_t req;

	for (req = 1; req <= 40; req++) {
		static struct fm_msg msg;
		uint64_t zero = 0;
		char name[64];
		int fd, r;

		/* Inflight and postcopy requests: see fuzz_skipped(). */
		if (req >= 28 && req <= 32)
			continue;
		snprintf(name, sizeof(name), "request %u with an extra fd",
				req);
		CU_ASSERT_FATAL(fe_victim_open(FE_RUNNING));
		fd = eventfd(0, EFD_CLOEXEC);
		r = fm_send(VM->sock, req, FM_FLAG_VERSION | FM_FLAG_NEED_REPLY,
				sizeof(zero), &zero, sizeof(zero), &fd, 1);
		close(fd);
		if (r == 0 && fm_recv(VM->sock, &msg, 300) > 0)
			fm_msg_close_fds(&msg);
		fe_dev_close(&fe_victim, true);
		fe_check_case_fds(name);
	}
	CU_ASSERT(fe_witness_ok("extra fds"));
}

/* --- framing --- */

/* Debian's DPDK 22.11 fails: it ignores the version bits. */
static void
test_bad_version(void)
{
	static const uint32_t flags[] = { 0, 2, 3 };
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct vhost_vring_state st = { 0, 256 };
		static struct fm_msg msg;
		char name[64];
		int r;

		snprintf(name, sizeof(name), "SET_VRING_NUM with version %u",
				flags[i]);
		CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
		r = fm_send(VM->sock, FM_REQ_SET_VRING_NUM,
				flags[i] | FM_FLAG_NEED_REPLY, sizeof(st), &st,
				sizeof(st), NULL, 0);
		CU_ASSERT_FATAL(r == 0);
		r = fm_recv(VM->sock, &msg, FM_REPLY_TIMEOUT_MS);
		if (r == 0) {
			r = FM_CLOSED;
		} else if (r == 1) {
			uint64_t v = 0;

			fm_msg_close_fds(&msg);
			memcpy(&v, msg.payload, sizeof(v));
			r = msg.size == 8 && v != 0 ? FM_NACK : FM_OK;
		} else {
			r = FM_TIMEOUT;
		}
		fe_case_done(name, r);
	}
}

/* A header announcing more payload than any request has: closed. */
static void
test_oversized_message(void)
{
	static uint8_t junk[256];
	int r;

	CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
	memset(junk, 0x5a, sizeof(junk));
	r = fm_expect_refused(VM, FM_REQ_SET_VRING_NUM, junk, 1u << 20,
			sizeof(junk), NULL, 0);
	fe_case_done("SET_VRING_NUM announcing 1 MiB", r);
	/* The target backend still makes devices. */
	CU_ASSERT_FATAL(fe_victim_open(FE_RUNNING));
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	fe_dev_close(&fe_victim, true);
}

/* Half a header, then the frontend goes away. */
static void
test_truncated_header(void)
{
	static const uint8_t half[6] = { 8, 0, 0, 0, 1, 0 };

	CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
	CU_ASSERT(fm_send_bytes(VM->sock, half, sizeof(half), NULL, 0) == 0);
	/* The library holds the half header when the frontend goes. */
	CU_ASSERT(fm_wait_peer_read(VM->sock, FE_EVENT_MS));
	fe_dev_close(&fe_victim, false);
	fe_check_case_fds("truncated header");
	CU_ASSERT(fe_witness_ok("truncated header"));
	CU_ASSERT_FATAL(fe_victim_open(FE_RUNNING));
	CU_ASSERT(fe_traffic_ok(&fe_victim));
}

/*
 * A header whose payload never comes: that connection may wait, but other
 * devices must not (their control plane keeps answering).
 * Debian's DPDK 22.11 fails: it reads the payload with a blocking read()
 * in its single vhost-events thread, so every socket's messages wait
 * until this frontend sends more or closes.
 */
static void
test_payload_never_arrives(void)
{
	uint32_t hdr[3] = { FM_REQ_SET_VRING_ADDR,
		FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, 40 };
	uint64_t f;
	int r;

	CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
	CU_ASSERT(fm_send_bytes(VM->sock, hdr, sizeof(hdr), NULL, 0) == 0);
	CU_ASSERT(fm_wait_peer_read(VM->sock, FE_EVENT_MS));
	/* Asked while the victim still holds its half message. */
	r = fm_get_u64(&fe_witness.m, FM_REQ_GET_FEATURES, &f);
	if (r != FM_OK)
		fe_fail("witness while a payload is pending: %s",
				fm_result_name(r));
	CU_ASSERT(r == FM_OK);
	fe_dev_close(&fe_victim, false);
	fe_check_case_fds("payload never arrives");
	if (r != FM_OK) {
		/* Its late reply would confuse the next request. */
		CU_ASSERT_FATAL(fe_witness_reopen());
	}
	CU_ASSERT(fe_witness_ok("payload never arrives"));
}

static CU_TestInfo message_tests[] = {
	{ "wrong_payload_size", test_wrong_payload_size },
	{ "ring_index_out_of_range", test_ring_index_out_of_range },
	{ "ring_index_out_of_range_with_fd",
		test_ring_index_out_of_range_with_fd },
	{ "vring_num_invalid", test_vring_num_invalid },
	{ "unknown_request", test_unknown_request },
	{ "features_invalid", test_features_invalid },
	{ "mtu_invalid", test_mtu_invalid },
	{ "fd_count_mismatch", test_fd_count_mismatch },
	{ "unexpected_fd_not_leaked", test_unexpected_fd_not_leaked },
	{ "bad_version", test_bad_version },
	{ "oversized_message", test_oversized_message },
	{ "truncated_header", test_truncated_header },
	{ "payload_never_arrives", test_payload_never_arrives },
	{ "no_fd_leak", fe_test_no_fd_leak },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "messages", NULL, NULL, fe_victim_setup, fe_victim_teardown,
		message_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fe_victim_main("malformed", suites, argc, argv);
}
