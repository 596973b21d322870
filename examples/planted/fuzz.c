/* SPDX-License-Identifier: MIT */
/*
 * examples/planted/fuzz.c - fuzz the planted-bug target through uffdbox.
 *
 * One source, three builds: libFuzzer (-fsanitize=fuzzer), AFL++
 * (afl-clang-fast -fsanitize=fuzzer, persistent mode), and plain replay of
 * files (main() below, for ctest).  Every execution:
 *   - the message is injected into region "input", right-aligned so that a
 *     read past its end hits the guard page after it (bug 1);
 *   - the target's cache is a region of its own; releasing it puts it in
 *     quarantine, so a later read is a use-after-unmap (bug 2);
 *   - the first touch of the work area "out" runs a callback that plays the
 *     other party: it rewrites the shared header's length between the
 *     target's two fetches (bug 3), and "out" ends at its guard page.
 * No sanitizer is needed to find any of them: the guard pages and the
 * quarantine report them.
 *
 * PLANTED_SKIP=oob,uau,fetch drops inputs that reach those bugs (a stand-in
 * for fixing them), so a campaign goes on to the next one; UFFDBOX_LOG=FILE
 * writes the event log of the crashing input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox.h>

#include "target.h"

#define INPUT_PAGES 4

static struct uffdbox_sandbox *sb;
static int r_input, r_cache = -1, r_shared, r_out;
static const uint8_t *cur;
static size_t cur_len, input_len;
static bool skip_oob, skip_uau, skip_fetch;

/* Page k of the input region: the message right-aligned in it. */
static int fill_input(void *arg, int region, uint64_t page, void *dst, size_t len)
{
	(void)arg;
	(void)region;
	size_t total = INPUT_PAGES * len, start = total - cur_len;
	size_t lo = (size_t)page * len, hi = lo + len;
	if (hi <= start)
		return 0;
	size_t from = lo > start ? lo : start;
	memcpy((char *)dst + (from - lo), cur + (from - start), hi - from);
	return 0;
}

static int fill_shared(void *arg, int region, uint64_t page, void *dst, size_t len)
{
	(void)arg;
	(void)region;
	(void)page;
	struct planted_shared *h = dst;
	memset(h->data, 'x', len - sizeof(h->len));
	h->len = 16;
	return 0;
}

/* The other party: it writes the shared header at the moment the target
 * first touches its work area - between the two fetches. */
static int fill_out(void *arg, int region, uint64_t page, void *dst, size_t len)
{
	(void)arg;
	(void)region;
	(void)page;
	(void)dst;
	(void)len;
	struct planted_shared *h = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_shared));
	h->len = cur_len ? (uint32_t)cur[cur_len - 1] * 4 : 16;
	return 0;
}

static void release_cache(struct planted_ctx *c)
{
	(void)c;
	uffdbox_sandbox_unmap_region(sb, r_cache);
	r_cache = -1; /* a fresh cache for the next input */
}

static int add(const char *name, size_t pages, uffdbox_fill_fn fill)
{
	struct uffdbox_policy p = {.sz = sizeof(p),
				   .source = fill ? UFFDBOX_SOURCE_CALLBACK : UFFDBOX_SOURCE_ZERO,
				   .fill = fill};
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = pages, .name = name};
	int ri = uffdbox_sandbox_add_region(sb, &ro, &p);
	if (ri < 0) {
		fprintf(stderr, "planted: region %s: %s\n", name, uffdbox_strerror(ri));
		abort();
	}
	return ri;
}

/* On the first input, not at initialization: AFL++'s fork server forks
 * after init, and a sandbox belongs to the process that faults. */
static void setup(void)
{
	static char why[1024];
	const char *skip = getenv("PLANTED_SKIP");
	skip_oob = skip && strstr(skip, "oob");
	skip_uau = skip && strstr(skip, "uau");
	skip_fetch = skip && strstr(skip, "fetch");
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = UFFDBOX_TRANSPORT_SYNC,
					 .report_guard_hits = true,
					 .report_log = getenv("UFFDBOX_LOG"),
					 .errbuf = why,
					 .errbuf_len = sizeof(why)};
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc < 0) {
		/* the code's text, then the cause and the fix found here */
		fprintf(stderr, "planted: sandbox: %s%s%s\n", uffdbox_strerror(rc),
			why[0] ? ": " : "", why);
		abort();
	}
	r_input = add("input", INPUT_PAGES, fill_input);
	r_shared = add("shared", 1, fill_shared);
	r_out = add("out", 1, fill_out);
}

static bool reaches_skipped(const uint8_t *d, size_t n)
{
	bool released = false;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == 'O' && skip_oob)
			return true;
		if (d[i] == 'C')
			released = true;
		if (d[i] == 'R' && released && skip_uau)
			return true;
		if (d[i] == 'D' && skip_fetch)
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!sb)
		setup();
	if (size > INPUT_PAGES * 4096 || reaches_skipped(data, size))
		return 0;
	cur = data;
	cur_len = size;
	input_len = size;
	uffdbox_sandbox_log_reset(sb);
	uffdbox_sandbox_reset_region(sb, r_input, false);
	uffdbox_sandbox_reset_region(sb, r_shared, false);
	uffdbox_sandbox_reset_region(sb, r_out, false);
	if (r_cache < 0)
		r_cache = add("cache", 1, NULL);

	char *in = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_input));
	char *cache = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_cache));
	char *out = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_out));
	struct planted_ctx c = {
		.cache = cache,
		.cache_ptr = cache,
		.release_cache = release_cache,
		.shared = uffdbox_region_addr(uffdbox_sandbox_region(sb, r_shared)),
		/* the work area ends where the guard page begins */
		.out = (struct planted_out *)(out + 4096 - sizeof(struct planted_out)),
	};
	volatile unsigned int acc =
		planted_process(&c, (const unsigned char *)in + INPUT_PAGES * 4096 - size, size);
	(void)acc;
	return 0;
}

#ifndef UFFDBOX_FUZZING_ENGINE
/* Plain build: run each file given (as a fuzzer would replay a crash). */
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		static uint8_t buf[INPUT_PAGES * 4096];
		if (!f) {
			perror(argv[i]);
			return 2;
		}
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		uint8_t *exact = malloc(n ? n : 1);
		memcpy(exact, buf, n);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
		printf("%s: no crash\n", argv[i]);
	}
	return 0;
}
#endif
