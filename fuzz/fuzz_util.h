/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_util.h - what the fuzz targets' checking code shares. */
#ifndef UFFDBOX_FUZZ_UTIL_H
#define UFFDBOX_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The checking code is not what is being fuzzed: keep engine
 * instrumentation (coverage, comparison tracing) out of it, which more than
 * doubles the executions per second. */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COV __attribute__((no_sanitize("coverage")))
#else
#define NO_COV
#endif

/* memcmp() == 0 without the call: under libFuzzer memcmp is intercepted
 * and hooked for the comparison-guided mutations, a cost for checks that
 * should always pass (and a source of junk for those mutations when a
 * block differs).  Word by word, so that ASan checks each word once rather
 * than each byte. */
NO_COV static inline bool fuzz_same(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	uint64_t acc = 0, u, v;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&u, x + i, 8);
		memcpy(&v, y + i, 8);
		acc |= u ^ v;
	}
	for (; i < n; i++)
		acc |= (uint64_t)(x[i] ^ y[i]);
	return acc == 0;
}

#endif /* UFFDBOX_FUZZ_UTIL_H */
