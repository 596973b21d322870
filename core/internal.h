/* SPDX-License-Identifier: MIT */
/* core/internal.h - helpers shared by the library's files (not public). */
#ifndef UFFDBOX_CORE_INTERNAL_H
#define UFFDBOX_CORE_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

/* Is facility @bit (UFFDBOX_HIDE_*) hidden by UFFDBOX_FEATURE_MASK?  An
 * unparsable mask hides nothing here (uffdbox_uffd_open() reports it). */
bool uffdbox__hidden(uint64_t bit);

/* Format an explanation into a caller's optional error buffer. */
void uffdbox__explain(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * uffdbox__opts_copy - read a caller's options struct as the kernel's
 * copy_struct_from_user() does (sched_setattr, openat2, clone3), over the
 * defaults already in @dst (@known = sizeof *dst bytes).  @src NULL: the
 * defaults, 0.  Its .sz (the first field) smaller than @ver0, the struct's
 * first version: -EINVAL.  Larger than @known with a non-zero byte past it:
 * -E2BIG.  Else the common bytes are copied and dst's .sz is @known.  The
 * cause and the fix ("set .sz = sizeof(struct @type)") go to the caller's
 * errbuf when the struct has one at byte @errbuf_off (char *errbuf, then
 * size_t errbuf_len) and .sz reaches it (UFFDBOX__NO_ERRBUF: it has none),
 * else to @errbuf (may be NULL).
 */
#define UFFDBOX__NO_ERRBUF ((size_t)-1)
int uffdbox__opts_copy(void *dst, size_t known, size_t ver0, const void *src, const char *type,
		       size_t errbuf_off, char *errbuf, size_t errbuf_len);
/*
 * uffdbox__has_prefix - @s starts with @prefix.  A loop of our own, not
 * strncmp()/strcmp(): libFuzzer intercepts those (and memcmp) in the whole
 * process and feeds what they compare to its mutator, so uffdbox's own
 * setup (/proc/meminfo, the command line, the environment), run during the
 * first input of uffdbox_fuzz_input(), would change what the campaign
 * explores.
 */
static inline bool uffdbox__has_prefix(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

/*
 * UFFDBOX__TLS - a thread-local variable of the library: initial-exec, in
 * the static TLS block.  The default model in a shared object (general
 * dynamic) reaches the variable through __tls_get_addr(), a call per access
 * - per fault, in the signal handlers - which, in a library loaded with
 * dlopen(), allocates the thread's block on first use: malloc() in a signal
 * handler that may have interrupted malloc().  Initial-exec needs a few
 * bytes of glibc's static TLS surplus, which a dlopen()ed library may use.
 * tests/tls_model.cmake checks the built shared objects for the dynamic
 * model's relocations.
 */
#define UFFDBOX__TLS __thread __attribute__((tls_model("initial-exec")))

/* offsetof the byte after @field: a struct version's size. */
#define UFFDBOX__OFFSETOFEND(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The x86-64 page-fault error code in a signal context: bit 0 set when the
 * page was present (a protection fault), bit 1 for a write.  Elsewhere:
 * unknown, reported as a read of a present page. */
static inline bool uffdbox__fault_write(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
	(void)uc;
	return false;
#endif
}

static inline bool uffdbox__fault_present(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uc->uc_mcontext.gregs[REG_ERR] & 1) != 0;
#else
	(void)uc;
	return true;
#endif
}

/*
 * Hand a signal that is not ours to the disposition installed before us: a
 * SA_SIGINFO or plain handler is called; SIG_IGN returns (for a fault the
 * access simply happens again); SIG_DFL is restored, so that the retried
 * access dies of the signal as it would have without us.
 */
void uffdbox__chain_signal(const struct sigaction *old, int sig, siginfo_t *si, void *uc);

/*
 * Move @fd out of the program's way: to a close-on-exec descriptor near the
 * RLIMIT_NOFILE soft limit (capped at 65536, so that the descriptor table -
 * copied at every fork - stays small), where close loops over "the low
 * descriptors", dup2() onto 3, 4... and fd-numbering assumptions do not
 * reach it.  Returns the new descriptor (the old one is closed), or @fd
 * unchanged when no high slot is free.
 */
int uffdbox__fd_high(int fd);

/*
 * uffdbox__map_aside - @len bytes of private anonymous memory for uffdbox's
 * own bookkeeping, placed apart from the program's (harness/snapshot.c);
 * NULL on failure.  Free with munmap().
 */
void *uffdbox__map_aside(size_t len);

struct uffdbox_snapshot;
/*
 * Range @i of snapshot @s: its bounds and the copy taken of it (persist.c
 * compares with it and rebuilds from it).  0, or -ENOENT past the last.
 */
int uffdbox__snapshot_range(const struct uffdbox_snapshot *s, int i, uintptr_t *start,
			    uintptr_t *end, const char **shadow);

/*
 * uffdbox_snapshot_restore() of the ranges whose bit is set in @which (bit
 * i: range i); in WP_ASYNC mode the others are skipped, so the caller
 * must know nothing was written or dropped there (persist.c finds out for
 * all its snapshots with one scan).  Other modes restore every range.
 */
ssize_t uffdbox__snapshot_restore_some(struct uffdbox_snapshot *s, uint64_t which);
struct page_region;
/*
 * uffdbox__snapshot_restore_runs - restore range @i of a WP_ASYNC adaptive
 * snapshot from @runs, the written pages a PAGEMAP_SCAN of the caller's
 * found in it (sorted, inside the range): the range's own scan is saved.
 * Hot pages must be among them (they are: unprotected, they read as
 * written).  Returns the pages copied back; -EOPNOTSUPP in another mode
 * (use _restore_some), -EINVAL for a run outside the range.
 */
ssize_t uffdbox__snapshot_restore_runs(struct uffdbox_snapshot *s, int i,
				       const struct page_region *runs, int n);
/*
 * uffdbox__snapshot_registered - WP_SYNC, after a restore: is range @i's
 * mapping still the registered one (not replaced in place by another as
 * large, where writes raise no fault)?  1 yes, 0 no, -EOPNOTSUPP in
 * another mode, or -errno.  One ioctl.
 */
int uffdbox__snapshot_registered(struct uffdbox_snapshot *s, int i);

/* Does snapshot @s track writes through the signal backend (no userfaultfd:
 * protection changes and SIGSEGV)? */
bool uffdbox__snapshot_signals(const struct uffdbox_snapshot *s);

struct uffdbox_region;
/* uffdbox__region_span - the region's whole reservation: body and guards. */
void uffdbox__region_span(const struct uffdbox_region *r, void **base, size_t *total);

/* uffdbox__persist_taken - a whole-target snapshot is taken in this process. */
bool uffdbox__persist_taken(void);
/* uffdbox__persist_restores - a restore puts [addr, addr+len) back (it is
 * snapshotted and not kept). */
bool uffdbox__persist_restores(const void *addr, size_t len);

#endif /* UFFDBOX_CORE_INTERNAL_H */
