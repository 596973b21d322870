/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_util.h - what the fuzz targets' checking code shares. */
#ifndef UFFDBOX_FUZZ_UTIL_H
#define UFFDBOX_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The checking code is not what is being fuzzed: keep engine
 * instrumentation (coverage, comparison tracing) out of it, which more than
 * doubles the executions per second. */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COV __attribute__((no_sanitize("coverage")))
#else
#define NO_COV
#endif

/*
 * FUZZ_CHECK(c) - a property the target asserts: when it does not hold, say
 * which, where and (FUZZ_OP, if the target defines it) at which step of the
 * input, then abort(): libFuzzer and AFL++ save the input, the replay
 * driver dies loudly.  A target defines FUZZ_NAME before including this.
 */
#ifndef FUZZ_OP
#define FUZZ_OP (-1L)
#endif
#define FUZZ_CHECK(c)                                               \
	do {                                                        \
		if (!(c))                                           \
			fuzz_fail(#c, __FILE__, __LINE__, FUZZ_OP); \
	} while (0)

NO_COV __attribute__((noreturn, cold)) static inline void
fuzz_fail(const char *cond, const char *file, int line, long op)
{
	if (op >= 0)
		fprintf(stderr, "%s: check failed: %s (%s:%d, op %ld)\n", FUZZ_NAME, cond, file,
			line, op);
	else
		fprintf(stderr, "%s: check failed: %s (%s:%d)\n", FUZZ_NAME, cond, file, line);
	abort();
}

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
