/* SPDX-License-Identifier: MIT */
/*
 * tests/test_fuzz_input.c - uffdbox_fuzz_input(): the copy is the input, its
 * end is the guard, bytes before it are zero whatever came before, the
 * region grows, and a child forked after the first input gets a sandbox of
 * its own (AFL++'s fork server).
 */
#include <signal.h>
#include <unistd.h>

#include <uffdbox/fuzz.h>

#include "test.h"

static uint8_t input[300000];

static void fill(size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		input[i] = (uint8_t)(seed + i * 7 + 1) | 1; /* never zero */
}

/* The copy of @n bytes: equal to the input, ends at a page end (the guard
 * after it), and the @before bytes before it (within the region) are zero. */
static const uint8_t *check(size_t n, uint8_t seed, size_t before)
{
	fill(n, seed);
	const uint8_t *p = uffdbox_fuzz_input(input, n);
	ASSERT_NOT_NULL(p);
	for (size_t i = 0; i < n; i++)
		if (p[i] != input[i])
			test_fail(__FILE__, __LINE__,
				  "byte %zu of a %zu-byte input: 0x%x, not 0x%x", i, n, p[i],
				  input[i]);
	ASSERT_EQ(((uintptr_t)(p + n)) % 4096, 0);
	for (size_t i = 1; i <= before; i++)
		if (p[-(ptrdiff_t)i] != 0)
			test_fail(__FILE__, __LINE__, "byte %zu before a %zu-byte input is 0x%x", i,
				  n, p[-(ptrdiff_t)i]);
	return p;
}

TEST_CASE(fuzz_input_copies, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	static const size_t sizes[] = {0, 1, 100, 5000, 3, 4096, 4097, 70000, 10, 200000, 1};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		/* a larger input just before: its bytes must be gone */
		check(sizes[k], (uint8_t)k, 8192);
	/* same size, new bytes: every byte replaced */
	check(100, 1, 100);
	check(100, 2, 100);
}

static void over_read_in_child(void *arg)
{
	(void)arg;
	fill(50, 9);
	const volatile uint8_t *p = uffdbox_fuzz_input(input, 50);
	/* In events mode the bytes arrive by faults: only a sandbox of this
	 * process can serve them (the parent's registration did not follow
	 * the fork; its pages would be dropped and read back as zeros). */
	if (memcmp((const void *)p, input, 50) != 0)
		_exit(5);
	(void)p[50];
}

/* Calls no engine makes end with their reason, never hang: a size of -1
 * (a failed read() passed on) once doubled the region's page count until
 * it wrapped, for ever. */
static void call_with(void *arg)
{
	const size_t *sz = arg;
	uffdbox_fuzz_input(sz[0] ? input : NULL, sz[1]);
	_exit(0);
}

TEST_CASE(fuzz_input_refuses_impossible_calls, TMEM_NONE, 0)
{
	static const struct {
		size_t data, size;
		const char *said;
	} cases[] = {
		{1, SIZE_MAX, "an input of 18446744073709551615 bytes, more than the 1073741824"},
		{1, (size_t)1 << 40, "an input of 1099511627776 bytes, more than the"},
		{0, 5, "data is NULL with size 5"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char err[4096];
		size_t arg[2] = {cases[k].data, cases[k].size};
		int st = tfx_run_child(call_with, arg, err, sizeof(err));
		ASSERT(TEST_DIED_OF(st, SIGABRT));
		ASSERT_CONTAINS(err, cases[k].said);
	}
}

TEST_CASE(fuzz_input_after_fork, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	/* Events mode (a fault per page): see over_read_in_child(). */
	setenv("UFFDBOX_FUZZ_EVENTS", "1", 1);
	/* The sandbox is made here, in the parent... */
	check(10, 1, 100);
	/* ...and a forked child (as AFL++'s fork server makes them) gets its
	 * own: its inputs are copied and its over-read is a guard hit. */
	char err[8192];
	int st = tfx_run_child(over_read_in_child, NULL, err, sizeof(err));
	ASSERT(TEST_DIED_OF(st, SIGSEGV));
	ASSERT_CONTAINS(err, "1 bytes past the end of region \"fuzz-input\"");
	/* the parent's still works */
	check(20, 2, 100);
}
