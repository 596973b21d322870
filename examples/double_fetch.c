/* SPDX-License-Identifier: MIT */
/*
 * examples/double_fetch.c - reproduce a double-fetch race deterministically
 * by pausing a thread at a fault.
 *
 * The victim checks a length in shared memory, then uses it again:
 *
 *     n = msg->len;                  fetch 1: checked
 *     if (n > sizeof(out)) reject;
 *     out[0] = ...;                  <- uffdbox pauses the victim here
 *     memcpy(out + 1, msg->data, msg->len);   fetch 2: used unchecked
 *
 * By hand, hitting the window between the two fetches takes luck and many
 * runs.  Here the output buffer is a sandbox region with the PAUSE policy:
 * the victim's first write to it freezes the victim right after the check.
 * The "attacker" (this main thread) changes the length, then releases the
 * victim, whose copy runs off the end of the region into the guard page.
 * Every run, same result.
 *
 * The sandbox also reports the guard hit (report_guard_hits), and with
 * UFFDBOX_LOG=FILE writes its event log there: tests/golden/ pins both.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uffdbox.h>

struct msg {
	volatile uint32_t len;
	char data[8000];
};

static struct uffdbox_sandbox *sb;
static int out_region;

/* The bug: msg->len is read twice. */
static int victim_parse(struct msg *m, char *out, size_t out_len)
{
	uint32_t n = m->len;
	if (n + 1 > out_len)
		return -1;
	out[0] = 'M'; /* first touch of the output page: paused here */
	memcpy(out + 1, m->data, m->len);
	return 0;
}

static struct msg shared;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	struct uffdbox_region *r = uffdbox_sandbox_region(sb, out_region);
	enum uffdbox_addr_class c = uffdbox_region_classify(r, si->si_addr, NULL);
	char line[200];
	int n = snprintf(
		line, sizeof(line),
		"victim: SIGSEGV at region \"out\" + %ld: %s -> the double fetch overflowed "
		"the %zu-byte buffer\n",
		(long)((char *)si->si_addr - (char *)uffdbox_region_addr(r)),
		c == UFFDBOX_ADDR_GUARD_AFTER ? "guard page after the region" : "elsewhere",
		uffdbox_region_len(r));
	if (write(1, line, (size_t)n) < 0)
		_exit(2);
	_exit(c == UFFDBOX_ADDR_GUARD_AFTER ? 0 : 1);
}

static void *victim(void *arg)
{
	(void)arg;
	struct uffdbox_region *r = uffdbox_sandbox_region(sb, out_region);
	int rc = victim_parse(&shared, uffdbox_region_addr(r), uffdbox_region_len(r));
	printf("victim: parse returned %d without overflowing (the race was missed)\n", rc);
	exit(1);
}

int main(void)
{
	char err[512] = "";
	/* Ours first: the sandbox's guard-hit report runs, then hands the
	 * SIGSEGV on to this handler; without a userfaultfd (the signal
	 * backend) the sandbox's own faults arrive as SIGSEGV too, and its
	 * handler passes on only those that are not its own. */
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o),
					 .transport = UFFDBOX_TRANSPORT_SERVED,
					 .report_guard_hits = true,
					 .report_log = getenv("UFFDBOX_LOG"),
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc < 0) {
		fprintf(stderr, "double_fetch: %s: %s\n", uffdbox_strerror(rc), err);
		return 1;
	}
	struct uffdbox_policy pause = {.sz = sizeof(pause), .action = UFFDBOX_POLICY_PAUSE};
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = 1, .name = "out"};
	out_region = uffdbox_sandbox_add_region(sb, &ro, &pause);
	if (out_region < 0) {
		fprintf(stderr, "double_fetch: %s\n", uffdbox_strerror(out_region));
		return 1;
	}
	shared.len = 100; /* passes the check */
	memset(shared.data, 'x', sizeof(shared.data));
	pthread_t t;
	pthread_create(&t, NULL, victim, NULL);

	struct uffdbox_paused p;
	rc = uffdbox_sandbox_wait_paused(sb, out_region, 0, 5000, &p);
	if (rc < 0) {
		fprintf(stderr, "double_fetch: the victim never reached the window: %s\n",
			uffdbox_strerror(rc));
		return 1;
	}
	printf("victim: checked len=100 (fits in 4096), paused at its first write to \"out\" "
	       "page %llu\n",
	       (unsigned long long)p.page);
	shared.len = 6000;
	printf("attacker: len = 6000 while the victim is frozen between its two fetches\n");
	fflush(stdout); /* the victim's end is a SIGSEGV handler's _exit */
	uffdbox_sandbox_release(sb, p.id, NULL);
	pthread_join(t, NULL); /* not reached: the victim's SIGSEGV ends the run */
	return 1;
}
