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
#include <unistd.h>

#include "uffdbox/compat.h"
#include "hash.h"
#include "sandbox_int.h"

__attribute__((format(printf, 3, 4))) static void explain(char *buf, size_t len, const char *fmt,
							  ...)
{
	if (!buf || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static const struct uffdbox_sandbox_opts default_opts = {.sz = sizeof(default_opts)};

int uffdbox_sandbox_new(const struct uffdbox_sandbox_opts *opts, struct uffdbox_sandbox **out)
{
	struct uffdbox_sandbox_opts o = default_opts;
	int rc;

	*out = NULL;
	if (opts)
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	if (o.transport != UFFDBOX_TRANSPORT_SYNC && o.transport != UFFDBOX_TRANSPORT_SERVED)
		return -EINVAL;
	if (o.transport == UFFDBOX_TRANSPORT_SYNC && (o.noncooperative || o.busy_poll)) {
		explain(o.errbuf, o.errbuf_len,
			"non-cooperative events and busy polling need the SERVED transport: their "
			"callers block until a reader takes the message");
		return -EINVAL;
	}
	struct uffdbox_sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->transport = o.transport;
	sb->busy_poll = o.busy_poll;
	sb->noncooperative = o.noncooperative;
	sb->watchdog_ms = o.watchdog_ms ? o.watchdog_ms : 10000;
	sb->stop_fd = -1;
	pthread_mutex_init(&sb->mu, NULL);
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
	rc = o.transport == UFFDBOX_TRANSPORT_SYNC ? uffdbox__sync_install(sb)
						   : uffdbox__served_start(sb);
	if (rc < 0) {
		if (rc == -EBUSY)
			explain(o.errbuf, o.errbuf_len,
				"another SYNC sandbox owns the SIGBUS handler; free it first");
		goto fail;
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
	if (sb->transport == UFFDBOX_TRANSPORT_SYNC)
		uffdbox__sync_uninstall(sb);
	else
		uffdbox__served_stop(sb); /* releases paused threads */
	int n = atomic_load(&sb->nregions);
	for (int i = 0; i < n; i++) {
		struct sb_region *R = &sb->regions[i];
		uffdbox_region_free(R->r);
		free((void *)R->state);
		if (R->scratch)
			munmap(R->scratch, SB_SCRATCH * R->psz);
	}
	/* Closing the uffd wakes any thread still waiting on it. */
	uffdbox_uffd_close(sb->u);
	if (sb->zeros)
		munmap((void *)sb->zeros, sb->zeros_len);
	uffdbox__log_fini(&sb->log);
	pthread_mutex_destroy(&sb->mu);
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

static void set_policy(struct sb_region *R, const struct uffdbox_policy *p)
{
	struct uffdbox_policy n = {.sz = sizeof(n)};
	if (p)
		memcpy(&n, p, p->sz < sizeof(n) ? p->sz : sizeof(n));
	n.sz = sizeof(n);
	R->pol = n;
}

int uffdbox_sandbox_add_region(struct uffdbox_sandbox *sb, const struct uffdbox_region_opts *opts,
			       const struct uffdbox_policy *policy)
{
	struct uffdbox_region_opts o = {.sz = sizeof(o)};
	int n = atomic_load(&sb->nregions), rc;

	if (!opts)
		return -EINVAL;
	if (n == SB_MAX_REGIONS)
		return -ENOSPC;
	memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	o.modes |= UFFDBOX_REG_MISSING;
	if ((o.modes & UFFDBOX_REG_WP) &&
	    !(uffdbox_uffd_features(sb->u) & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		return -UFFDBOX_E_NOFEATURE;

	struct sb_region *R = &sb->regions[n];
	memset(R, 0, sizeof(*R));
	R->modes = o.modes;
	struct uffdbox_policy p = {.sz = sizeof(p)};
	if (policy)
		memcpy(&p, policy, policy->sz < sizeof(p) ? policy->sz : sizeof(p));
	rc = uffdbox_region_new(sb->u, &o, &R->r);
	if (rc < 0)
		return rc;
	R->start = (uintptr_t)uffdbox_region_addr(R->r);
	R->end = R->start + uffdbox_region_len(R->r);
	R->psz = uffdbox_region_page_size(R->r);
	R->can_zeropage = (uffdbox_region_ioctls(R->r) & (1ULL << _UFFDIO_ZEROPAGE)) != 0;
	snprintf(R->name, sizeof(R->name), "%s", uffdbox_region_name(R->r));
	rc = check_policy(sb, R, &p);
	if (rc < 0)
		goto fail;
	set_policy(R, &p);
	rc = -ENOMEM;
	R->state = calloc(uffdbox_region_pages(R->r), 1);
	if (!R->state)
		goto fail;
	R->scratch = mmap(NULL, SB_SCRATCH * R->psz, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (R->scratch == MAP_FAILED) {
		R->scratch = NULL;
		rc = -errno;
		goto fail;
	}
	/* One read-only zero mapping serves every region: a source of zeros
	 * for UFFDIO_COPY where ZEROPAGE does not apply (hugetlb, WP). */
	if (R->psz > sb->zeros_len) {
		if (n > 0 && sb->zeros) {
			rc = -EINVAL; /* not swapped under running regions */
			if (sb->zeros_len < R->psz)
				goto fail;
		}
		void *z = mmap(NULL, R->psz, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (z == MAP_FAILED) {
			rc = -errno;
			goto fail;
		}
		sb->zeros = z;
		sb->zeros_len = R->psz;
	}
	R->zero_digest = uffdbox__hash(sb->zeros, R->psz, 0);
	atomic_store(&sb->nregions, n + 1);
	return n;
fail:
	uffdbox_region_free(R->r);
	free((void *)R->state);
	if (R->scratch)
		munmap(R->scratch, SB_SCRATCH * R->psz);
	memset(R, 0, sizeof(*R));
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
	struct uffdbox_policy p = {.sz = sizeof(p)};
	if (region < 0 || region >= atomic_load(&sb->nregions))
		return -EINVAL;
	if (policy)
		memcpy(&p, policy, policy->sz < sizeof(p) ? policy->sz : sizeof(p));
	int rc = check_policy(sb, &sb->regions[region], &p);
	if (rc < 0)
		return rc;
	set_policy(&sb->regions[region], &p);
	return 0;
}

int uffdbox_sandbox_reset_region(struct uffdbox_sandbox *sb, int region, bool wp_arm)
{
	if (region < 0 || region >= atomic_load(&sb->nregions))
		return -EINVAL;
	struct sb_region *R = &sb->regions[region];
	size_t pages = (R->end - R->start) / R->psz;
	/* A poisoned page stays poisoned through MADV_DONTNEED on some memory;
	 * drop markers by zapping the whole range. */
	if (madvise((void *)R->start, R->end - R->start, MADV_DONTNEED) < 0)
		return -errno;
	if (R->r && uffdbox_region_mem(R->r) != UFFDBOX_MEM_ANON) {
		/* Shared memory keeps its pages in the page cache: punch them
		 * out, or they would map again without a missing fault. */
		if (fallocate(uffdbox_region_memfd(R->r),
			      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			      (off_t)(R->end - R->start)) < 0)
			return -errno;
	}
	for (size_t i = 0; i < pages; i++)
		atomic_store_explicit(&R->state[i], SB_PAGE_MISSING, memory_order_relaxed);
	if (wp_arm)
		return uffdbox_region_wp_arm(R->r);
	return 0;
}

/* --- the pipeline ------------------------------------------------------- */

int uffdbox__sb_find(struct uffdbox_sandbox *sb, uintptr_t addr)
{
	int n = atomic_load_explicit(&sb->nregions, memory_order_acquire);
	for (int i = 0; i < n; i++)
		if (addr >= sb->regions[i].start && addr < sb->regions[i].end)
			return i;
	return -1;
}

uint32_t uffdbox__sb_thread_id(struct uffdbox_sandbox *sb, int32_t tid)
{
	uint32_t n = atomic_load_explicit(&sb->ntids, memory_order_acquire);

	if (tid == 0)
		return 0;
	for (;;) {
		for (uint32_t i = 0; i < n && i < SB_MAX_THREADS; i++)
			if (atomic_load_explicit(&sb->tids[i], memory_order_acquire) == tid)
				return i + 1;
		if (n >= SB_MAX_THREADS)
			return SB_MAX_THREADS + 1; /* "many": still deterministic per run */
		/* Claim slot n; if another thread got there first, look again. */
		if (atomic_compare_exchange_strong(&sb->ntids, &n, n + 1)) {
			atomic_store_explicit(&sb->tids[n], tid, memory_order_release);
			return n + 1;
		}
	}
}

void uffdbox__sb_record(struct uffdbox_sandbox *sb, uint8_t kind, int region, uint64_t page,
			uint32_t offset, uint64_t len, uint8_t access, uint32_t thread, uint8_t res,
			uint64_t digest)
{
	struct uffdbox_record r = {
		.page = page,
		.digest = digest,
		.len = len,
		.offset = offset,
		.region = region,
		.thread = thread,
		.kind = kind,
		.access = access,
		.resolution = res,
	};
	uffdbox__log_append(&sb->log, &r);
}

static char *claim_scratch(struct sb_region *R, unsigned int *slot)
{
	for (;;) {
		uint32_t busy = atomic_load(&R->scratch_busy);
		if (busy == UINT32_MAX)
			continue; /* 32 concurrent faults in one region: wait */
		unsigned int i = (unsigned int)__builtin_ctz(~busy);
		if (atomic_compare_exchange_weak(&R->scratch_busy, &busy, busy | (1u << i))) {
			*slot = i;
			return R->scratch + (size_t)i * R->psz;
		}
	}
}

static void release_scratch(struct sb_region *R, unsigned int slot)
{
	atomic_fetch_and(&R->scratch_busy, ~(1u << slot));
}

/* Fill @dst with the source's bytes for page @page; returns the resolution. */
static enum uffdbox_resolution fill_page(struct sb_region *R, int ri, uint64_t page, char *dst)
{
	const struct uffdbox_policy *p = &R->pol;
	size_t psz = R->psz;
	uint64_t base = page * psz;

	switch (p->source) {
	case UFFDBOX_SOURCE_PATTERN: {
		const unsigned char *pat = p->data;
		size_t phase = (size_t)(base % p->data_len);
		for (size_t i = 0; i < psz; i++) {
			dst[i] = (char)pat[phase];
			if (++phase == p->data_len)
				phase = 0;
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

/*
 * Map page @page of region @ri with @src (NULL: the region's source) and say
 * how it went.  -EEXIST (a racing resolution) wakes the waiters and reports
 * EXISTS; -ENOENT/-ESRCH report GONE; -EAGAIN is returned for a retry.
 */
static int inject(struct uffdbox_sandbox *sb, int ri, uint64_t page, const void *src, bool wp,
		  enum uffdbox_resolution *res, uint64_t *digest)
{
	struct sb_region *R = &sb->regions[ri];
	void *dst = (void *)(R->start + page * R->psz);
	unsigned int slot = 0;
	char *buf = NULL;
	ssize_t r;

	if (src) {
		*res = UFFDBOX_RES_RELEASED;
	} else if (R->pol.source == UFFDBOX_SOURCE_ZERO) {
		*res = UFFDBOX_RES_ZERO;
		src = sb->zeros;
	} else {
		buf = claim_scratch(R, &slot);
		*res = fill_page(R, ri, page, buf);
		src = buf;
	}
	*digest = src == sb->zeros ? R->zero_digest : uffdbox__hash(src, R->psz, 0);
	/* Never wake here: the record must exist before the faulting thread
	 * runs on (see wake_after_record()). */
	if (src == sb->zeros && !wp && R->can_zeropage)
		r = uffdbox_uffd_zeropage(sb->u, dst, R->psz, UFFDBOX_DONTWAKE);
	else
		r = uffdbox_uffd_copy(sb->u, dst, src, R->psz,
				      UFFDBOX_DONTWAKE | (wp ? UFFDBOX_MAP_WP : 0));
	if (buf)
		release_scratch(R, slot);
	if (r == (ssize_t)R->psz) {
		atomic_store_explicit(&R->state[page], wp ? SB_PAGE_WP : SB_PAGE_PRESENT,
				      memory_order_relaxed);
		return 0;
	}
	if (r == -EEXIST) {
		*res = UFFDBOX_RES_EXISTS;
		*digest = 0;
		return 0;
	}
	if (r == -EAGAIN)
		return -EAGAIN;
	if (r == -ENOENT || r == -ESRCH) {
		*res = UFFDBOX_RES_GONE;
		*digest = 0;
		return 0;
	}
	return r < 0 ? (int)r : -EIO;
}

/*
 * Resolutions are made with DONTWAKE and the thread woken only once its
 * record is in the log: a test that reads the log right after the access
 * returns sees it.  (SYNC: the faulting thread is the one running; there is
 * nobody to wake.)
 */
static void wake_after_record(struct uffdbox_sandbox *sb, void *pg, size_t len)
{
	if (sb->transport == UFFDBOX_TRANSPORT_SERVED)
		uffdbox_uffd_wake(sb->u, pg, len);
}

static bool is_wp_fault(const struct sb_region *R, const struct sb_fault *f, uint64_t page)
{
	if (f->wp)
		return true;
	/* SIGBUS does not say why: a write to a page we mapped protected is a
	 * WP fault, anything else a missing one. */
	return f->write &&
	       atomic_load_explicit(&R->state[page], memory_order_relaxed) == SB_PAGE_WP;
}

enum sb_outcome uffdbox__sb_handle_fault(struct uffdbox_sandbox *sb, const struct sb_fault *f)
{
	int ri = uffdbox__sb_find(sb, f->addr);
	if (ri < 0)
		return SB_NOT_OURS;
	struct sb_region *R = &sb->regions[ri];
	uint64_t page = (f->addr - R->start) / R->psz;
	uint32_t offset = (uint32_t)((f->addr - R->start) % R->psz);
	uint8_t access = f->write ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ;
	uint8_t state = atomic_load_explicit(&R->state[page], memory_order_relaxed);
	enum uffdbox_resolution res = UFFDBOX_RES_NONE;
	uint64_t digest = 0;
	uint8_t kind;
	int rc = 0;

	/* A poisoned page's SIGBUS belongs to the target: it is the injected
	 * memory fault. */
	if (state == SB_PAGE_POISONED && !f->wp)
		return SB_NOT_OURS;
	uint32_t thread = uffdbox__sb_thread_id(sb, f->tid);
	void *pg = (void *)(R->start + page * R->psz);

	if (is_wp_fault(R, f, page)) {
		kind = UFFDBOX_EV_WP;
		if (R->pol.on_wp)
			R->pol.on_wp(R->pol.on_wp_arg, ri, page, pg, R->psz);
		if (R->pol.wp == UFFDBOX_WP_PAUSE && sb->transport == UFFDBOX_TRANSPORT_SERVED)
			return SB_HELD;
		rc = uffdbox_uffd_writeprotect(sb->u, pg, R->psz, false, UFFDBOX_DONTWAKE);
		if (rc == -EAGAIN)
			return SB_RETRY;
		res = rc == 0 ? UFFDBOX_RES_UNPROTECT
			      : (rc == -ENOENT || rc == -ESRCH ? UFFDBOX_RES_GONE
							       : UFFDBOX_RES_NONE);
		if (rc == 0)
			atomic_store_explicit(&R->state[page], SB_PAGE_PRESENT,
					      memory_order_relaxed);
	} else {
		kind = f->minor ? UFFDBOX_EV_MINOR : UFFDBOX_EV_MISSING;
		switch (R->pol.action) {
		case UFFDBOX_POLICY_ABORT:
			report_abort(R, page, offset, f->write);
			break;
		case UFFDBOX_POLICY_PAUSE:
			return SB_HELD;
		case UFFDBOX_POLICY_POISON: {
			ssize_t r = uffdbox_uffd_poison(sb->u, pg, R->psz, UFFDBOX_DONTWAKE);
			if (r == -EAGAIN)
				return SB_RETRY;
			if (r == (ssize_t)R->psz) {
				atomic_store_explicit(&R->state[page], SB_PAGE_POISONED,
						      memory_order_relaxed);
				res = UFFDBOX_RES_POISON;
			} else if (r == -EEXIST) {
				res = UFFDBOX_RES_EXISTS;
			} else {
				res = UFFDBOX_RES_GONE;
			}
			break;
		}
		default:
			rc = inject(sb, ri, page, NULL, R->pol.action == UFFDBOX_POLICY_INJECT_WP,
				    &res, &digest);
			if (rc == -EAGAIN)
				return SB_RETRY;
		}
	}
	uffdbox__sb_record(sb, kind, ri, page, offset, R->psz, access, thread, (uint8_t)res,
			   digest);
	wake_after_record(sb, pg, R->psz);
	return SB_DONE;
}

int uffdbox__sb_resolve_held(struct uffdbox_sandbox *sb, const struct sb_paused *pz,
			     const void *contents, enum uffdbox_resolution res, uint8_t kind)
{
	struct sb_region *R = &sb->regions[pz->p.region];
	void *pg = (void *)pz->page_addr;
	enum uffdbox_resolution got = res;
	uint64_t digest = 0;
	int rc;

	if (pz->p.kind == UFFDBOX_EV_WP) {
		/* A WP fault's page already has contents (the target's): release
		 * only lets the write through; @contents is not used. */
		rc = uffdbox_uffd_writeprotect(sb->u, pg, R->psz, false, UFFDBOX_DONTWAKE);
		if (rc == 0)
			atomic_store_explicit(&R->state[pz->p.page], SB_PAGE_PRESENT,
					      memory_order_relaxed);
		else if (rc == -ENOENT || rc == -ESRCH)
			got = UFFDBOX_RES_GONE, rc = 0;
	} else {
		const void *src = contents;
		if (!src && res == UFFDBOX_RES_TIMEOUT)
			src = sb->zeros;
		rc = inject(sb, pz->p.region, pz->p.page, src,
			    R->pol.action == UFFDBOX_POLICY_INJECT_WP, &got, &digest);
		if (rc == 0 && got != UFFDBOX_RES_EXISTS && got != UFFDBOX_RES_GONE)
			got = res;
	}
	if (rc < 0)
		return rc;
	uffdbox__sb_record(sb, kind, pz->p.region, pz->p.page, pz->offset, R->psz, pz->p.access,
			   pz->p.thread, (uint8_t)got, digest);
	wake_after_record(sb, pg, R->psz);
	return 0;
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
	return atomic_load(&sb->log.digest);
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
	uffdbox__log_reset(&sb->log);
	for (uint32_t i = 0; i < SB_MAX_THREADS; i++)
		atomic_store_explicit(&sb->tids[i], 0, memory_order_relaxed);
	atomic_store(&sb->ntids, 0);
}
