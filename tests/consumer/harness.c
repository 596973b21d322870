/* SPDX-License-Identifier: MIT */
/*
 * tests/consumer/harness.c - an out-of-tree consumer's harness: a parser
 * that over-reads its input by one byte when it starts with 'O', fed
 * through uffdbox_fuzz_input().  Built against an installed uffdbox by
 * pkg-config (shared, static) and find_package (tests/consumer/CMakeLists.txt).
 */
#include <stddef.h>
#include <stdint.h>

#include <uffdbox/fuzz.h>

static unsigned parse(const uint8_t *p, size_t n)
{
	unsigned sum = 0;
	size_t end = n && p[0] == 'O' ? n + 1 : n; /* the bug */
	for (size_t i = 0; i < end; i++)
		sum += p[i];
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	data = uffdbox_fuzz_input(data, size);
	volatile unsigned s = parse(data, size);
	(void)s;
	return 0;
}
