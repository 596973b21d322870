/* SPDX-License-Identifier: MIT */
/*
 * bench/raw_handler.h - the baselines the transports are measured
 * against: the smallest userfaultfd handlers that do the same job.  One uffd,
 * one registered anonymous region, and either a handler thread that reads one
 * message at a time and answers it with UFFDIO_COPY of a prepared page (the
 * shape of the userfaultfd(2) man page example), or a SIGBUS handler that
 * does the same copy in the faulting thread.  No log, no policy, no
 * watchdog: whatever uffdbox costs on top of this is its overhead.
 */
#ifndef UFFDBOX_BENCH_RAW_HANDLER_H
#define UFFDBOX_BENCH_RAW_HANDLER_H

#include <stddef.h>
#include <stdint.h>

enum raw_mode {
	RAW_POLL = 0,	 /* thread sleeping in poll() on the uffd and a stop eventfd */
	RAW_BUSY = 1,	 /* thread spinning on non-blocking read() */
	RAW_SIGBUS = 2,	 /* UFFD_FEATURE_SIGBUS: the faulting thread resolves its
			 * own fault in a SIGBUS handler, DONTWAKE (nobody waits) */
	RAW_SIGSEGV = 3, /* no userfaultfd: the pages are PROT_NONE, and a
			  * SIGSEGV handler makes the faulting page writable
			  * and copies it in (what libsigsegv-style code does;
			  * the baseline of the signal backend) */
};

struct raw_handler;

/*
 * raw_handler_start - open a uffd, map @pages anonymous pages, register them
 * for MISSING faults and start the handler thread (or install the SIGBUS
 * handler), which fills every faulting page with @fill bytes.  One
 * RAW_SIGBUS or RAW_SIGSEGV handler at a time (-EBUSY); it must not coexist
 * with a SYNC sandbox (both own the signal).
 * Returns 0 and *out, or -errno (-EPERM/-EACCES: userfaultfd not allowed to
 * this process; -ENOSYS: no userfaultfd at all).
 * Ownership: stop and free with raw_handler_stop().
 */
int raw_handler_start(enum raw_mode mode, size_t pages, unsigned char fill,
		      struct raw_handler **out);

/* Start of the registered pages. */
char *raw_handler_addr(const struct raw_handler *h);

/* Stop the thread (or restore the previous SIGBUS action), unregister,
 * unmap, close.  Returns the number of faults the handler resolved (0 for
 * NULL). */
uint64_t raw_handler_stop(struct raw_handler *h);

#endif /* UFFDBOX_BENCH_RAW_HANDLER_H */
