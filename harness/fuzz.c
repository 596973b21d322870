/* SPDX-License-Identifier: MIT */
/*
 * harness/fuzz.c - uffdbox_fuzz_input(): one call that puts a fuzz input
 * against a guard page, and the crash evidence (UFFDBOX_LOG) around it.
 *
 * The fast path makes no syscall: the region's pages are mapped once (a
 * fault each, on the first input) and stay mapped and writable; each input
 * is copied against the guard and only the bytes the previous input used
 * beyond the new one are zeroed.  A target never sees another input's bytes
 * and never a fault, so the cost per input is a memcpy and a memset of the
 * difference.  With UFFDBOX_FUZZ_EVENTS=1 the region is dropped per input
 * instead and every page the target touches is a logged fault.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffdbox/fuzz.h"
#include "uffdbox/persist.h"
#include "hash.h"
#include "sandbox_int.h"
#include "internal.h"

#define FUZZ_MIN_PAGES	 16	    /* 64 KiB: libFuzzer's inputs rarely grow past it */
#define FUZZ_PERSIST_CAP (1u << 20) /* AFL++'s largest test case (MAX_FILE) */
#define FUZZ_MAX_INPUT	 (1u << 30) /* as UFFDBOX_FUZZ_MAX_LEN: no engine passes more */

static struct {
	struct uffdbox_sandbox *sb;
	int region;
	uint8_t *base; /* the region's body */
	size_t cap;    /* its bytes */
	bool left;     /* UFFDBOX_FUZZ_ALIGN=left */
	bool events;   /* UFFDBOX_FUZZ_EVENTS=1 */
	/* Bytes of the body the previous input may have left non-zero:
	 * [lo, cap) when right-aligned, [0, hi) when left-aligned. */
	size_t lo, hi;
	/* The input being run (events mode fills pages from it; evidence
	 * hashes it). */
	const uint8_t *cur;
	size_t cur_len, cur_off;
	bool running;
	char log_path[256];
	struct timespec started; /* of the current input (timeouts), coarse */
	unsigned int timeout_s;	 /* libFuzzer's -timeout, 0 if none */
	int persist;		 /* UFFDBOX_PERSIST=1: -1 not read yet */
	bool persist_ready;	 /* sandbox made and kept out of the snapshot */
} F = {.persist = -1};

/* Set in a child forked after the sandbox was made: its uffd registration
 * did not follow it (no EVENT_FORK), so the child makes its own. */
static volatile sig_atomic_t forked;
static bool atfork_done, evidence_installed;

static void on_fork_child(void)
{
	forked = 1;
}

static _Noreturn void die(const char *what, int err)
{
	uffdbox__say(STDERR_FILENO, "uffdbox_fuzz_input: %s: %s\n", what, uffdbox_strerror(err));
	abort();
}

/* --- crash evidence ----------------------------------------------------- */

/*
 * Write the log of the input being run to UFFDBOX_LOG, ending with a
 * "crash" record (len: the input's size, digest: a hash of its bytes).
 * Called on the way to a crash, from signal handlers and sanitizer
 * callbacks: stdio there is what sanitizers themselves do at that point.
 */
static void write_evidence(const char *why)
{
	static atomic_int written;
	struct uffdbox_sandbox *sb = F.sb;

	if (!sb || !F.log_path[0] || atomic_exchange(&written, 1))
		return;
	uint64_t digest = F.running ? uffdbox__hash(F.cur, F.cur_len, 0) : 0;
	uint32_t thread = uffdbox__sb_thread_id(sb, (int32_t)syscall(SYS_gettid));
	uffdbox__sb_record(sb, UFFDBOX_EV_CRASH, F.region, 0, 0, F.running ? F.cur_len : 0,
			   UFFDBOX_ACCESS_NONE, thread, UFFDBOX_RES_ABORT, digest);
	/* (a failure is said by the writer, with its cause) */
	if (uffdbox__sb_write_report_log(sb) == 0)
		uffdbox__say(STDERR_FILENO, "uffdbox: %s: event log of the input written to %s\n",
			     why, F.log_path);
}

static const int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM};
static struct sigaction fatal_old[sizeof(fatal_sigs) / sizeof(fatal_sigs[0])];

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	size_t k = 0;

	while (fatal_sigs[k] != sig)
		k++;
	if (sig != SIGALRM) {
		write_evidence(strsignal(sig));
	} else if (F.running && F.timeout_s) {
		/* libFuzzer's alarm: it declares a timeout once the input
		 * has run -timeout seconds; write the log just before.  In
		 * whole seconds of the clock, generously: libFuzzer's clock
		 * started before ours (the first input's setup ran between). */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
		if (now.tv_sec - F.started.tv_sec >= (time_t)F.timeout_s)
			write_evidence("timeout");
	}
	uffdbox__chain_signal(&fatal_old[k], sig, si, uc);
	errno = saved;
}

/* Sanitizer hooks, weak: present only in a sanitizer build. */
extern void __asan_set_error_report_callback(void (*cb)(const char *)) __attribute__((weak));
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
/* libFuzzer's driver entry: present when libFuzzer is linked in (it owns
 * the death callback: setting ours would lose its crash file). */
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *, size_t))
	__attribute__((weak));

static void on_asan_report(const char *report)
{
	(void)report;
	write_evidence("sanitizer report");
}

static void on_death(void)
{
	write_evidence("sanitizer report");
}

/* libFuzzer's -timeout=N from the command line (default 1200 s), 0 when
 * libFuzzer is not in the process. */
static unsigned int libfuzzer_timeout(void)
{
	char buf[4096];
	unsigned int t = 1200;

	if (!LLVMFuzzerRunDriver)
		return 0;
	FILE *f = fopen("/proc/self/cmdline", "re");
	if (!f)
		return t;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (uffdbox__has_prefix(buf + i, "-timeout="))
			t = (unsigned int)strtoul(buf + i + 9, NULL, 10);
	return t;
}

static void install_evidence(void)
{
	for (size_t k = 0; k < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); k++) {
		struct sigaction sa = {.sa_sigaction = on_fatal,
				       .sa_flags = SA_SIGINFO | SA_NODEFER};
		sigemptyset(&sa.sa_mask);
		if (fatal_sigs[k] == SIGALRM && !F.timeout_s)
			continue;
		sigaction(fatal_sigs[k], &sa, &fatal_old[k]);
	}
	if (__asan_set_error_report_callback)
		__asan_set_error_report_callback(on_asan_report);
	if (__sanitizer_set_death_callback && !LLVMFuzzerRunDriver)
		__sanitizer_set_death_callback(on_death);
}

/* --- the sandbox and its region ----------------------------------------- */

/* Events mode: page @page of the region, the input placed as the fast path
 * would place it. */
static int fill_input(void *arg, int region, uint64_t page, void *dst, size_t len)
{
	(void)arg;
	(void)region;
	size_t lo = (size_t)page * len, hi = lo + len;
	size_t from = lo > F.cur_off ? lo : F.cur_off;
	size_t to = hi < F.cur_off + F.cur_len ? hi : F.cur_off + F.cur_len;
	if (from < to)
		memcpy((char *)dst + (from - lo), F.cur + (from - F.cur_off), to - from);
	return 0;
}

/* A region of at least @size bytes (the old one, if any, into quarantine);
 * in the fast path every page mapped now, once. */
static void make_region(size_t size)
{
	size_t psz = (size_t)sysconf(_SC_PAGESIZE), pages = FUZZ_MIN_PAGES;
	while (pages * psz < size)
		pages *= 2;
	if (F.base) {
		int rc = uffdbox_sandbox_unmap_region(F.sb, F.region);
		if (rc < 0)
			die("releasing the smaller input region", rc);
	}
	struct uffdbox_policy pol = {.sz = sizeof(pol),
				     .source = F.events ? UFFDBOX_SOURCE_CALLBACK
							: UFFDBOX_SOURCE_ZERO,
				     .fill = F.events ? fill_input : NULL};
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = pages, .name = "fuzz-input"};
	int ri = uffdbox_sandbox_add_region(F.sb, &ro, &pol);
	if (ri < 0)
		die("input region", ri);
	F.region = ri;
	F.base = uffdbox_region_addr(uffdbox_sandbox_region(F.sb, ri));
	F.cap = pages * psz;
	F.lo = F.cap;
	F.hi = 0;
	if (!F.events)
		memset(F.base, 0, F.cap); /* one fault a page, now, never again */
}

/*
 * The parent's sandbox, in a child forked after it was made.  Nothing of it
 * may be freed through its uffd: UFFDIO_UNREGISTER acts on the memory of the
 * process that opened the uffd, not the caller's, so freeing the regions
 * here would unregister them in the parent (whose next input would then read
 * zeros).  Only the signal handlers are taken back and this process's copy
 * of the descriptor closed; the rest (its memory here) is left as it is.
 */
static void forget_parent_sandbox(struct uffdbox_sandbox *sb)
{
	if (sb->guard_reports)
		uffdbox__guard_uninstall(sb);
	uffdbox__sync_uninstall(sb);
	close(uffdbox_uffd_fd(sb->u));
}

static void make_sandbox(void)
{
	const char *align = getenv("UFFDBOX_FUZZ_ALIGN");
	const char *events = getenv("UFFDBOX_FUZZ_EVENTS");
	const char *log = getenv("UFFDBOX_LOG");
	char errbuf[1024] = ""; /* a denied userfaultfd's cause and fixes: ~600 bytes */

	if (F.sb && forked)
		forget_parent_sandbox(F.sb);
	int persist = F.persist; /* read once per process image */
	memset(&F, 0, sizeof(F));
	F.persist = persist;
	forked = 0;
	bool left = align && uffdbox__has_prefix(align, "left") && !align[4];
	bool right = align && uffdbox__has_prefix(align, "right") && !align[5];
	if (align && !left && !right) {
		uffdbox__say(
			STDERR_FILENO,
			"uffdbox_fuzz_input: UFFDBOX_FUZZ_ALIGN=%s: expected right (over-reads, "
			"the default) or left (under-reads)\n",
			align);
		abort();
	}
	F.left = left;
	F.events = events && *events && !(events[0] == '0' && !events[1]);
	if (log && *log)
		snprintf(F.log_path, sizeof(F.log_path), "%s", log);
	F.timeout_s = libfuzzer_timeout();
	/* Before the sandbox's own handlers: theirs run first and pass on
	 * what is not a sandbox fault.  Once: a forked child inherits them. */
	if (!evidence_installed)
		install_evidence();
	evidence_installed = true;
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = UFFDBOX_TRANSPORT_SYNC,
					 .report_guard_hits = true,
					 .report_log = F.log_path[0] ? F.log_path : NULL,
					 .errbuf = errbuf,
					 .errbuf_len = sizeof(errbuf)};
	int rc = uffdbox_sandbox_new(&o, &F.sb);
	if (rc < 0) {
		uffdbox__say(STDERR_FILENO, "uffdbox_fuzz_input: sandbox: %s%s%s\n",
			     uffdbox_strerror(rc), errbuf[0] ? ": " : "", errbuf);
		abort();
	}
	if (!atfork_done) /* handlers are inherited: once per process image */
		pthread_atfork(NULL, NULL, on_fork_child);
	atfork_done = true;
}

/* Events mode: drop the pages, place the input; the target's accesses
 * fault them in from it. */
static const uint8_t *events_input(size_t size)
{
	F.cur_off = F.left ? 0 : F.cap - size;
	int rc = uffdbox_sandbox_reset_region(F.sb, F.region, false);
	if (rc < 0)
		die("reset", rc);
	return F.base + F.cur_off;
}

/*
 * Whole-target reset (UFFDBOX_PERSIST=1, docs/persist.md): the sandbox and
 * a region for the largest input are made before the snapshot is taken, and
 * kept out of it with this file's state, so that a restore never takes them
 * back (a region made after it would be unmapped by the next restore).
 */
static void persist_prepare(size_t size)
{
	if (uffdbox__persist_taken()) {
		uffdbox__say(STDERR_FILENO,
			     "uffdbox_fuzz_input: a whole-target snapshot was taken before the "
			     "first input was placed (the harness calls uffdbox_persist_auto() "
			     "itself?): with uffdbox/fuzz.h, UFFDBOX_PERSIST=1 alone turns the "
			     "reset on; remove the harness's own call (docs/persist.md)\n");
		abort();
	}
	size_t cap = FUZZ_PERSIST_CAP;
	const char *v = getenv("UFFDBOX_FUZZ_MAX_LEN");
	if (v && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 0);
		if (*end || !n || n > (1ULL << 30)) {
			uffdbox__say(STDERR_FILENO,
				     "uffdbox_fuzz_input: UFFDBOX_FUZZ_MAX_LEN=%s: expected the "
				     "largest input in bytes, 1 to 1 GiB\n",
				     v);
			abort();
		}
		cap = (size_t)n;
	}
	if (cap < size)
		cap = size;
	if (!F.sb || forked)
		make_sandbox();
	make_region(cap);
	void *base;
	size_t total;
	uffdbox__region_span(uffdbox_sandbox_region(F.sb, F.region), &base, &total);
	int rc = uffdbox_persist_keep(&F, sizeof(F));
	if (rc == 0)
		rc = uffdbox_persist_keep(base, total);
	if (rc < 0)
		die("keeping the input region out of the whole-target snapshot", rc);
	F.persist_ready = true;
}

/* A call no input can make: say which, and stop (a fuzz harness has no
 * caller to return an error to). */
static _Noreturn void bad_call(const uint8_t *data, size_t size)
{
	if (!data)
		uffdbox__say(STDERR_FILENO,
			     "uffdbox_fuzz_input: data is NULL with size %zu: pass the engine's "
			     "input buffer (NULL only with size 0)\n",
			     size);
	else
		uffdbox__say(STDERR_FILENO,
			     "uffdbox_fuzz_input: an input of %zu bytes, more than the %u that "
			     "uffdbox places (a size from a failed read(), -1?)\n",
			     size, FUZZ_MAX_INPUT);
	abort();
}

const uint8_t *uffdbox_fuzz_input(const uint8_t *data, size_t size)
{
	if (__builtin_expect(size > FUZZ_MAX_INPUT || (!data && size), 0))
		bad_call(data, size);
	if (__builtin_expect(F.persist != 0, 0)) {
		if (F.persist < 0) {
			const char *v = getenv("UFFDBOX_PERSIST");
			F.persist = v && v[0] == '1' && !v[1];
		}
		if (F.persist) {
			if (!F.persist_ready)
				persist_prepare(size);
			/* 1st: snapshot; later: restore */
			if (uffdbox_persist_auto() == 1 && uffdbox__persist_restores(data, size)) {
				uffdbox__say(STDERR_FILENO,
					     "uffdbox_fuzz_input: the input at %p is in memory the "
					     "whole-target reset puts back: every later input "
					     "would read this one's bytes; keep the engine's "
					     "buffer out of it with uffdbox_persist_keep(buf, "
					     "len) before the first input (docs/persist.md)\n",
					     (const void *)data);
				abort();
			}
			if (size > F.cap) {
				uffdbox__say(
					STDERR_FILENO,
					"uffdbox_fuzz_input: an input of %zu bytes, larger than "
					"the %zu-byte region made before the whole-target "
					"snapshot; set UFFDBOX_FUZZ_MAX_LEN to the largest "
					"input (the engine's -max_len / MAX_FILE)\n",
					size, F.cap);
				abort();
			}
		}
	}
	if (__builtin_expect(!F.sb || forked || size > F.cap, 0)) {
		if (!F.sb || forked)
			make_sandbox();
		make_region(size);
	}
	F.running = false; /* the previous input is over */
	if (uffdbox_sandbox_log_count(F.sb))
		uffdbox_sandbox_log_reset(F.sb);
	F.cur = data;
	F.cur_len = size;
	if (F.timeout_s)
		/* vDSO, no syscall; the coarse clock (a tick, 1-4 ms, is
		 * plenty for a timeout in seconds) reads a value where the
		 * fine one reads the TSC: 8 ns instead of 43 here. */
		clock_gettime(CLOCK_MONOTONIC_COARSE, &F.started);
	const uint8_t *in;
	if (F.events) {
		in = events_input(size);
	} else if (F.left) {
		memcpy(F.base, data, size);
		if (F.hi > size)
			memset(F.base + size, 0, F.hi - size);
		F.hi = size;
		in = F.base;
	} else {
		size_t off = F.cap - size;
		if (off > F.lo)
			memset(F.base + F.lo, 0, off - F.lo);
		memcpy(F.base + off, data, size);
		F.lo = off;
		in = F.base + off;
	}
	F.running = true;
	return in;
}
