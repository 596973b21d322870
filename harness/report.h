/* SPDX-License-Identifier: MIT */
/*
 * harness/report.h - stacks for sanitizer-style reports: capture program
 * counters cheaply (libunwind, from the current frame or from a signal
 * context), symbolize them when a report is written (libdw: function,
 * file:line, module+offset).
 */
#ifndef UFFDBOX_HARNESS_REPORT_H
#define UFFDBOX_HARNESS_REPORT_H

#include <stddef.h>
#include <stdint.h>
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

#endif /* UFFDBOX_HARNESS_REPORT_H */
