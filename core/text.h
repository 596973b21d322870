/* SPDX-License-Identifier: MIT */
/*
 * core/text.h - the library's small text parsers (not public): numbers from
 * the environment and the command line, lines of /proc/PID/maps.  Pure,
 * allocation-free and async-signal-safe (the maps parser runs in fault
 * reports); fuzzed by fuzz/fuzz_text.c against independent oracles.
 */
#ifndef UFFDBOX_CORE_TEXT_H
#define UFFDBOX_CORE_TEXT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * uffdbox__parse_u64 - a whole unsigned number, nothing else: base 10 takes
 * decimal digits only; base 0 takes C's forms (0x/0X hex, a leading 0 for
 * octal, else decimal).  No sign, no blanks, no trailing bytes.
 * Returns 0 and *@out, -EINVAL (not such a number; also base not 0 or 10,
 * or @s NULL), -ERANGE (more than 64 bits).  *@out is untouched on error.
 */
int uffdbox__parse_u64(const char *s, int base, uint64_t *out);

/* One line of /proc/PID/maps. */
struct uffdbox__maps_line {
	uintptr_t start, end; /* [start, end), start < end */
	uintptr_t offset;     /* file offset of start */
	char perms[5];	      /* e.g. "r-xp" */
	const char *path;     /* the rest of the line after the inode and its
			       * blanks: "" for anonymous memory */
};

/*
 * uffdbox__parse_maps_line - parse "start-end perms offset major:minor inode
 * [path]" (hex, 4 characters of [rwxsp-], hex, hex:hex, decimal).  @l ends
 * at its NUL (a trailing newline is not part of the path: strip it first).
 * Returns true and fills @m, or false when @l does not have that shape.
 */
bool uffdbox__parse_maps_line(const char *l, struct uffdbox__maps_line *m);

#endif /* UFFDBOX_CORE_TEXT_H */
