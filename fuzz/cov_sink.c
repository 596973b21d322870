/* SPDX-License-Identifier: MIT */
/*
 * fuzz/cov_sink.c - weak, empty coverage callbacks for a libFuzzer build
 * without a sanitizer (preset fuzz-nosan).  -fsanitize=fuzzer-no-link makes
 * every object call these; a sanitizer runtime or libFuzzer defines them,
 * but the tests, examples and `uffdbox run` of a no-sanitizer build link
 * neither, and would not link at all.  Linked into everything there: in the
 * fuzz executables libFuzzer's strong definitions win; elsewhere coverage
 * goes nowhere, which is all those programs need.  Compiled without the
 * instrumentation (a callback must not call itself).
 */
#include <stdint.h>

#define SINK __attribute__((weak, visibility("default")))

SINK __thread uintptr_t __sancov_lowest_stack;

/* An empty weak callback of one or two arguments, with its prototype. */
#define SINK1(name, t)       \
	SINK void name(t a); \
	SINK void name(t a)  \
	{                    \
		(void)a;     \
	}
#define SINK2(name, t, u)         \
	SINK void name(t a, u b); \
	SINK void name(t a, u b)  \
	{                         \
		(void)a, (void)b; \
	}

SINK2(__sanitizer_cov_8bit_counters_init, uint8_t *, uint8_t *)
SINK2(__sanitizer_cov_pcs_init, const uintptr_t *, const uintptr_t *)
SINK2(__sanitizer_cov_trace_cmp1, uint8_t, uint8_t)
SINK2(__sanitizer_cov_trace_cmp2, uint16_t, uint16_t)
SINK2(__sanitizer_cov_trace_cmp4, uint32_t, uint32_t)
SINK2(__sanitizer_cov_trace_cmp8, uint64_t, uint64_t)
SINK2(__sanitizer_cov_trace_const_cmp1, uint8_t, uint8_t)
SINK2(__sanitizer_cov_trace_const_cmp2, uint16_t, uint16_t)
SINK2(__sanitizer_cov_trace_const_cmp4, uint32_t, uint32_t)
SINK2(__sanitizer_cov_trace_const_cmp8, uint64_t, uint64_t)
SINK2(__sanitizer_cov_trace_switch, uint64_t, uint64_t *)
SINK1(__sanitizer_cov_trace_div4, uint32_t)
SINK1(__sanitizer_cov_trace_div8, uint64_t)
SINK1(__sanitizer_cov_trace_pc_indir, uintptr_t)
SINK1(__sanitizer_cov_trace_gep, uintptr_t)
