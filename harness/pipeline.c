/* SPDX-License-Identifier: MIT */
/*
 * harness/pipeline.c - what happens to one fault, whichever transport saw
 * it: classify -> claim -> policy -> record -> resolve -> land.
 *
 * core/fsm decides: it classifies the fault (region, page, kind, verdict)
 * from the page's state, and a fault that means a transition (an ORDINARY
 * verdict) is acted on only by the thread whose uffdbox_fsm_claim() wins
 * the page.  Every other thread or message for that page sees it BUSY (the
 * access retries, the message is absorbed) or, once the action landed
 * (uffdbox_fsm_apply), SPURIOUS: one record per fault per page, however
 * many threads, messages or signal re-deliveries raced for it.  A paused
 * fault keeps its claim until released.  This file keeps no transition
 * logic of its own.
 *
 * The record is written *before* the resolving ioctl, and the ioctl wakes
 * the thread itself: the log is complete when the faulting thread runs on,
 * without a separate UFFDIO_WAKE (a syscall costs ~1 us on this kind of
 * machine, as much as a third of a busy-polled round trip).  When the ioctl
 * says something else happened (EEXIST: a racing resolution; ENOENT/ESRCH:
 * gone), the record is amended in place.
 *
 * Everything here is async-signal-safe: the SYNC transport runs it in a
 * SIGBUS handler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "internal.h"
#include "sandbox_int.h"

int uffdbox__sb_find(struct uffdbox_sandbox *sb, uintptr_t addr)
{
	struct uffdbox_fault c;

	uffdbox__tbl_read_lock(sb);
	uffdbox_fsm_classify(sb->fsm, addr, 0, &c);
	uffdbox__tbl_read_unlock(sb);
	return c.zone == UFFDBOX_ZONE_BODY ? uffdbox__sb_region_of(sb, &c) : -1;
}

/* Tell the fsm how an action on [addr, addr + len) came out.  The caller
 * holds the table's read lock. */
static void apply(struct uffdbox_sandbox *sb, uint32_t op, uint32_t mode, uintptr_t addr,
		  size_t len, long result)
{
	struct uffdbox_fsm_action a = {
		.op = op, .mode = mode, .addr = addr, .len = len, .result = result};
	uffdbox_fsm_apply(sb->fsm, &a);
}

void uffdbox__sb_land(struct uffdbox_sandbox *sb, uint32_t op, uint32_t mode, uintptr_t addr,
		      size_t len, long result)
{
	uffdbox__tbl_read_lock(sb);
	apply(sb, op, mode, addr, len, result);
	uffdbox__tbl_read_unlock(sb);
}

/* uffdbox__sb_land for fault @f (or none): in the table lock @f already
 * holds, which then ends. */
static void land(struct uffdbox_sandbox *sb, struct sb_fault *f, uint32_t op, uint32_t mode,
		 uintptr_t addr, size_t len, long result)
{
	if (!f || !f->locked) {
		uffdbox__sb_land(sb, op, mode, addr, len, result);
		return;
	}
	apply(sb, op, mode, addr, len, result);
	f->locked = false;
	uffdbox__tbl_read_unlock(sb);
}

uint32_t uffdbox__sb_thread_id(struct uffdbox_sandbox *sb, int32_t tid)
{
	return uffdbox__tid_logical(&sb->tids, tid);
}

void uffdbox__sb_record(struct uffdbox_sandbox *sb, uint8_t kind, int region, uint64_t page,
			uint32_t offset, uint64_t len, uint8_t access, uint32_t thread, uint8_t res,
			uint64_t digest)
{
	struct uffdbox_record r =
		uffdbox__record(kind, region, page, offset, len, access, thread, res, digest);
	uffdbox__log_append(&sb->log, &r);
}

static char *claim_scratch(struct sb_region *R, unsigned int *slot)
{
	struct sb_scratch *sc = R->scratch;
	for (;;) {
		uint64_t busy = atomic_load(&sc->busy);
		if (busy == UINT64_MAX)
			continue; /* SB_SCRATCH concurrent fills of one page size: wait */
		unsigned int i = (unsigned int)__builtin_ctzll(~busy);
		if (atomic_compare_exchange_weak(&sc->busy, &busy, busy | (1ull << i))) {
			*slot = i;
			return sc->mem + (size_t)i * sc->psz;
		}
	}
}

static void release_scratch(struct sb_region *R, unsigned int slot)
{
	atomic_fetch_and(&R->scratch->busy, ~(1ull << slot));
}

/* Fill @dst with the source's bytes for page @page; returns the resolution. */
static enum uffdbox_resolution fill_page(struct sb_region *R, int ri, uint64_t page, char *dst)
{
	const struct uffdbox_policy *p = &R->pol;
	size_t psz = R->psz;
	uint64_t base = page * psz;

	switch (p->source) {
	case UFFDBOX_SOURCE_PATTERN: {
		/* One period at the right phase, then doubling copies: a few
		 * memcpy calls per page instead of a loop per byte. */
		const unsigned char *pat = p->data;
		size_t phase = (size_t)(base % p->data_len), n = p->data_len - phase;
		if (n > psz)
			n = psz;
		memcpy(dst, pat + phase, n);
		if (n < psz && phase) {
			size_t m = phase < psz - n ? phase : psz - n;
			memcpy(dst + n, pat, m);
			n += m;
		}
		while (n < psz) {
			size_t m = n < psz - n ? n : psz - n;
			memcpy(dst + n, dst, m);
			n += m;
		}
		return UFFDBOX_RES_PATTERN;
	}
	case UFFDBOX_SOURCE_BUFFER: {
		size_t have = base < p->data_len ? p->data_len - (size_t)base : 0;
		if (have > psz)
			have = psz;
		if (have)
			memcpy(dst, (const char *)p->data + base, have);
		memset(dst + have, 0, psz - have);
		return UFFDBOX_RES_BUFFER;
	}
	case UFFDBOX_SOURCE_FILE: {
		/* pread is async-signal-safe; a short file reads as zeros. */
		size_t got = 0;
		while (got < psz) {
			ssize_t n = pread(p->fd, dst + got, psz - got,
					  p->fd_offset + (off_t)(base + got));
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		memset(dst + got, 0, psz - got);
		return UFFDBOX_RES_FILE;
	}
	case UFFDBOX_SOURCE_CALLBACK:
		memset(dst, 0, psz);
		if (p->fill(p->fill_arg, ri, page, dst, psz) < 0) {
			memset(dst, 0, psz);
			return UFFDBOX_RES_ZERO;
		}
		return UFFDBOX_RES_CALLBACK;
	default:
		memset(dst, 0, psz);
		return UFFDBOX_RES_ZERO;
	}
}

/* A fatal report, with write(2) only: this may run in a signal handler. */
static void report_abort(const struct sb_region *R, uint64_t page, uint32_t offset, bool is_write)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "uffdbox: %s of region \"%s\" page %llu offset %u: the region's policy "
			 "is report-and-abort\n",
			 is_write ? "WRITE" : "READ", R->name, (unsigned long long)page, offset);
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		n = 0;
	abort();
}

/* The thread(s) waiting on a fault: woken by the resolving ioctl in SERVED;
 * in SYNC the faulting thread is the one running, nobody waits. */
static unsigned int wake_flag(const struct uffdbox_sandbox *sb)
{
	return sb->transport == UFFDBOX_TRANSPORT_SYNC ? UFFDBOX_DONTWAKE : 0;
}

/*
 * Record @rec for fault @f: appended the first time, amended in place when
 * the fault comes back for a retry (after -EAGAIN) so it is logged once.
 */
static void record(struct uffdbox_sandbox *sb, struct sb_fault *f, struct uffdbox_record *rec)
{
	if (f && f->seq1) {
		struct uffdbox_record old;
		rec->seq = f->seq1 - 1;
		if (uffdbox__log_get(&sb->log, rec->seq, &old) == 0) {
			rec->ts_ns = old.ts_ns;
			uffdbox__log_amend(&sb->log, &old, rec);
			return;
		}
	}
	uffdbox__log_append(&sb->log, rec);
	if (f)
		f->seq1 = rec->seq + 1;
}

/* What an ioctl's failure turns the record into (0: nothing to amend). */
static int settle(struct uffdbox_sandbox *sb, struct uffdbox_record *rec, long r, void *pg,
		  size_t len)
{
	struct uffdbox_record old = *rec;

	if (r == -EAGAIN)
		return -EAGAIN;
	if (r == -EEXIST) {
		/* Someone resolved it first: whoever waits must still wake. */
		if (sb->transport == UFFDBOX_TRANSPORT_SERVED)
			uffdbox_uffd_wake(sb->u, pg, len);
		rec->resolution = UFFDBOX_RES_EXISTS;
		rec->digest = 0;
	} else if (r == -ENOENT || r == -ESRCH) {
		rec->resolution = UFFDBOX_RES_GONE;
		rec->digest = 0;
	} else {
		rec->resolution = UFFDBOX_RES_NONE;
		rec->digest = 0;
	}
	uffdbox__log_amend(&sb->log, &old, rec);
	return 0;
}

/* The region has a page to drop at the next reset.  A flag, read before it
 * is written: after the first fault of an input the line stays shared
 * between the faulting threads, where an increment per fault wrote it
 * every time. */
static void mark_touched(struct sb_region *R)
{
	if (!atomic_load_explicit(&R->touched, memory_order_relaxed))
		atomic_store_explicit(&R->touched, 1, memory_order_relaxed);
}

/* How inject() goes about it. */
enum inject_how {
	INJECT_RECORD, /* record, then map (the ioctl wakes the thread) */
	INJECT_PROBE,  /* SERVED, a fault the page state calls spurious: map
			  * without waking; record only if that mapped the page
			  * (it had been dropped behind our back), then wake */
};

/*
 * Map page @page of region @ri: from @src when given, else from the
 * region's source (zeros straight from ZEROPAGE where it applies).
 * @map_flags: UFFDBOX_MAP_WP, UFFDBOX_DONTWAKE.  The page's claim, if any,
 * ends here (the fsm learns the outcome).  Returns 1 when this call mapped
 * it, 0 when it was settled otherwise (someone else mapped it, the target
 * is gone), -EAGAIN to retry.
 */
static int inject(struct uffdbox_sandbox *sb, struct sb_fault *f, int ri, uint64_t page,
		  const void *src, unsigned int map_flags, struct uffdbox_record *rec,
		  enum inject_how how)
{
	struct sb_region *R = &sb->regions[ri];
	void *dst = (void *)(R->start + page * R->psz);
	bool wp = map_flags & UFFDBOX_MAP_WP;
	unsigned int slot = 0, flags = wake_flag(sb) | map_flags;
	uint32_t op = UFFDBOX_FSM_COPY;
	char *buf = NULL;
	ssize_t r;

	/* (a resolution set already stays: a held fault released with the
	 * region's own contents is "released", as docs/event-log.md says) */
	if (!src && R->pol.source == UFFDBOX_SOURCE_ZERO) {
		if (!rec->resolution)
			rec->resolution = UFFDBOX_RES_ZERO;
		src = sb->zeros;
	} else if (!src) {
		buf = claim_scratch(R, &slot);
		enum uffdbox_resolution got = fill_page(R, ri, page, buf);
		if (!rec->resolution)
			rec->resolution = (uint8_t)got;
		src = buf;
	}
	rec->digest = src == sb->zeros		   ? R->zero_digest
		      : R->pol_digest_valid && buf ? R->pol_digest
						   : uffdbox__hash(src, R->psz, 0);
	if (how == INJECT_PROBE)
		flags |= UFFDBOX_DONTWAKE;
	else
		record(sb, f, rec);
	/* ZEROPAGE maps the shared zero page: right for a read, but a write
	 * would fault again to copy it; give a writer its own zeroed page. */
	if (src == sb->zeros && !wp && R->can_zeropage && rec->access != UFFDBOX_ACCESS_WRITE) {
		op = UFFDBOX_FSM_ZEROPAGE;
		r = uffdbox_uffd_zeropage(sb->u, dst, R->psz, flags & UFFDBOX_DONTWAKE);
	} else if (src == sb->zeros && sb->signals) {
		/* The signal backend: a missing page is empty by construction,
		 * so opening it is the whole fill - no copy, nothing for other
		 * threads to see half done (core/sigbackend.c). */
		r = uffdbox_uffd_copy(sb->u, dst, NULL, R->psz, flags);
	} else {
		r = uffdbox_uffd_copy(sb->u, dst, src, R->psz, flags);
	}
	if (buf)
		release_scratch(R, slot);
	land(sb, f, op, wp ? UFFDBOX_FSM_MODE_WP : 0, (uintptr_t)dst, R->psz, r);
	if (how == INJECT_PROBE) {
		if (r == (ssize_t)R->psz)
			record(sb, f, rec);
		if (r != -EAGAIN && sb->transport == UFFDBOX_TRANSPORT_SERVED)
			uffdbox_uffd_wake(sb->u, dst, R->psz);
		if (r != (ssize_t)R->psz)
			return r == -EAGAIN ? -EAGAIN : 0;
	}
	if (r == (ssize_t)R->psz) {
		mark_touched(R);
		return 1;
	}
	return settle(sb, rec, r, dst, R->psz);
}

void uffdbox__sb_policy_changed(struct sb_region *R)
{
	const struct uffdbox_policy *p = &R->pol;
	R->pol_digest_valid = false;
	if (p->source != UFFDBOX_SOURCE_PATTERN || R->psz % p->data_len)
		return;
	char *page = malloc(R->psz);
	if (!page)
		return; /* hashed per fault instead */
	fill_page(R, 0, 0, page);
	R->pol_digest = uffdbox__hash(page, R->psz, 0);
	R->pol_digest_valid = true;
	free(page);
}

/* Unprotect a write-protected page for a WP fault: record @rec, then let
 * the write through.  The page's claim ends here. */
static int unprotect(struct uffdbox_sandbox *sb, struct sb_fault *f, struct sb_region *R, void *pg,
		     struct uffdbox_record *rec, unsigned int wake)
{
	record(sb, f, rec);
	int rc = uffdbox_uffd_writeprotect(sb->u, pg, R->psz, false, wake);
	uffdbox__sb_land(sb, UFFDBOX_FSM_UNPROTECT, 0, (uintptr_t)pg, R->psz, rc);
	return rc == 0 ? 0 : settle(sb, rec, rc, pg, R->psz);
}

/* Report each site once in continue mode: the faulting PC (SYNC) or the
 * page (SERVED). */
static bool first_at_site(struct uffdbox_sandbox *sb, uintptr_t site)
{
	uint32_t n = atomic_load(&sb->uau_nsites);
	for (uint32_t i = 0; i < n && i < 64; i++)
		if (sb->uau_sites[i] == site)
			return false;
	if (n < 64 && atomic_compare_exchange_strong(&sb->uau_nsites, &n, n + 1))
		sb->uau_sites[n] = site;
	return true;
}

static enum sb_outcome use_after_unmap(struct uffdbox_sandbox *sb, struct sb_fault *f, int ri,
				       struct uffdbox_record *rec)
{
	struct sb_region *R = &sb->regions[ri];
	struct uffdbox__stack st = {0};
	char what[64];

	if (f->uc)
		uffdbox__stack_from_signal(&st, f->uc);
	uintptr_t site = st.n ? st.pc[0] : (f->addr & ~(uintptr_t)(R->psz - 1));
	rec->kind = UFFDBOX_EV_UAU;
	rec->resolution = sb->uau_continue ? UFFDBOX_RES_ZERO : UFFDBOX_RES_ABORT;
	if (!sb->uau_continue || first_at_site(sb, site)) {
		snprintf(what, sizeof(what), "region \"%s\"", R->name);
		struct uffdbox__uau r = {
			.write = f->write,
			.addr = f->addr,
			.thread = rec->thread,
			.tid = f->tid,
			.access = f->uc ? &st : NULL,
			.what = what,
			.start = R->start,
			.end = R->end,
			.unmap_seq = R->unmap_seq,
			.unmap_thread = R->unmap_thread,
			.unmap_tid = R->unmap_tid,
			.unmap = &R->unmap_stack,
			.aborting = !sb->uau_continue,
		};
		uffdbox__uau_report(STDERR_FILENO, &r);
	}
	if (!sb->uau_continue) {
		record(sb, f, rec);
		uffdbox__sb_write_report_log(sb);
		abort();
	}
	return inject(sb, f, ri, rec->page, sb->zeros, 0, rec, INJECT_RECORD) == -EAGAIN ? SB_RETRY
											 : SB_DONE;
}

/* Is the page at @page_addr mapped (a present page table entry)? */
static bool resident(uint64_t page_addr)
{
	unsigned char vec = 0;
	return mincore((void *)(uintptr_t)page_addr, 1, &vec) == 0 && (vec & 1);
}

/*
 * A signal whose page the fsm calls resolved (SPURIOUS): either it was
 * raised before another thread's resolution landed and is handled after
 * (the page is there: the access retries and goes through), or the page
 * changed behind the sandbox's back: dropped by the target (MADV_DONTNEED:
 * not there), or write-protected by a direct uffdbox_region_wp_arm() (there,
 * but the same write keeps faulting).  The kernel's word decides: what the
 * fsm is told here is what the signal proves.  Returns true when the fsm
 * was corrected (classify again), false to let the access retry.
 */
static bool correct_stale(struct uffdbox_sandbox *sb, const struct sb_fault *f,
			  const struct uffdbox_fault *c)
{
	/* The same write refaulting on a present page: per thread, so a
	 * signal handler needs no lock. */
	static UFFDBOX__TLS uintptr_t last_addr;
	static UFFDBOX__TLS unsigned int repeats;

	if (!resident(c->page_addr)) {
		/* [page, page + 1) intersects that page alone */
		uffdbox__tbl_read_lock(sb);
		uffdbox_fsm_remove(sb->fsm, c->page_addr, c->page_addr + 1);
		uffdbox__tbl_read_unlock(sb);
		return true;
	}
	if (!f->write || c->state != UFFDBOX_PAGE_POPULATED)
		return false;
	repeats = last_addr == f->addr ? repeats + 1 : 0;
	last_addr = f->addr;
	if (repeats < 3)
		return false; /* a late signal goes through on its retry */
	repeats = 0;
	uffdbox__sb_land(sb, UFFDBOX_FSM_PROTECT, 0, (uintptr_t)c->page_addr,
			 sb->regions[uffdbox__sb_region_of(sb, c)].psz, 0);
	return true;
}

/*
 * Whether claimed fault @c goes the plain way: contents injected from the
 * region's own source (zeros, a pattern, a buffer), no callback, nothing
 * held.  Such a fault keeps the table's read lock from its claim to its
 * landing: one lock round trip per fault, not two.  The lock is a reader
 * count and a writer waits for it to drop: what runs under it never waits
 * on anything but the resolving ioctl, and calls no code of the user's.
 */
static bool plain_inject(const struct uffdbox_sandbox *sb, const struct uffdbox_fault *c)
{
	int ri = uffdbox__sb_region_of(sb, c);
	if (ri < 0 || c->kind == UFFDBOX_FAULT_WP)
		return false;
	const struct uffdbox_policy *p = &sb->regions[ri].pol;
	return (p->action == UFFDBOX_POLICY_INJECT || p->action == UFFDBOX_POLICY_INJECT_WP) &&
	       !p->on_wp &&
	       (p->source == UFFDBOX_SOURCE_ZERO || p->source == UFFDBOX_SOURCE_PATTERN ||
		p->source == UFFDBOX_SOURCE_BUFFER);
}

/*
 * Classify @f with the fsm and, when it means a transition, claim the page:
 * returns the verdict, with *@c filled in.  ORDINARY comes back claimed
 * (this thread records and resolves it), and with the table's read lock
 * still held when it goes the plain way (f->locked).
 */
static int decide(struct uffdbox_sandbox *sb, struct sb_fault *f, struct uffdbox_fault *c)
{
	uint64_t flags = (f->write ? UFFDBOX_MSG_PF_WRITE : 0) | (f->wp ? UFFDBOX_MSG_PF_WP : 0) |
			 (f->minor ? UFFDBOX_MSG_PF_MINOR : 0);
	int v;

	for (int tries = 0;; tries++) {
		uffdbox__tbl_read_lock(sb);
		/* (a signal whose sender knows it is WP - the signal backend -
		 * says so) */
		v = f->sigbus && !f->wp ? uffdbox_fsm_classify_sigbus(sb->fsm, f->addr, f->write, c)
					: uffdbox_fsm_classify(sb->fsm, f->addr, flags, c);
		int won = v == UFFDBOX_VERDICT_ORDINARY ? uffdbox_fsm_claim(sb->fsm, c) : 1;
		if (won == 1 && v == UFFDBOX_VERDICT_ORDINARY && plain_inject(sb, c)) {
			f->locked = true;
			return v;
		}
		uffdbox__tbl_read_unlock(sb);
		if (won == 0)
			continue; /* the page changed under us: look again */
		if (v == UFFDBOX_VERDICT_SPURIOUS && f->sigbus && tries < 4 &&
		    correct_stale(sb, f, c))
			continue;
		return v;
	}
}

/*
 * A signal for a page another thread has claimed: wait here until its
 * action lands, so that the retried access finds the page done.  (With a
 * userfaultfd the page appears whole, but the signal backend fills it in
 * place: a write retried too early could land before the contents and be
 * overwritten.)  A claim always ends: the action lands, or a held fault is
 * released (by the test, the watchdog or free).
 */
static void wait_claim(struct uffdbox_sandbox *sb, const struct sb_fault *f,
		       struct uffdbox_fault *c)
{
	for (unsigned int i = 0;; i++) {
		uffdbox__tbl_read_lock(sb);
		int v = uffdbox_fsm_classify(sb->fsm, f->addr, 0, c);
		uffdbox__tbl_read_unlock(sb);
		if (v != UFFDBOX_VERDICT_BUSY)
			return;
		if (i < 64) {
			sched_yield();
		} else {
			struct timespec ts = {0, 50000}; /* nanosleep: async-signal-safe */
			nanosleep(&ts, NULL);
		}
	}
}

static enum sb_outcome handle(struct uffdbox_sandbox *sb, struct sb_fault *f);

enum sb_outcome uffdbox__sb_handle_fault(struct uffdbox_sandbox *sb, struct sb_fault *f)
{
	f->locked = false;
	enum sb_outcome o = handle(sb, f);
	if (f->locked) { /* (every plain path lands; never left held) */
		f->locked = false;
		uffdbox__tbl_read_unlock(sb);
	}
	return o;
}

static enum sb_outcome handle(struct uffdbox_sandbox *sb, struct sb_fault *f)
{
	struct uffdbox_fault c;
	int v = decide(sb, f, &c), ri;

	if (v == UFFDBOX_VERDICT_BUSY && f->sigbus)
		wait_claim(sb, f, &c);
	switch (v) {
	case UFFDBOX_VERDICT_BUSY:
		/* Another thread is resolving this page (SYNC: the access
		 * retries until it is there), or a paused fault holds it
		 * (SERVED: this is the same fault again, re-delivered after a
		 * signal, or another thread on the same page; the release
		 * wakes them all). */
		return SB_BUSY;
	case UFFDBOX_VERDICT_OUTSIDE:
	case UFFDBOX_VERDICT_GUARD:
	case UFFDBOX_VERDICT_POISONED:
		/* A poisoned page's SIGBUS belongs to the target: it is the
		 * injected memory fault. */
		return SB_NOT_OURS;
	default:
		break;
	}
	ri = uffdbox__sb_region_of(sb, &c);
	if (ri < 0)
		return SB_NOT_OURS;
	struct sb_region *R = &sb->regions[ri];
	uint64_t page = c.page;
	void *pg = (void *)(uintptr_t)c.page_addr;
	struct uffdbox_record rec = {
		.page = page,
		.len = R->psz,
		.offset = (uint32_t)c.offset,
		.region = ri,
		.access = f->write ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ,
		.thread = uffdbox__sb_thread_id(sb, f->tid),
	};
	int rc;

	if (v == UFFDBOX_VERDICT_USE_AFTER_UNMAP)
		return use_after_unmap(sb, f, ri, &rec);
	if (v == UFFDBOX_VERDICT_SPURIOUS && f->sigbus)
		return SB_BUSY; /* a late signal: the access retries */
	if (v == UFFDBOX_VERDICT_SPURIOUS) {
		/* SERVED: a second message for a page already resolved (two
		 * threads, or a fault re-queued after a signal): no record.
		 * A missing fault may also mean the target dropped the page
		 * itself (no REMOVE event without non-cooperative mode): the
		 * probe maps it if so, and only then records. */
		if (c.kind == UFFDBOX_FAULT_WP) {
			uffdbox_uffd_wake(sb->u, pg, R->psz);
			return SB_DONE;
		}
		rec.kind = f->minor ? UFFDBOX_EV_MINOR : UFFDBOX_EV_MISSING;
		rc = inject(sb, f, ri, page, NULL,
			    R->pol.action == UFFDBOX_POLICY_INJECT_WP ? UFFDBOX_MAP_WP : 0, &rec,
			    INJECT_PROBE);
		return rc == -EAGAIN ? SB_RETRY : SB_DONE;
	}

	/*
	 * ORDINARY, and this thread holds the page's claim.  A page with a
	 * write-protect marker and no contents (WP_UNPOPULATED: an armed,
	 * never-touched page) gets its contents now, write-protected whatever
	 * the policy (it is armed); a write to it is recorded as the missing
	 * fault it also is, then as its WP fault, once each, as a write to a
	 * missing INJECT_WP page is.  (Unprotecting the marker first would
	 * leave the page missing: a second fault, a second WP record.)
	 */
	bool armed = c.state == UFFDBOX_PAGE_WP_UNPOPULATED;
	if (c.kind == UFFDBOX_FAULT_WP && !armed) {
		rec.kind = UFFDBOX_EV_WP;
		if (R->pol.on_wp && !f->seq1)
			R->pol.on_wp(R->pol.on_wp_arg, ri, page, pg, R->psz);
		if (R->pol.wp == UFFDBOX_WP_PAUSE && sb->transport == UFFDBOX_TRANSPORT_SERVED)
			return SB_HELD; /* the claim stays with the held fault */
		rec.resolution = UFFDBOX_RES_UNPROTECT;
		return unprotect(sb, f, R, pg, &rec, wake_flag(sb)) == -EAGAIN ? SB_RETRY : SB_DONE;
	}
	rec.kind = f->minor ? UFFDBOX_EV_MINOR : UFFDBOX_EV_MISSING;
	switch (R->pol.action) {
	case UFFDBOX_POLICY_ABORT:
		report_abort(R, page, rec.offset, f->write);
		return SB_DONE;
	case UFFDBOX_POLICY_PAUSE:
		return SB_HELD; /* the claim stays with the held fault */
	case UFFDBOX_POLICY_POISON: {
		rec.resolution = UFFDBOX_RES_POISON;
		record(sb, f, &rec);
		ssize_t r = uffdbox_uffd_poison(sb->u, pg, R->psz, wake_flag(sb));
		uffdbox__sb_land(sb, UFFDBOX_FSM_POISON, 0, (uintptr_t)pg, R->psz, r);
		if (r == (ssize_t)R->psz) {
			mark_touched(R);
			return SB_DONE;
		}
		return settle(sb, &rec, r, pg, R->psz) == -EAGAIN ? SB_RETRY : SB_DONE;
	}
	default: {
		bool wp = R->pol.action == UFFDBOX_POLICY_INJECT_WP || armed;
		/*
		 * A write that finds an INJECT_WP page missing would take the
		 * WP fault right after: a second round trip (signal, ioctl and
		 * TLB flush) to record it and unprotect.  Record it now and map
		 * the page writable: the same records, the same end state.
		 * Not when something must see the page before the write (an
		 * on_wp callback) or hold the writer (PAUSE, SERVED).
		 */
		bool served = sb->transport == UFFDBOX_TRANSPORT_SERVED;
		bool wp_now = wp && f->write && !f->minor && !R->pol.on_wp &&
			      !(R->pol.wp == UFFDBOX_WP_PAUSE && served);
		struct uffdbox_record wrec = rec;
		/* SERVED: the writer is woken after both records, so that no
		 * event of its own can come between them. */
		unsigned int mf = wp && !wp_now ? UFFDBOX_MAP_WP : 0;
		if (wp_now && served)
			mf |= UFFDBOX_DONTWAKE;
		rc = inject(sb, f, ri, page, NULL, mf, &rec, INJECT_RECORD);
		if (rc == 1 && wp_now) {
			wrec.kind = UFFDBOX_EV_WP;
			wrec.resolution = UFFDBOX_RES_UNPROTECT;
			record(sb, NULL, &wrec);
			if (served)
				uffdbox_uffd_wake(sb->u, pg, R->psz);
		}
		return rc == -EAGAIN ? SB_RETRY : SB_DONE;
	}
	}
}

int uffdbox__sb_resolve_held(struct uffdbox_sandbox *sb, const struct sb_paused *pz,
			     const void *contents, enum uffdbox_resolution res, uint8_t kind)
{
	struct sb_region *R = &sb->regions[pz->p.region];
	void *pg = (void *)pz->page_addr;
	struct uffdbox_record rec = {
		.page = pz->p.page,
		.len = R->psz,
		.offset = pz->offset,
		.region = pz->p.region,
		.thread = pz->p.thread,
		.kind = kind,
		.access = pz->p.access,
		.resolution = (uint8_t)res,
	};

	if (pz->p.kind == UFFDBOX_EV_WP) {
		/* A WP fault's page already has contents (the target's): release
		 * only lets the write through; @contents is not used. */
		return unprotect(sb, NULL, R, pg, &rec, 0);
	}
	if (!contents && res == UFFDBOX_RES_TIMEOUT)
		contents = sb->zeros;
	int rc = inject(sb, NULL, pz->p.region, pz->p.page, contents,
			R->pol.action == UFFDBOX_POLICY_INJECT_WP ? UFFDBOX_MAP_WP : 0, &rec,
			INJECT_RECORD);
	return rc < 0 ? rc : 0;
}
