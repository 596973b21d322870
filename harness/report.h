/* SPDX-License-Identifier: MIT */
/*
 * harness/report.h - stacks for sanitizer-style reports: capture program
 * counters cheaply (libunwind, from the current frame or from a signal
 * context), symbolize them when a report is written (libdw: function,
 * file:line, module+offset).
 */
#ifndef UFFDBOX_HARNESS_REPORT_H
#define UFFDBOX_HARNESS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <ucontext.h>

#define UFFDBOX_STACK_MAX 24

struct uffdbox__stack {
	uint32_t n;
	uintptr_t pc[UFFDBOX_STACK_MAX];
};

/* The caller's stack, skipping @skip innermost frames. */
void uffdbox__stack_here(struct uffdbox__stack *s, unsigned int skip);
/* The stack of the code a signal interrupted: frame 0 is the faulting PC. */
void uffdbox__stack_from_signal(struct uffdbox__stack *s, ucontext_t *uc);
/*
 * Write "    #i 0xPC in FUNC FILE:LINE (MODULE+0xOFF)" lines to @fd.  Not
 * async-signal-safe (it reads ELF and DWARF files): called on the way to
 * abort(), as sanitizers do.
 */
void uffdbox__stack_print(int fd, const struct uffdbox__stack *s);

/*
 * The same lines without symbols: "    #i 0xPC (MODULE+0xOFF)", from
 * /proc/self/maps with open/read only - async-signal-safe, for reports the
 * program survives (continue mode).  Symbolize offline (addr2line -e MODULE).
 */
void uffdbox__stack_print_raw(int fd, const struct uffdbox__stack *s);

/* For a report on the way to a crash: symbolized, except in TSan builds
 * (whose runtime can deadlock on allocation inside a synchronous signal
 * handler), which print raw frames. */
void uffdbox__stack_print_fatal(int fd, const struct uffdbox__stack *s);

/* printf to @fd through one write(2) (at most 1023 bytes): no stdio
 * buffer, usable in a signal handler as far as vsnprintf is. */
void uffdbox__say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Everything a use-after-unmap report says. */
struct uffdbox__uau {
	bool write;
	uintptr_t addr;
	uint32_t thread; /* logical id of the accessing thread */
	int32_t tid;
	const struct uffdbox__stack *access; /* NULL: not available (SERVED) */
	const char *what;		     /* "the unmapped range", "region \"x\"" */
	uintptr_t start, end;
	uint64_t unmap_seq;
	uint32_t unmap_thread;
	int32_t unmap_tid;
	const struct uffdbox__stack *unmap;
	bool aborting; /* true: symbolize (the process ends); false: raw frames */
	/* Other ways of releasing memory (zero for a use-after-unmap). */
	const char *bug;      /* NULL: "use-after-unmap"; "use-after-free" */
	const char *released; /* NULL: "unmapped"; "freed", "unloaded by dlclose" */
	bool exec;	      /* an instruction fetch (a call through a stale pointer) */
	const struct uffdbox__stack *alloc; /* where the block was allocated, or NULL */
	uint32_t alloc_thread;
	int32_t alloc_tid;
};

/* Write the sanitizer-style report: the first line names the bug class,
 * the access, the address and the thread; then where, when and by whom the
 * range was unmapped, with both stacks. */
void uffdbox__uau_report(int fd, const struct uffdbox__uau *r);

/*
 * Reports in the event log (docs/event-log.md, "report" records): each
 * report printed is also noted (async-signal-safe: a copy into a fixed
 * table of 16), and every JSON Lines log written afterwards ends with one
 * record per note, its stacks symbolized then.  uffdbox__log_reset()
 * forgets them (a new input).
 */
struct uffdbox__report_note {
	char bug[24];	   /* "use-after-unmap", "guard hit" */
	char summary[128]; /* the SUMMARY line after "uffdbox: " */
	char region[64];   /* region name, "" for an unmapped range */
	char where[8];	   /* guard hit: "before" or "after"; else "" */
	bool write;
	int64_t offset; /* bytes into the range; guard hit: bytes past it */
	uint32_t thread;
	int64_t unmap_seq;
	uint32_t unmap_thread;
	struct uffdbox__stack access, unmap; /* n == 0: not available */
};
void uffdbox__report_note(const struct uffdbox__report_note *n);
void uffdbox__report_notes_reset(void);
/* Write one "report" record per note to @f; returns how many. Not
 * async-signal-safe (symbolizes), like the fatal report itself. */
int uffdbox__report_notes_write(FILE *f);

#endif /* UFFDBOX_HARNESS_REPORT_H */
