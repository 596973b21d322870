/* SPDX-License-Identifier: MIT */
/* run/progcheck.h - refuse programs LD_PRELOAD cannot reach. */
#ifndef UFFDBOX_RUN_PROGCHECK_H
#define UFFDBOX_RUN_PROGCHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * 0 when PROGRAM (a path, or a name looked up in PATH as execvp does) can
 * have libuffdbox-run.so preloaded, or cannot be examined (execvp reports
 * that); -ENOEXEC with the reason and the fix in @why when it is statically
 * linked or 32-bit.
 */
int uffdbox__prog_check(const char *prog, char *why, size_t len);

#endif
