/* SPDX-License-Identifier: MIT */
/*
 * tests/test_runner.c - the runner's own behaviour: a case that times out
 * says what each of its threads was doing (tests/runner.c, on_timeout).
 */
#include "test.h"

/* A read of a registered page that nobody resolves: the thread sleeps in
 * the kernel's handle_userfault until the alarm.  Hidden: it must fail;
 * ctest's runner_timeout_names_blocked_thread checks how. */
TEST_CASE_FLAGS(runner_selftest_blocked_in_fault, TMEM_NONE, 0, TFLAG_HIDDEN | TFLAG_UFFD)
{
	t->mem = TMEM_ANON;
	t->umem = UFFDBOX_MEM_ANON;
	struct uffdbox_uffd *u = tfx_uffd(t, 0);
	struct uffdbox_region *r = tfx_region(t, u, 1, UFFDBOX_REG_MISSING);
	volatile char *p = uffdbox_region_addr(r);
	fprintf(stderr, "reading a page nobody serves\n");
	(void)p[0];
	test_fail(__FILE__, __LINE__, "the read returned: nothing should have resolved it");
}
