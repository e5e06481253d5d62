/* SPDX-License-Identifier: BSD-3-Clause */
/* Victim, witness and per-case checks: see fe_victim.h. */
#include "fe_victim.h"

#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_memfd.h"

struct fe_backend *fe_target;
struct fe_dev fe_victim;
struct fe_dev fe_witness;

static struct fe_backend *witness_backend;
/* fd count with only the witness connected. */
static int run_base = -1;
/* fds before the current case: a leak is blamed on the case that made it. */
static int case_base = -1;
static struct fe_fdset case_fds;

static void
victim_config(struct fm_config *cfg)
{
	fm_config_default(cfg);
	/* LOG_SHMFD so that SET_LOG_BASE is a legal request. */
	cfg->protocol |= FM_BIT(FM_PF_LOG_SHMFD);
}

static bool
witness_open(void)
{
	struct fm_config cfg;

	fm_config_default(&cfg);
	/* Room for many traffic checks. */
	cfg.regions[0].size = 16u << 20;
	memset(&fe_witness, 0, sizeof(fe_witness));
	return fe_dev_open(&fe_witness, witness_backend, &cfg) == 0;
}

bool
fe_witness_reopen(void)
{
	fe_dev_close(&fe_witness, true);
	return witness_open();
}

bool
fe_witness_ok(const char *after)
{
	uint64_t f = 0;
	int r = fm_get_u64(&fe_witness.m, FM_REQ_GET_FEATURES, &f);
	bool ok = r == FM_OK;

	if (!ok)
		fe_fail("%s: witness control plane: %s", after,
				fm_result_name(r));
	if (ok && !fe_traffic_ok(&fe_witness))
		ok = fe_fail("%s: witness traffic failed", after);
	/* A stale reply could be in flight, or memory is running out. */
	if ((!ok || fe_witness.m.mem.r[0].used > (12u << 20)) &&
			!fe_witness_reopen())
		fe_fail("witness cannot reconnect");
	return ok;
}

void
fe_case_begin(void)
{
	case_base = test_count_fds();
	fe_fd_snapshot(&case_fds);
}

bool
fe_victim_connect(enum fe_level lvl)
{
	struct fe_dev *v = &fe_victim;
	struct fm_config cfg;
	int i;

	victim_config(&cfg);
	memset(v, 0, sizeof(*v));
	v->b = fe_target;
	v->vid = -1;
	if (lvl == FE_RUNNING)
		return fe_dev_open(v, fe_target, &cfg) == 0;
	if (fm_frontend_connect(&v->m, fe_target->path) < 0)
		return fe_fail("victim cannot connect");
	if (fm_negotiate(&v->m, cfg.features, cfg.protocol) != FM_OK)
		return fe_fail("victim negotiation failed");
	for (i = 0; i < cfg.nregions; i++)
		if (fm_mem_add_region(&v->m.mem, cfg.regions[i].gpa,
				cfg.regions[i].size,
				cfg.regions[i].mmap_offset) < 0)
			return fe_fail("no memory");
	/* Rings laid out (not announced) so requests can point at them. */
	for (i = 0; i < 2; i++)
		if (fm_vring_init(&v->m.vr[i], &v->m.mem, 0, 256) < 0)
			return fe_fail("no ring");
	v->m.nvrings = 2;
	if (lvl == FE_MEMORY && fm_set_mem_table(&v->m, &v->m.mem) != FM_OK)
		return fe_fail("victim memory table refused");
	return true;
}

bool
fe_victim_open(enum fe_level lvl)
{
	fe_case_begin();
	return fe_victim_connect(lvl);
}

bool
fe_victim_recovers(const char *name, bool need_table)
{
	struct fe_dev *v = &fe_victim;
	int before = atomic_load(&fe_target->ev.new_device);
	int i, r;

	if (need_table && (r = fm_set_mem_table(&v->m, &v->m.mem)) != FM_OK)
		return fe_fail("%s: valid table then: %s", name,
				fm_result_name(r));
	for (i = 0; i < 2; i++) {
		r = fm_setup_vring(&v->m, (uint32_t)i, 256, 0);
		if (r == FM_OK)
			r = fm_set_state(&v->m, FM_REQ_SET_VRING_ENABLE,
					(uint32_t)i, 1);
		if (r != FM_OK)
			return fe_fail("%s: valid ring %d then: %s", name, i,
					fm_result_name(r));
	}
	if (!fe_wait_at_least(&fe_target->ev.new_device, before + 1, FE_EVENT_MS))
		return fe_fail("%s: no new_device after valid setup", name);
	v->vid = atomic_load(&fe_target->ev.vid);
	if (!fe_traffic_ok(v))
		return fe_fail("%s: no traffic after valid setup", name);
	return true;
}

void
fe_check_case_fds(const char *name)
{
	int n = fe_wait_fd_count(case_base, FE_EVENT_MS);

	if (n > case_base) {
		fe_fail("%s: %d fds leaked:", name, n - case_base);
		fe_fd_print_new(&case_fds);
	}
	CU_ASSERT(n <= case_base);
}

void
fe_case_done(const char *name, int r)
{
	bool refused = r == FM_NACK || r == FM_CLOSED;

	if (!refused)
		fe_fail("%s: not refused (%s)", name, fm_result_name(r));
	CU_ASSERT(refused);
	if (r == FM_NACK) {
		uint64_t f;
		int r2 = fm_get_u64(&fe_victim.m, FM_REQ_GET_FEATURES, &f);

		if (r2 != FM_OK)
			fe_fail("%s: connection unusable after the error "
					"reply (%s)", name, fm_result_name(r2));
		CU_ASSERT(r2 == FM_OK);
	}
	fe_dev_close(&fe_victim, true);
	fe_check_case_fds(name);
	CU_ASSERT(fe_witness_ok(name));
}

int
fe_make_fd(enum fe_fd_kind k)
{
	if (k == FE_FD_EVENT)
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return test_memfd("fe-log", 4096, 0);
}

void
fe_victim_setup(void)
{
	memset(&fe_victim, 0, sizeof(fe_victim));
	fm_frontend_attach(&fe_victim.m, -1);
	fe_victim.vid = -1;
}

void
fe_victim_teardown(void)
{
	fe_dev_close(&fe_victim, true);
}

void
fe_test_no_fd_leak(void)
{
	int n = fe_wait_fd_count(run_base, FE_EVENT_MS);

	if (n > run_base)
		fe_fail("%d fds more than at start", n - run_base);
	CU_ASSERT(n <= run_base);
	CU_ASSERT(fe_witness_ok("end"));
}

int
fe_victim_main(const char *name, CU_SuiteInfo *suites, int argc,
		char **argv)
{
	int ret = 2;

	if (fe_init(name) != 0)
		return 2;
	fe_target = fe_backend_start("target", 0);
	witness_backend = fe_backend_start("witness", 0);
	if (fe_target != NULL && witness_backend != NULL && witness_open()) {
		/* Every fd of the witness's device came with a message
		 * acknowledged before new_device, which witness_open waited
		 * for: counting now is exact. */
		run_base = test_count_fds();
		ret = fe_run(suites, argc, argv);
		fe_dev_close(&fe_witness, true);
	}
	fe_fini();
	return ret;
}
