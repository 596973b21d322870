/* SPDX-License-Identifier: MIT */
/*
 * harness/sandbox.c - the sandbox object and its pipeline:
 * classify -> policy -> resolve -> record.  The transports (sync.c,
 * served.c) turn what the kernel says into a struct sb_fault and call
 * uffdbox__sb_handle_fault().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uffdbox/compat.h"
#include "hash.h"
#include "sandbox_int.h"
#include "internal.h"
#include "sigbackend.h"

static const struct uffdbox_sandbox_opts default_opts = {.sz = sizeof(default_opts)};

void uffdbox__tbl_write_lock(struct uffdbox_sandbox *sb, sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
	pthread_mutex_lock(&sb->tbl.writers);
	atomic_store(&sb->tbl.writer, 1);
	while (atomic_load(&sb->tbl.readers))
		__builtin_ia32_pause();
}

void uffdbox__tbl_write_unlock(struct uffdbox_sandbox *sb, const sigset_t *old)
{
	atomic_store(&sb->tbl.writer, 0);
	pthread_mutex_unlock(&sb->tbl.writers);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Track region @R in the fsm (its body and guard zones); 0 or -errno. */
static int fsm_track(struct uffdbox_sandbox *sb, int slot, struct sb_region *R)
{
	size_t gpages = R->guard == UFFDBOX_GUARD_NONE ? 0 : (R->guard_pages ? R->guard_pages : 1);
	struct uffdbox_fsm_region_opts fo = {
		.sz = sizeof(fo),
		.start = R->start,
		.pages = (R->end - R->start) / R->psz,
		.shift = (unsigned int)__builtin_ctzl(R->psz),
		.guard_before = gpages,
		.guard_after = gpages,
	};
	sigset_t old;

	uffdbox__tbl_write_lock(sb, &old);
	int fid = uffdbox_fsm_region_add(sb->fsm, &fo);
	if (fid >= 0) {
		R->fid = fid;
		sb->by_fid[fid] = (int16_t)slot;
	}
	uffdbox__tbl_write_unlock(sb, &old);
	return fid < 0 ? fid : 0;
}

/* Forget region @R in the fsm: its addresses are no one's. */
static void fsm_untrack(struct uffdbox_sandbox *sb, struct sb_region *R)
{
	sigset_t old;

	if (R->fid < 0)
		return;
	uffdbox__tbl_write_lock(sb, &old);
	uffdbox_fsm_region_release(sb->fsm, R->fid);
	uffdbox__tbl_write_unlock(sb, &old);
	R->fid = -1;
}

int uffdbox_sandbox_new(const struct uffdbox_sandbox_opts *opts, struct uffdbox_sandbox **out)
{
	struct uffdbox_sandbox_opts o = default_opts;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = uffdbox__opts_copy(
		&o, sizeof(o), UFFDBOX__OFFSETOFEND(struct uffdbox_sandbox_opts, report_log), opts,
		"uffdbox_sandbox_opts", offsetof(struct uffdbox_sandbox_opts, errbuf), NULL, 0);
	if (rc < 0)
		return rc;
	if (o.transport != UFFDBOX_TRANSPORT_SYNC && o.transport != UFFDBOX_TRANSPORT_SERVED)
		return -EINVAL;
	if (o.transport == UFFDBOX_TRANSPORT_SYNC && (o.noncooperative || o.busy_poll)) {
		uffdbox__explain(
			o.errbuf, o.errbuf_len,
			"non-cooperative events and busy polling need the SERVED transport: their "
			"callers block until a reader takes the message");
		return -EINVAL;
	}
	struct uffdbox_sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->tids = (struct uffdbox__tids){.cap = SB_MAX_THREADS, .tid = sb->tid_slots};
	sb->transport = o.transport;
	sb->busy_poll = o.busy_poll;
	sb->noncooperative = o.noncooperative;
	sb->watchdog_ms = o.watchdog_ms ? o.watchdog_ms : 10000;
	sb->quarantine_limit = o.quarantine_bytes ? o.quarantine_bytes : (size_t)256 << 20;
	sb->uau_continue = o.uau_continue;
	if (!o.report_log)
		o.report_log = getenv("UFFDBOX_LOG"); /* docs/fuzz-your-library.md */
	if (o.report_log)
		snprintf(sb->report_log, sizeof(sb->report_log), "%s", o.report_log);
	sb->stop_fd = -1;
	pthread_mutex_init(&sb->mu, NULL);
	pthread_mutex_init(&sb->tbl.writers, NULL);
	rc = uffdbox_fsm_new(SB_MAX_REGIONS, &sb->fsm);
	if (rc < 0) {
		free(sb);
		return rc;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_paused deadlines */
	pthread_cond_init(&sb->cv, &ca);
	pthread_condattr_destroy(&ca);

	struct uffdbox_uffd_opts uo = {
		.sz = sizeof(uo),
		.want_features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
				 UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_MISSING_SHMEM |
				 UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_POISON,
		.errbuf = o.errbuf,
		.errbuf_len = o.errbuf_len,
	};
	if (o.transport == UFFDBOX_TRANSPORT_SYNC) {
		uo.need_features = UFFD_FEATURE_SIGBUS;
	} else {
		/* Which thread faulted, and where exactly: both go in the log
		 * (as a logical id and a page offset). */
		uo.want_features |= UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_EXACT_ADDRESS;
		if (o.noncooperative)
			uo.want_features |= UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
					    UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP;
	}
	rc = uffdbox_uffd_open(&uo, &sb->u);
	if (rc < 0)
		goto fail;
	rc = uffdbox__log_init(&sb->log, o.ring_records, o.timestamps);
	if (rc < 0)
		goto fail;
	/* One read-only zero mapping, as large as the largest page, serves
	 * every region as a source of zeros for UFFDIO_COPY where ZEROPAGE
	 * does not apply (hugetlb, write-protected, written). Reading it maps
	 * the shared zero page: it costs no memory. */
	sb->zeros_len = (size_t)sysconf(_SC_PAGESIZE);
	if (uffdbox_hugepage_size() > sb->zeros_len)
		sb->zeros_len = uffdbox_hugepage_size();
	sb->zeros = mmap(NULL, sb->zeros_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sb->zeros == MAP_FAILED) {
		sb->zeros = NULL;
		rc = -errno;
		goto fail;
	}
	/* Under the signal backend every fault arrives as a signal in the
	 * faulting thread, SERVED too: it is handled there, and a paused one
	 * waits there for the handler thread to release it. */
	sb->signals = uffdbox_uffd_backend(sb->u) == UFFDBOX_BACKEND_SIGNAL;
	rc = o.transport == UFFDBOX_TRANSPORT_SYNC || sb->signals ? uffdbox__sync_install(sb) : 0;
	if (rc == 0 && o.transport == UFFDBOX_TRANSPORT_SERVED)
		rc = uffdbox__served_start(sb);
	if (rc < 0) {
		if (rc == -EBUSY)
			uffdbox__explain(o.errbuf, o.errbuf_len,
					 "another SYNC sandbox (or, under the signal backend, any "
					 "sandbox) owns the fault signal handler; free it first");
		goto fail;
	}
	if (o.report_guard_hits) {
		rc = uffdbox__guard_install(sb);
		if (rc < 0) {
			uffdbox__explain(
				o.errbuf, o.errbuf_len,
				"another sandbox reports guard hits (one SIGSEGV handler at a "
				"time)");
			goto fail;
		}
		sb->guard_reports = true;
	}
	*out = sb;
	return 0;
fail:
	uffdbox_sandbox_free(sb);
	return rc;
}

void uffdbox_sandbox_free(struct uffdbox_sandbox *sb)
{
	if (!sb)
		return;
	if (sb->guard_reports)
		uffdbox__guard_uninstall(sb);
	if (sb->transport == UFFDBOX_TRANSPORT_SERVED)
		uffdbox__served_stop(sb); /* releases paused threads */
	if (sb->transport == UFFDBOX_TRANSPORT_SYNC || sb->signals)
		uffdbox__sync_uninstall(sb);
	int n = atomic_load(&sb->nregions);
	for (int i = 0; i < n; i++) {
		struct sb_region *R = &sb->regions[i];
		if (R->released)
			continue;
		/* A thread let go at the stop above may not have retried its
		 * access yet: its region must still be there when it does.
		 * Closing the uffd below unregisters it; the mapping is left
		 * to the process (a few pages, once per such free). */
		if (!sb->keep_mapped)
			uffdbox_region_free(R->r);
	}
	uffdbox_fsm_free(sb->fsm);
	for (int i = 0; i < 2; i++)
		if (sb->scratch[i].mem)
			munmap(sb->scratch[i].mem, SB_SCRATCH * sb->scratch[i].psz);
	/* Closing the uffd wakes any thread still waiting on it. */
	uffdbox_uffd_close(sb->u);
	if (sb->zeros)
		munmap((void *)sb->zeros, sb->zeros_len);
	uffdbox__log_fini(&sb->log);
	pthread_mutex_destroy(&sb->mu);
	pthread_mutex_destroy(&sb->tbl.writers);
	pthread_cond_destroy(&sb->cv);
	free(sb);
}

struct uffdbox_uffd *uffdbox_sandbox_uffd(struct uffdbox_sandbox *sb)
{
	return sb->u;
}

static int check_policy(const struct uffdbox_sandbox *sb, const struct sb_region *R,
			const struct uffdbox_policy *p)
{
	if (p->action > UFFDBOX_POLICY_ABORT || p->source > UFFDBOX_SOURCE_CALLBACK ||
	    p->wp > UFFDBOX_WP_PAUSE)
		return -EINVAL;
	if (sb->transport == UFFDBOX_TRANSPORT_SYNC &&
	    (p->action == UFFDBOX_POLICY_PAUSE || p->wp == UFFDBOX_WP_PAUSE))
		return -EINVAL; /* nobody would be left to release the thread */
	if (p->source == UFFDBOX_SOURCE_PATTERN && (!p->data || !p->data_len))
		return -EINVAL;
	if (p->source == UFFDBOX_SOURCE_BUFFER && !p->data && p->data_len)
		return -EINVAL;
	if (p->source == UFFDBOX_SOURCE_BUFFER && p->data_len > R->end - R->start)
		return -EINVAL; /* bytes no page would ever show */
	if (p->source == UFFDBOX_SOURCE_FILE && p->fd < 0)
		return -EBADF;
	if (p->source == UFFDBOX_SOURCE_CALLBACK && !p->fill)
		return -EINVAL;
	if (p->action == UFFDBOX_POLICY_INJECT_WP && !(R->modes & UFFDBOX_REG_WP))
		return -EINVAL; /* a WP mapping needs WP registration */
	if (p->action == UFFDBOX_POLICY_POISON &&
	    !(uffdbox_uffd_features(sb->u) & UFFD_FEATURE_POISON))
		return -EOPNOTSUPP;
	return 0;
}

/* A caller's policy over the defaults (zeros), checked as
 * copy_struct_from_user(); the cause goes to @errbuf. */
static int read_policy(struct uffdbox_policy *out, const struct uffdbox_policy *p, char *errbuf,
		       size_t errbuf_len)
{
	*out = (struct uffdbox_policy){.sz = sizeof(*out)};
	return uffdbox__opts_copy(out, sizeof(*out),
				  UFFDBOX__OFFSETOFEND(struct uffdbox_policy, on_wp_arg), p,
				  "uffdbox_policy", UFFDBOX__NO_ERRBUF, errbuf, errbuf_len);
}

static void set_policy(struct sb_region *R, const struct uffdbox_policy *p)
{
	R->pol = *p;
	uffdbox__sb_policy_changed(R);
}

/* Shared memory keeps its pages in the page cache: punch them out too, or
 * they would map again without a missing fault. */
static int punch_pages(struct sb_region *R)
{
	if (uffdbox_region_mem(R->r) != UFFDBOX_MEM_ANON &&
	    fallocate(uffdbox_region_memfd(R->r), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)(R->end - R->start)) < 0)
		return -errno;
	/* The signal backend arms the dropped pages again (a uffd needs not). */
	return uffdbox__region_dropped(R->r);
}

/* Drop every page of a region: the next access faults. */
static int drop_pages(struct sb_region *R)
{
	if (madvise((void *)R->start, R->end - R->start, MADV_DONTNEED) < 0)
		return -errno;
	return punch_pages(R);
}

/* Free region @R for real: its addresses can be mapped again, its slot
 * reused. */
static void free_for_real(struct uffdbox_sandbox *sb, struct sb_region *R)
{
	/* No fault maps to it any more... */
	fsm_untrack(sb, R);
	R->start = R->end = 0;
	uffdbox_region_free(R->r);
	R->r = NULL;
	R->scratch = NULL;
	if (R->spare)
		sb->nspares--;
	R->spare = false;
	R->released = true; /* ...and its slot is free */
}

/* Can @R be reused for a new region after quarantine: anonymous memory
 * registered for missing faults only (write-protect markers could outlive
 * MADV_DONTNEED, and shared memory keeps its page cache). */
static bool reusable(const struct sb_region *R)
{
	return R->modes == UFFDBOX_REG_MISSING && uffdbox_region_mem(R->r) == UFFDBOX_MEM_ANON;
}

/* A slot for a new region with nothing evicted: a released one, else the
 * next never used; -1 when all are taken. */
static int free_slot(const struct uffdbox_sandbox *sb)
{
	int n = atomic_load(&sb->nregions);
	for (int i = 0; i < n; i++)
		if (sb->regions[i].released)
			return i;
	return n < SB_MAX_REGIONS ? n : -1;
}

/* A spare of the shape @o asks for; -1 if none. */
static int find_spare(const struct uffdbox_sandbox *sb, const struct uffdbox_region_opts *o)
{
	char name[32];
	int n = atomic_load(&sb->nregions);

	if (!sb->nspares)
		return -1;
	snprintf(name, sizeof(name), "%s", o->name ? o->name : "");
	for (int i = 0; i < n; i++) {
		const struct sb_region *R = &sb->regions[i];
		if (R->spare && uffdbox_region_pages(R->r) == o->pages &&
		    uffdbox_region_mem(R->r) == o->mem && R->modes == o->modes &&
		    R->guard == o->guard && R->guard_pages == o->guard_pages &&
		    !strcmp(R->name, name))
			return i;
	}
	return -1;
}

/* Take the oldest region out of quarantine: kept as a spare when it can be
 * (there is room and its shape is reusable), else freed for real.  Returns
 * its index, -1 when none is quarantined. */
static int release_oldest(struct uffdbox_sandbox *sb)
{
	if (sb->quarantine_n == 0)
		return -1;
	int idx = sb->quarantine_fifo[0];
	struct sb_region *old = &sb->regions[idx];
	memmove(sb->quarantine_fifo, sb->quarantine_fifo + 1,
		(size_t)--sb->quarantine_n * sizeof(int));
	sb->quarantine_used -= old->end - old->start;
	if (sb->nspares < SB_SPARES && reusable(old)) {
		old->spare = true;
		sb->nspares++;
	} else {
		free_for_real(sb, old);
	}
	return idx;
}

/* A slot for a new region when all are taken: a spare's (freed for real),
 * else the oldest quarantined region's. */
static int make_room(struct uffdbox_sandbox *sb)
{
	for (int i = 0; i < SB_MAX_REGIONS; i++)
		if (sb->regions[i].spare) {
			free_for_real(sb, &sb->regions[i]);
			return i;
		}
	int idx = release_oldest(sb);
	if (idx >= 0 && !sb->regions[idx].released)
		free_for_real(sb, &sb->regions[idx]); /* it became a spare */
	return idx;
}

/* The scratch pool for pages of @psz, mapped on first use. */
static int scratch_for(struct uffdbox_sandbox *sb, size_t psz, struct sb_scratch **out)
{
	struct sb_scratch *sc = &sb->scratch[psz != (size_t)sysconf(_SC_PAGESIZE)];
	if (!sc->mem) {
		void *p = mmap(NULL, SB_SCRATCH * psz, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		sc->psz = psz;
		sc->mem = p;
	}
	if (sc->psz != psz)
		return -EINVAL; /* a third page size: not something Linux has */
	*out = sc;
	return 0;
}

int uffdbox_sandbox_add_region(struct uffdbox_sandbox *sb, const struct uffdbox_region_opts *opts,
			       const struct uffdbox_policy *policy)
{
	struct uffdbox_region_opts o = {.sz = sizeof(o)};
	struct uffdbox_policy p;
	int n, rc;

	if (!sb || !opts)
		return -EINVAL;
	n = atomic_load(&sb->nregions);
	rc = uffdbox__opts_copy(
		&o, sizeof(o), UFFDBOX__OFFSETOFEND(struct uffdbox_region_opts, errbuf_len), opts,
		"uffdbox_region_opts", offsetof(struct uffdbox_region_opts, errbuf), NULL, 0);
	if (rc == 0)
		rc = read_policy(&p, policy, o.errbuf, o.errbuf_len);
	if (rc < 0)
		return rc;
	o.modes |= UFFDBOX_REG_MISSING;
	if ((o.modes & UFFDBOX_REG_WP) &&
	    !(uffdbox_uffd_features(sb->u) & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return -UFFDBOX_E_NOFEATURE;

	/* A spare of this shape is taken over in place; otherwise a slot
	 * freed from quarantine is reused; when all are taken, room is made
	 * (a fuzz loop that releases a region per input would otherwise run
	 * out). */
	struct uffdbox_region *reuse = NULL;
	int slot = find_spare(sb, &o);
	/* Full: the oldest quarantined region must leave; if it stays as a
	 * spare of this shape, it is the one to take. */
	if (slot < 0 && free_slot(sb) < 0 && release_oldest(sb) >= 0)
		slot = find_spare(sb, &o);
	if (slot >= 0) {
		struct sb_region *S = &sb->regions[slot];
		/* Dropped at unmap; a stale access let go on may have mapped
		 * pages since. */
		if (drop_pages(S) == 0) {
			reuse = S->r;
			fsm_untrack(sb, S); /* tracked again, every page missing */
			atomic_store(&S->quarantined, false);
			sb->nspares--;
		} else {
			free_for_real(sb, S);
		}
	}
	if (slot < 0)
		slot = free_slot(sb);
	if (slot < 0)
		slot = make_room(sb);
	if (slot < 0)
		return -ENOSPC;

	struct sb_region *R = &sb->regions[slot];
	memset(R, 0, sizeof(*R));
	R->modes = o.modes;
	R->guard_pages = o.guard_pages;
	R->guard = o.guard;
	R->r = reuse;
	R->fid = -1;
	if (!R->r) {
		rc = uffdbox_region_new(sb->u, &o, &R->r);
		if (rc < 0)
			goto fail;
	}
	R->start = (uintptr_t)uffdbox_region_addr(R->r);
	R->end = R->start + uffdbox_region_len(R->r);
	R->psz = uffdbox_region_page_size(R->r);
	R->can_zeropage = (uffdbox_region_ioctls(R->r) & (1ULL << _UFFDIO_ZEROPAGE)) != 0;
	snprintf(R->name, sizeof(R->name), "%s", uffdbox_region_name(R->r));
	rc = check_policy(sb, R, &p);
	if (rc < 0) {
		uffdbox__explain(
			o.errbuf, o.errbuf_len,
			"struct uffdbox_policy: an action, source or wp value out of range, "
			"a PAUSE on a SYNC sandbox, a source without its data (pattern, "
			"fill, fd), a BUFFER longer than the region, INJECT_WP without "
			"UFFDBOX_REG_WP, or POISON without the kernel feature");
		goto fail;
	}
	set_policy(R, &p);
	rc = scratch_for(sb, R->psz, &R->scratch);
	if (rc < 0)
		goto fail;
	if (R->psz > sb->zeros_len) {
		rc = -EINVAL;
		goto fail;
	}
	R->zero_digest = uffdbox__hash(sb->zeros, R->psz, 0);
	/* Last: from here on faults in it are classified as its. */
	rc = fsm_track(sb, slot, R);
	if (rc < 0)
		goto fail;
	if (slot == n)
		atomic_store(&sb->nregions, n + 1);
	return slot;
fail:
	uffdbox_region_free(R->r);
	memset(R, 0, sizeof(*R));
	R->fid = -1;
	R->released = slot < n; /* a reused slot stays free */
	return rc;
}

struct uffdbox_region *uffdbox_sandbox_region(struct uffdbox_sandbox *sb, int region)
{
	if (region < 0 || region >= atomic_load(&sb->nregions))
		return NULL;
	return sb->regions[region].r;
}

int uffdbox_sandbox_set_policy(struct uffdbox_sandbox *sb, int region,
			       const struct uffdbox_policy *policy)
{
	struct uffdbox_policy p;
	if (!sb || region < 0 || region >= atomic_load(&sb->nregions))
		return -EINVAL;
	int rc = read_policy(&p, policy, NULL, 0);
	if (rc < 0)
		return rc;
	rc = check_policy(sb, &sb->regions[region], &p);
	if (rc < 0)
		return rc;
	set_policy(&sb->regions[region], &p);
	return 0;
}

/*
 * MADV_DONTNEED over @n ranges in one process_madvise(): one syscall and,
 * since 6.16, one TLB flush for all (madvise() flushes per call, and a
 * flush is the cost here: tens of µs on a paravirtualized guest).  Needs
 * 6.13 (any advice for the calling process) and 6.15 (PIDFD_SELF, which,
 * unlike a pidfd of our own, still means us after a fork).  0 when every
 * byte was advised; -1 otherwise, and the caller goes range by range, which
 * also finds the error to report.
 */
static int dontneed_batch(const struct iovec *iov, int n)
{
	static atomic_int works; /* 0 unknown, 1 yes, 2 no */
	size_t want = 0;

	if (atomic_load_explicit(&works, memory_order_relaxed) == 2 ||
	    uffdbox__hidden(UFFDBOX_HIDE_PROCESS_MADVISE))
		return -1;
	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	long got = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, iov, (size_t)n,
			   MADV_DONTNEED, 0u);
	if (got >= 0 && (size_t)got == want) {
		atomic_store_explicit(&works, 1, memory_order_relaxed);
		return 0;
	}
	/* Never worked: an older kernel (EINVAL, EBADF, ENOSYS, EPERM). */
	if (got < 0 && atomic_load_explicit(&works, memory_order_relaxed) == 0)
		atomic_store_explicit(&works, 2, memory_order_relaxed);
	return -1;
}

int uffdbox_sandbox_unmap_region(struct uffdbox_sandbox *sb, int region)
{
	if (region < 0 || region >= atomic_load(&sb->nregions))
		return -EINVAL;
	struct sb_region *R = &sb->regions[region];
	if (atomic_load(&R->quarantined) || R->released)
		return -EINVAL;
	uffdbox__stack_here(&R->unmap_stack, 1); /* from our caller */
	int rc = drop_pages(R);
	if (rc < 0)
		return rc;
	R->unmap_tid = (int32_t)syscall(SYS_gettid);
	R->unmap_thread = uffdbox__sb_thread_id(sb, R->unmap_tid);
	R->unmap_seq = uffdbox_sandbox_log_count(sb);
	uffdbox__sb_record(sb, UFFDBOX_EV_UNMAP, region, 0, 0, R->end - R->start,
			   UFFDBOX_ACCESS_NONE, R->unmap_thread, UFFDBOX_RES_NONE, 0);
	uffdbox__tbl_read_lock(sb);
	uffdbox_fsm_region_quarantine(sb->fsm, R->fid);
	uffdbox__tbl_read_unlock(sb);
	atomic_store(&R->quarantined, true);
	sb->quarantine_fifo[sb->quarantine_n++] = region;
	sb->quarantine_used += R->end - R->start;
	/* Past the bound, the oldest quarantined regions go for real. */
	while (sb->quarantine_used > sb->quarantine_limit && sb->quarantine_n > 0)
		release_oldest(sb);
	return 0;
}

/* After @R's pages were dropped (@err 0): every page missing again.  If not
 * (@err < 0), the region stays due for the next reset.  Returns @err. */
static int after_drop(struct uffdbox_sandbox *sb, struct sb_region *R, int err)
{
	if (err < 0) {
		atomic_store(&R->touched, 1);
		return err;
	}
	uffdbox__tbl_read_lock(sb);
	uffdbox_fsm_remove(sb->fsm, R->start, R->end);
	uffdbox__tbl_read_unlock(sb);
	return 0;
}

/*
 * Drop @R's pages if anything was mapped into it since its last reset (or
 * always, with @force): the next access faults again.  A region nothing was
 * mapped into has nothing to drop: a fuzz loop is spared the syscalls.
 * (Pages the target populated without a fault cannot exist: every page
 * faults first.)  On failure the region stays due for the next reset.
 */
static int reset_pages(struct uffdbox_sandbox *sb, struct sb_region *R, bool force)
{
	if (atomic_exchange(&R->touched, 0) == 0 && !force)
		return 0;
	return after_drop(sb, R, drop_pages(R));
}

/*
 * Write-protect every page of @R, and tell the fsm what that made of them:
 * with write-protect markers (UFFD_FEATURE_WP_UNPOPULATED on anonymous
 * memory; shmem and hugetlb always have them) untouched pages keep a marker
 * (WP_UNPOPULATED); without, the kernel layer populated them with
 * write-protected zero pages first (WP): a write is then a WP fault, not a
 * missing one.  Either way the region has something to drop at the next
 * reset.
 */
static int arm(struct uffdbox_sandbox *sb, struct sb_region *R)
{
	int rc = uffdbox_region_wp_arm(R->r);
	if (rc < 0)
		return rc;
	bool markers = uffdbox_region_mem(R->r) != UFFDBOX_MEM_ANON ||
		       (uffdbox_uffd_features(sb->u) & UFFD_FEATURE_WP_UNPOPULATED);
	size_t len = R->end - R->start;
	if (markers)
		uffdbox__sb_land(sb, UFFDBOX_FSM_PROTECT, UFFDBOX_FSM_MODE_MARKERS, R->start, len,
				 0);
	else
		uffdbox__sb_land(sb, UFFDBOX_FSM_COPY, UFFDBOX_FSM_MODE_WP, R->start, len,
				 (long)len);
	atomic_store(&R->touched, 1);
	return 0;
}

int uffdbox_sandbox_reset_region(struct uffdbox_sandbox *sb, int region, bool wp_arm)
{
	if (region < 0 || region >= atomic_load(&sb->nregions))
		return -EINVAL;
	struct sb_region *R = &sb->regions[region];
	if (atomic_load(&R->quarantined) || R->released)
		return -EINVAL;
	uffdbox__served_drain(sb);
	int rc = reset_pages(sb, R, wp_arm);
	if (rc < 0 || !wp_arm)
		return rc;
	return arm(sb, R);
}

/* process_madvise() takes at most this many ranges (UIO_MAXIOV). */
#define RESET_BATCH 1024

int uffdbox_sandbox_reset(struct uffdbox_sandbox *sb)
{
	int n = atomic_load(&sb->nregions), rc = 0;
	struct iovec iov[RESET_BATCH];
	int due[RESET_BATCH];

	/* SERVED: messages of this input still queued are handled first (as
	 * the duplicates they are), not after the drop, as faults of the
	 * next input. */
	uffdbox__served_drain(sb);
	for (int i = 0; i < n;) {
		int ndue = 0;
		for (; i < n && ndue < RESET_BATCH; i++) {
			struct sb_region *R = &sb->regions[i];
			if (atomic_load(&R->quarantined) || R->released)
				continue;
			if (atomic_exchange(&R->touched, 0) == 0)
				continue; /* nothing mapped since the last reset */
			iov[ndue] = (struct iovec){(void *)R->start, R->end - R->start};
			due[ndue++] = i;
		}
		/* Every region's pages in one call when there are several. */
		bool dropped = ndue > 1 && dontneed_batch(iov, ndue) == 0;
		for (int k = 0; k < ndue; k++) {
			struct sb_region *R = &sb->regions[due[k]];
			int err = after_drop(sb, R, dropped ? punch_pages(R) : drop_pages(R));
			if (err < 0 && rc == 0)
				rc = err;
		}
	}
	return rc;
}

/* --- the log, public side --------------------------------------------------- */

uint64_t uffdbox_sandbox_log_count(const struct uffdbox_sandbox *sb)
{
	return atomic_load(&sb->log.next);
}

int uffdbox_sandbox_log_get(const struct uffdbox_sandbox *sb, uint64_t seq,
			    struct uffdbox_record *out)
{
	return uffdbox__log_get(&sb->log, seq, out);
}

uint64_t uffdbox_sandbox_log_digest(const struct uffdbox_sandbox *sb)
{
	return uffdbox__log_digest(&sb->log);
}

static const char *region_name(const void *arg, int region)
{
	const struct uffdbox_sandbox *sb = arg;
	return region < atomic_load(&sb->nregions) ? sb->regions[region].name : "";
}

int uffdbox_sandbox_log_write(const struct uffdbox_sandbox *sb, FILE *f)
{
	return uffdbox__log_write_jsonl(&sb->log, f, region_name, sb);
}

void uffdbox_sandbox_log_reset(struct uffdbox_sandbox *sb)
{
	uffdbox__served_drain(sb);
	uffdbox__log_reset(&sb->log);
	uffdbox__tids_reset(&sb->tids);
}
