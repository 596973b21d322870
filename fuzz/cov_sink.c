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

SINK void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end);
SINK void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *end)
{
	(void)start, (void)end;
}

SINK void __sanitizer_cov_pcs_init(const uintptr_t *start, const uintptr_t *end);
SINK void __sanitizer_cov_pcs_init(const uintptr_t *start, const uintptr_t *end)
{
	(void)start, (void)end;
}

#define CMP(name, type)                 \
	SINK void name(type a, type b); \
	SINK void name(type a, type b)  \
	{                               \
		(void)a, (void)b;       \
	}

CMP(__sanitizer_cov_trace_cmp1, uint8_t)
CMP(__sanitizer_cov_trace_cmp2, uint16_t)
CMP(__sanitizer_cov_trace_cmp4, uint32_t)
CMP(__sanitizer_cov_trace_cmp8, uint64_t)
CMP(__sanitizer_cov_trace_const_cmp1, uint8_t)
CMP(__sanitizer_cov_trace_const_cmp2, uint16_t)
CMP(__sanitizer_cov_trace_const_cmp4, uint32_t)
CMP(__sanitizer_cov_trace_const_cmp8, uint64_t)

SINK void __sanitizer_cov_trace_switch(uint64_t val, uint64_t *cases);
SINK void __sanitizer_cov_trace_switch(uint64_t val, uint64_t *cases)
{
	(void)val, (void)cases;
}

SINK void __sanitizer_cov_trace_div4(uint32_t val);
SINK void __sanitizer_cov_trace_div4(uint32_t val)
{
	(void)val;
}

SINK void __sanitizer_cov_trace_div8(uint64_t val);
SINK void __sanitizer_cov_trace_div8(uint64_t val)
{
	(void)val;
}

SINK void __sanitizer_cov_trace_pc_indir(uintptr_t callee);
SINK void __sanitizer_cov_trace_pc_indir(uintptr_t callee)
{
	(void)callee;
}

SINK void __sanitizer_cov_trace_gep(uintptr_t idx);
SINK void __sanitizer_cov_trace_gep(uintptr_t idx)
{
	(void)idx;
}
