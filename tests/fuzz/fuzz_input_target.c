/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_input_target.c - a target with one bug per first byte,
 * fed through uffdbox_fuzz_input(), for the tests of the one-line harness:
 *
 *   'O'  reads the byte just past the input (an over-read by one)
 *   'U'  reads the byte just before the input (an under-read by one)
 *   'S'  a plain SIGSEGV (a store through a null pointer)
 *   'H'  a one-byte heap overflow (an ASan report in ASan builds)
 *   'T'  never returns (a libFuzzer timeout)
 *   else sums the bytes, and checks the copy equals the input
 *
 * FUZZ_INPUT_ONLY=LETTERS enables only those bugs (a campaign test looks
 * for one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox/fuzz.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *orig = data;
	data = uffdbox_fuzz_input(data, size);
	volatile uint8_t sink = 0;
	static const char *only;
	if (!only)
		only = getenv("FUZZ_INPUT_ONLY") ? getenv("FUZZ_INPUT_ONLY") : "OUSHT";
	if (size == 0)
		return 0;
	switch (strchr(only, data[0]) ? data[0] : 0) {
	case 'O':
		sink = data[size];
		break;
	case 'U':
		sink = *(data - 1);
		break;
	case 'S': {
		volatile int *volatile p = NULL;
		*p = 1;
		break;
	}
	case 'H': {
		char *volatile h = malloc(size);
		memcpy(h, data, size);
		sink = (uint8_t)h[size];
		free(h);
		break;
	}
	case 'T':
		for (;;)
			sink = (uint8_t)(sink + 1);
	default:
		if (memcmp(data, orig, size) != 0)
			abort(); /* the copy must be the input */
		for (size_t i = 0; i < size; i++)
			sink = (uint8_t)(sink + data[i]);
	}
	(void)sink;
	return 0;
}
