/* SPDX-License-Identifier: MIT */
/*
 * run/jsonl.h - reading event logs (JSON Lines, docs/event-log.md) for the
 * `uffdbox` commands: a whole file in memory, one flat view per line.
 *
 * The parser checks full JSON syntax (RFC 8259) but keeps values as slices
 * of the line: the logs' records are flat objects, and the few nested
 * values (a report's frames) are parsed again from their slice when needed.
 */
#ifndef UFFDBOX_RUN_JSONL_H
#define UFFDBOX_RUN_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum uffdbox__jtype { UFFDBOX_J_STR, UFFDBOX_J_NUM, UFFDBOX_J_LIT, UFFDBOX_J_ARR, UFFDBOX_J_OBJ };

struct uffdbox__jfield {
	const char *key; /* the key's raw bytes, without the quotes */
	const char *val; /* the raw value: a string keeps its quotes */
	uint32_t klen, vlen;
	enum uffdbox__jtype type;
};

#define UFFDBOX_JREC_MAX 48

/* One object: its members in order. */
struct uffdbox__jrec {
	int n;
	struct uffdbox__jfield f[UFFDBOX_JREC_MAX];
};

/*
 * uffdbox__json_object - parse @len bytes at @s as one JSON object (blanks
 * around it allowed) into @r.  Returns 0, or -1 with a message naming the
 * column and what was expected in @err.  More than UFFDBOX_JREC_MAX members
 * is an error too.
 */
int uffdbox__json_object(const char *s, size_t len, struct uffdbox__jrec *r, char *err,
			 size_t errlen);

/* The member named @key, or NULL. */
const struct uffdbox__jfield *uffdbox__json_get(const struct uffdbox__jrec *r, const char *key);

/* A string member unescaped into @buf (NUL-terminated, cut to fit; \u
 * escapes above 0x7f become UTF-8).  Returns @buf; "" when @f is NULL or
 * not a string. */
const char *uffdbox__json_str(const struct uffdbox__jfield *f, char *buf, size_t len);

/* An integer member; returns @dflt when @f is NULL, not an integer, or
 * out of int64_t's range. */
int64_t uffdbox__json_int(const struct uffdbox__jfield *f, int64_t dflt);

/*
 * uffdbox__json_array_next - walk the elements of an array value: start
 * with *@pos = NULL; each call sets @elem/@elen to the next element's raw
 * slice and returns true, or returns false after the last.  The array must
 * have been validated by uffdbox__json_object().
 */
bool uffdbox__json_array_next(const struct uffdbox__jfield *arr, const char **pos,
			      const char **elem, size_t *elen);

/* A file's contents, split into lines (the bytes are modified: each '\n'
 * becomes NUL). */
struct uffdbox__lines {
	char *buf;
	size_t nlines;
	char **line; /* line[i] is line i + 1 of the file */
	size_t *len;
};

/* Read all of @path ("-" is stdin).  Returns 0 or -errno. */
int uffdbox__lines_read(const char *path, struct uffdbox__lines *out);
void uffdbox__lines_free(struct uffdbox__lines *l);

/* Whether a line holds only blanks (such lines are skipped). */
bool uffdbox__blank(const char *s, size_t len);

#endif /* UFFDBOX_RUN_JSONL_H */
