/* SPDX-License-Identifier: MIT */
/*
 * harness/served.c - the SERVED transport: a handler thread reads batches of
 * uffd messages and feeds them to the pipeline; it also holds paused faults
 * until the test releases them, and runs the watchdog that releases any
 * fault held too long.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "uffdbox/compat.h"
#include "uffdbox/msg.h"
#include "sandbox_int.h"
#include "internal.h"

#define BATCH 16

/* Faults that got -EAGAIN, to retry once pending events are read.  Grows as
 * needed (this is the handler thread, not a signal handler): a fault is never
 * dropped. */
struct served_state {
	struct sb_fault *retry;
	int nretry, cap;
};

static void push_retry(struct served_state *st, const struct sb_fault *f)
{
	if (st->nretry == st->cap) {
		int cap = st->cap ? 2 * st->cap : 16;
		struct sb_fault *n = realloc(st->retry, (size_t)cap * sizeof(*n));
		if (!n) {
			fprintf(stderr, "uffdbox: out of memory queueing a fault retry\n");
			abort();
		}
		st->retry = n;
		st->cap = cap;
	}
	st->retry[st->nretry++] = *f;
}

static uint64_t ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - t->tv_nsec) / 1000000);
}

/* Keep a fault the policy paused; wake anyone waiting for one. */
void uffdbox__served_hold(struct uffdbox_sandbox *sb, const struct sb_fault *f)
{
	int ri = uffdbox__sb_find(sb, f->addr);
	struct sb_region *R = &sb->regions[ri];
	uint64_t page = (f->addr - R->start) / R->psz;

	pthread_mutex_lock(&sb->mu);
	for (int i = 0; i < SB_MAX_PAUSED; i++) {
		struct sb_paused *pz = &sb->paused[i];
		if (pz->used)
			continue;
		memset(pz, 0, sizeof(*pz));
		pz->used = true;
		atomic_fetch_add(&sb->nheld, 1);
		pz->p.id = ++sb->next_pause_id;
		pz->p.region = ri;
		pz->p.page = page;
		pz->p.thread = uffdbox__sb_thread_id(sb, f->tid);
		pz->p.access = f->write ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ;
		pz->p.kind = f->wp ? UFFDBOX_EV_WP : UFFDBOX_EV_MISSING;
		pz->page_addr = R->start + page * R->psz;
		pz->offset = (uint32_t)((f->addr - R->start) % R->psz);
		clock_gettime(CLOCK_MONOTONIC, &pz->since);
		pthread_cond_broadcast(&sb->cv);
		pthread_mutex_unlock(&sb->mu);
		return;
	}
	pthread_mutex_unlock(&sb->mu);
	/* More paused threads than slots: never leave one hanging. */
	fprintf(stderr,
		"uffdbox: more than %d paused faults; releasing region \"%s\" page %llu "
		"with zeros\n",
		SB_MAX_PAUSED, R->name, (unsigned long long)page);
	struct sb_paused tmp = {.p = {.region = ri,
				      .page = page,
				      .kind = f->wp ? UFFDBOX_EV_WP : UFFDBOX_EV_MISSING},
				.page_addr = R->start + page * R->psz};
	uffdbox__sb_resolve_held(sb, &tmp, NULL, UFFDBOX_RES_TIMEOUT, UFFDBOX_EV_WATCHDOG);
}

static void run_fault(struct uffdbox_sandbox *sb, struct served_state *st, struct sb_fault *f)
{
	switch (uffdbox__sb_handle_fault(sb, f)) {
	case SB_HELD:
		uffdbox__served_hold(sb, f);
		break;
	case SB_RETRY:
		/* A non-cooperative event is unread; it is in this batch or the
		 * next: retry after reading it. */
		push_retry(st, f);
		break;
	case SB_NOT_OURS:
		/* Registered by us but no region claims it (being torn down):
		 * wake the thread rather than leave it. */
		uffdbox_uffd_wake(sb->u, (void *)(f->addr & ~(uintptr_t)4095), 4096);
		break;
	case SB_DONE:
	case SB_BUSY: /* a duplicate of a fault resolved or held: absorbed */
		break;
	}
}

/* The range [start, end) lost its pages (REMOVE/UNMAP): the fsm follows
 * the event (REMOVE: faults missing again; UNMAP: quarantined), and it is
 * recorded. */
static void dropped(struct uffdbox_sandbox *sb, const struct uffdbox_msg *m)
{
	uint64_t start = m->u.remove.start, end = m->u.remove.end;
	int ri = uffdbox__sb_find(sb, (uintptr_t)start);
	uint64_t page = ri >= 0 ? (start - sb->regions[ri].start) / sb->regions[ri].psz : 0;

	uffdbox__tbl_read_lock(sb);
	uffdbox_fsm_event(sb->fsm, m, NULL);
	uffdbox__tbl_read_unlock(sb);
	uffdbox__sb_record(sb, m->kind == UFFDBOX_MSG_REMOVE ? UFFDBOX_EV_REMOVE : UFFDBOX_EV_UNMAP,
			   ri, page, 0, end - start, UFFDBOX_ACCESS_NONE, 0, UFFDBOX_RES_NONE, 0);
}

/*
 * One message, decoded by core/msg.  A page fault is served whatever the
 * parser noted (a thread waits on it); other events with an invalid field
 * (an inverted range, a negative fd) are recorded but not acted on, and
 * events this version does not know are ignored: nothing waits on them.
 */
static void handle_msg(struct uffdbox_sandbox *sb, struct served_state *st,
		       const struct uffdbox_msg *m)
{
	bool valid = !(m->notes & UFFDBOX_MSG_N_INVALID);

	switch (m->kind) {
	case UFFDBOX_MSG_PAGEFAULT: {
		uint64_t flags = m->u.pagefault.flags;
		struct sb_fault f = {
			.addr = (uintptr_t)m->u.pagefault.address,
			.write = (flags & UFFDBOX_MSG_PF_WRITE) != 0,
			.wp = (flags & UFFDBOX_MSG_PF_WP) != 0,
			.minor = (flags & UFFDBOX_MSG_PF_MINOR) != 0,
			.tid = (int32_t)m->u.pagefault.ptid,
		};
		run_fault(sb, st, &f);
		break;
	}
	case UFFDBOX_MSG_FORK:
		/*
		 * The child got a uffd of its own over its copy of our
		 * regions.  uffdbox does not serve children: closing that fd
		 * unregisters the child's ranges, so the child reads its own
		 * copy (zeros where nothing was mapped yet) and never blocks.
		 */
		if (valid)
			close(m->u.fork.fd);
		uffdbox__sb_record(sb, UFFDBOX_EV_FORK, -1, 0, 0, 0, UFFDBOX_ACCESS_NONE, 0,
				   UFFDBOX_RES_NONE, 0);
		break;
	case UFFDBOX_MSG_REMAP: {
		uint64_t from = m->u.remap.from, len = m->u.remap.len;
		int ri = uffdbox__sb_find(sb, (uintptr_t)from);
		uint64_t page = ri >= 0 ? (from - sb->regions[ri].start) / sb->regions[ri].psz : 0;
		uffdbox__sb_record(sb, UFFDBOX_EV_REMAP, ri, page, 0, len, UFFDBOX_ACCESS_NONE, 0,
				   UFFDBOX_RES_NONE, 0);
		break;
	}
	case UFFDBOX_MSG_REMOVE:
	case UFFDBOX_MSG_UNMAP:
		if (valid)
			dropped(sb, m);
		break;
	default:
		break; /* UNKNOWN: an event this version does not know */
	}
}

/* Release every held fault older than the watchdog allows. */
static void watchdog(struct uffdbox_sandbox *sb)
{
	if (atomic_load_explicit(&sb->nheld, memory_order_relaxed) == 0)
		return;
	for (int i = 0; i < SB_MAX_PAUSED; i++) {
		pthread_mutex_lock(&sb->mu);
		struct sb_paused pz = sb->paused[i];
		bool expired = pz.used && ms_since(&pz.since) >= sb->watchdog_ms;
		if (expired) {
			sb->paused[i].used = false;
			atomic_fetch_sub(&sb->nheld, 1);
		}
		pthread_mutex_unlock(&sb->mu);
		if (!expired)
			continue;
		fprintf(stderr,
			"uffdbox: watchdog: thread %u held at region \"%s\" page %llu for %u ms "
			"without release; resolving it with zeros\n",
			pz.p.thread, sb->regions[pz.p.region].name, (unsigned long long)pz.p.page,
			sb->watchdog_ms);
		uffdbox__sb_resolve_held(sb, &pz, NULL, UFFDBOX_RES_TIMEOUT, UFFDBOX_EV_WATCHDOG);
	}
}

/* Milliseconds until the oldest held fault expires; -1 when none is held. */
static int next_deadline(struct uffdbox_sandbox *sb)
{
	int best = -1;
	if (atomic_load_explicit(&sb->nheld, memory_order_relaxed) == 0)
		return -1;
	pthread_mutex_lock(&sb->mu);
	for (int i = 0; i < SB_MAX_PAUSED; i++) {
		if (!sb->paused[i].used)
			continue;
		uint64_t age = ms_since(&sb->paused[i].since);
		int left = age >= sb->watchdog_ms ? 0 : (int)(sb->watchdog_ms - age);
		if (best < 0 || left < best)
			best = left;
	}
	pthread_mutex_unlock(&sb->mu);
	return best;
}

/* Read one batch of messages and handle them; returns what the read did
 * (> 0 bytes, -EAGAIN: nothing queued, other: the fd failed). */
static ssize_t read_batch(struct uffdbox_sandbox *sb, struct served_state *st)
{
	unsigned char buf[32 * BATCH];
	ssize_t n = uffdbox_uffd_read(sb->u, buf, sizeof(buf));

	if (n > 0) {
		struct uffdbox_msg msgs[BATCH];
		size_t nm = 0;
		/* A fragment cannot come from the kernel; the whole records
		 * before one are handled all the same. */
		uffdbox_msg_parse_all(buf, (size_t)n, msgs, BATCH, &nm);
		for (size_t i = 0; i < nm; i++)
			handle_msg(sb, st, &msgs[i]);
	} else if (n != -EAGAIN && n != -EINTR) {
		fprintf(stderr, "uffdbox: reading the userfaultfd: %s\n", uffdbox_strerror((int)n));
	}
	return n;
}

/* Faults that got -EAGAIN, once more. */
static void run_retries(struct uffdbox_sandbox *sb, struct served_state *st)
{
	/* The threads that caused the events must run to finish them before
	 * the kernel accepts resolutions again. */
	sched_yield();
	int todo_n = st->nretry;
	struct sb_fault *todo = st->retry;
	*st = (struct served_state){0};
	for (int i = 0; i < todo_n; i++)
		run_fault(sb, st, &todo[i]);
	free(todo);
}

/*
 * A drain was asked for: handle every message queued now (the kernel queued
 * each before its thread could wait, so a thread that has returned from its
 * fault has its messages here already), and the retries they leave, then
 * say so.  Their pages are resolved: what remains are duplicates, which the
 * fsm calls spurious and which leave no record.
 */
static void drain(struct uffdbox_sandbox *sb, struct served_state *st, uint64_t req)
{
	for (int rounds = 0; rounds < 1000; rounds++) {
		while (read_batch(sb, st) > 0)
			;
		if (!st->nretry)
			break;
		run_retries(sb, st);
	}
	pthread_mutex_lock(&sb->mu);
	sb->drain_done = req;
	pthread_cond_broadcast(&sb->cv);
	pthread_mutex_unlock(&sb->mu);
}

static void *served_main(void *arg)
{
	struct uffdbox_sandbox *sb = arg;
	struct served_state st = {0};
	struct pollfd p[2] = {{.fd = uffdbox_uffd_fd(sb->u), .events = POLLIN},
			      {.fd = sb->stop_fd, .events = POLLIN}};
	unsigned int spins = 0;
	uint64_t drained = 0;
	/* The signal backend queues no faults (each is handled in its own
	 * thread's handler); its fd only says a paused fault was posted.
	 * Spinning on it would buy nothing and take a core from the faulting
	 * threads (on 2 cores under TSan, stress_regions_4096_busy took twice
	 * as long as _poll): sleep in poll as without busy_poll. */
	bool busy = sb->busy_poll && !sb->signals;

	while (!atomic_load_explicit(&sb->stopping, memory_order_acquire)) {
		uint64_t req = atomic_load_explicit(&sb->drain_req, memory_order_acquire);
		if (req != drained) {
			drain(sb, &st, req);
			drained = req;
		}
		if (!busy || st.nretry) {
			int timeout = next_deadline(sb);
			if (st.nretry)
				timeout = 1;
			if (poll(p, 2, timeout) < 0 && errno != EINTR)
				break;
			if (p[1].revents) {
				/* stop, or a drain request: look at both */
				uint64_t v;
				if (read(sb->stop_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					break;
				continue;
			}
		}
		ssize_t n = read_batch(sb, &st);
		if (n <= 0 && n != -EAGAIN && n != -EINTR)
			break;
		if (st.nretry)
			run_retries(sb, &st);
		if (!busy || (++spins & 1023) == 0)
			watchdog(sb);
	}
	free(st.retry);
	return NULL;
}

void uffdbox__served_drain(struct uffdbox_sandbox *sb)
{
	if (sb->transport != UFFDBOX_TRANSPORT_SERVED || !sb->thread_started ||
	    pthread_equal(pthread_self(), sb->thread))
		return;
	uint64_t one = 1, want = atomic_fetch_add(&sb->drain_req, 1) + 1;
	if (write(sb->stop_fd, &one, sizeof(one)) < 0)
		perror("uffdbox: waking the handler thread");
	pthread_mutex_lock(&sb->mu);
	/* (drain_done only grows; a later request's answer covers this one) */
	while (sb->drain_done < want && !atomic_load(&sb->stopping)) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += 1;
		pthread_cond_timedwait(&sb->cv, &sb->mu, &t);
	}
	pthread_mutex_unlock(&sb->mu);
}

int uffdbox__served_start(struct uffdbox_sandbox *sb)
{
	sb->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sb->stop_fd < 0)
		return -errno;
	/* out of the target's reach, as the uffd is (docs/use-after-unmap.md) */
	sb->stop_fd = uffdbox__fd_high(sb->stop_fd);
	int rc = pthread_create(&sb->thread, NULL, served_main, sb);
	if (rc != 0)
		return -rc;
	sb->thread_started = true;
	return 0;
}

void uffdbox__served_stop(struct uffdbox_sandbox *sb)
{
	if (sb->thread_started) {
		uint64_t one = 1;
		atomic_store(&sb->stopping, true);
		if (write(sb->stop_fd, &one, sizeof(one)) < 0)
			perror("uffdbox: stopping the handler thread");
		pthread_join(sb->thread, NULL);
		sb->thread_started = false;
	}
	/* Whoever is still held gets zeros and goes; it may not have retried
	 * its access yet, so the regions stay mapped (uffdbox_sandbox_free). */
	if (uffdbox_sandbox_release_all(sb) > 0)
		sb->keep_mapped = true;
	if (sb->stop_fd >= 0)
		close(sb->stop_fd);
	sb->stop_fd = -1;
}

/* --- pause / release --------------------------------------------------------- */

int uffdbox_sandbox_wait_paused(struct uffdbox_sandbox *sb, int region, uint64_t page,
				unsigned int timeout_ms, struct uffdbox_paused *out)
{
	struct timespec deadline;
	int rc = 0;

	if (sb->transport != UFFDBOX_TRANSPORT_SERVED)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&sb->mu);
	for (;;) {
		for (int i = 0; i < SB_MAX_PAUSED; i++) {
			struct sb_paused *pz = &sb->paused[i];
			if (pz->used && (region < 0 || pz->p.region == region) &&
			    (page == UINT64_MAX || pz->p.page == page)) {
				*out = pz->p;
				pthread_mutex_unlock(&sb->mu);
				return 0;
			}
		}
		if (rc == ETIMEDOUT)
			break;
		rc = pthread_cond_timedwait(&sb->cv, &sb->mu, &deadline);
	}
	pthread_mutex_unlock(&sb->mu);
	return -ETIMEDOUT;
}

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct uffdbox_paused *)a)->id,
		 y = ((const struct uffdbox_paused *)b)->id;
	return x < y ? -1 : x > y;
}

int uffdbox_sandbox_paused(struct uffdbox_sandbox *sb, struct uffdbox_paused *out, size_t max)
{
	struct uffdbox_paused all[SB_MAX_PAUSED];
	int n = 0;

	pthread_mutex_lock(&sb->mu);
	for (int i = 0; i < SB_MAX_PAUSED; i++)
		if (sb->paused[i].used)
			all[n++] = sb->paused[i].p;
	pthread_mutex_unlock(&sb->mu);
	qsort(all, (size_t)n, sizeof(all[0]), by_id);
	for (int i = 0; i < n && (size_t)i < max; i++)
		out[i] = all[i];
	return n;
}

int uffdbox_sandbox_release_all(struct uffdbox_sandbox *sb)
{
	int n = 0;
	for (int i = 0; i < SB_MAX_PAUSED; i++) {
		pthread_mutex_lock(&sb->mu);
		struct sb_paused pz = sb->paused[i];
		if (pz.used)
			atomic_fetch_sub(&sb->nheld, 1);
		sb->paused[i].used = false;
		pthread_mutex_unlock(&sb->mu);
		if (pz.used &&
		    uffdbox__sb_resolve_held(sb, &pz, NULL, UFFDBOX_RES_TIMEOUT, pz.p.kind) == 0)
			n++;
	}
	return n;
}

int uffdbox_sandbox_release(struct uffdbox_sandbox *sb, uint64_t id, const void *contents)
{
	struct sb_paused pz = {0};

	pthread_mutex_lock(&sb->mu);
	for (int i = 0; i < SB_MAX_PAUSED; i++) {
		if (sb->paused[i].used && sb->paused[i].p.id == id) {
			pz = sb->paused[i];
			sb->paused[i].used = false;
			atomic_fetch_sub(&sb->nheld, 1);
			break;
		}
	}
	pthread_mutex_unlock(&sb->mu);
	if (!pz.used)
		return -ENOENT;
	return uffdbox__sb_resolve_held(sb, &pz, contents, UFFDBOX_RES_RELEASED, pz.p.kind);
}
