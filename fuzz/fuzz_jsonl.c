/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_jsonl.c - the event-log reader of the `uffdbox` commands
 * (run/jsonl.c): any line, accepted or refused, and what an accepted one
 * must satisfy.
 *
 * Input: one line of text (up to the first NUL or newline).  Properties:
 *   - refused: the message names a column inside the line (or one past it);
 *   - accepted: every member's key and value lie inside the line, strings
 *     keep their quotes, unescaping fits any buffer and stays terminated;
 *     each array element and each nested object parses again on its own as
 *     a member value; and the object rebuilt from its members as
 *     {"key":value,...} (blanks dropped) parses to the same members.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#define FUZZ_NAME "fuzz_jsonl"
#include "fuzz_util.h"

#define MAX_LINE 8192

/* @v (a value's raw text) as the value of a one-member object. */
NO_COV static bool value_parses(const char *v, size_t n)
{
	char *buf = malloc(n + 8);
	struct uffdbox__jrec r;
	memcpy(buf, "{\"k\":", 5);
	memcpy(buf + 5, v, n);
	buf[n + 5] = '}';
	bool ok = uffdbox__json_object(buf, n + 6, &r, NULL, 0) == 0 && r.n == 1 &&
		  r.f[0].vlen == n && memcmp(r.f[0].val, buf + 5, n) == 0;
	free(buf);
	return ok;
}

NO_COV static void check_accepted(const char *line, size_t len, const struct uffdbox__jrec *r)
{
	char small[6], big[MAX_LINE + 8];
	size_t total = 2;

	FUZZ_CHECK(r->n >= 0 && r->n <= UFFDBOX_JREC_MAX);
	for (int i = 0; i < r->n; i++) {
		const struct uffdbox__jfield *f = &r->f[i];
		FUZZ_CHECK(f->key > line && f->key + f->klen < line + len);
		FUZZ_CHECK(f->val > line && f->val + f->vlen < line + len);
		FUZZ_CHECK(f->key[-1] == '"' && f->key[f->klen] == '"');
		FUZZ_CHECK(f->vlen > 0);
		FUZZ_CHECK(uffdbox__json_get(r, "\x01never") == NULL);
		switch (f->type) {
		case UFFDBOX_J_STR:
			FUZZ_CHECK(f->vlen >= 2 && f->val[0] == '"' && f->val[f->vlen - 1] == '"');
			FUZZ_CHECK(strlen(uffdbox__json_str(f, small, sizeof(small))) <
				   sizeof(small));
			FUZZ_CHECK(strlen(uffdbox__json_str(f, big, sizeof(big))) <= f->vlen);
			break;
		case UFFDBOX_J_NUM:
			(void)uffdbox__json_int(f, 0);
			FUZZ_CHECK(f->val[0] == '-' || (f->val[0] >= '0' && f->val[0] <= '9'));
			break;
		case UFFDBOX_J_ARR: {
			const char *pos = NULL, *e;
			size_t el, count = 0;
			FUZZ_CHECK(f->val[0] == '[' && f->val[f->vlen - 1] == ']');
			while (uffdbox__json_array_next(f, &pos, &e, &el)) {
				FUZZ_CHECK(e > f->val && e + el < f->val + f->vlen);
				FUZZ_CHECK(value_parses(e, el));
				FUZZ_CHECK(++count <= f->vlen);
			}
			break;
		}
		case UFFDBOX_J_OBJ: {
			struct uffdbox__jrec inner;
			FUZZ_CHECK(f->val[0] == '{' && f->val[f->vlen - 1] == '}');
			/* deep or wide objects may exceed the member table: only a
			 * table overflow may refuse what the outer parse took */
			char err[128] = "";
			if (uffdbox__json_object(f->val, f->vlen, &inner, err, sizeof(err)) < 0)
				FUZZ_CHECK(strstr(err, "too many members") != NULL);
			break;
		}
		case UFFDBOX_J_LIT:
			FUZZ_CHECK((f->vlen == 4 && !memcmp(f->val, "true", 4)) ||
				   (f->vlen == 5 && !memcmp(f->val, "false", 5)) ||
				   (f->vlen == 4 && !memcmp(f->val, "null", 4)));
			break;
		}
		total += f->klen + f->vlen + 4;
	}
	/* Rebuilt without blanks: the same members. */
	char *re = malloc(total + 1), *p = re;
	*p++ = '{';
	for (int i = 0; i < r->n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		memcpy(p, r->f[i].key, r->f[i].klen);
		p += r->f[i].klen;
		*p++ = '"';
		*p++ = ':';
		memcpy(p, r->f[i].val, r->f[i].vlen);
		p += r->f[i].vlen;
	}
	*p++ = '}';
	struct uffdbox__jrec again;
	FUZZ_CHECK(uffdbox__json_object(re, (size_t)(p - re), &again, NULL, 0) == 0);
	FUZZ_CHECK(again.n == r->n);
	for (int i = 0; i < r->n; i++) {
		FUZZ_CHECK(again.f[i].type == r->f[i].type);
		FUZZ_CHECK(again.f[i].klen == r->f[i].klen &&
			   !memcmp(again.f[i].key, r->f[i].key, r->f[i].klen));
		FUZZ_CHECK(again.f[i].vlen == r->f[i].vlen &&
			   !memcmp(again.f[i].val, r->f[i].val, r->f[i].vlen));
	}
	free(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = 0;
	while (len < size && len < MAX_LINE && data[len] != '\n' && data[len] != '\0')
		len++;
	/* An exact-size copy: a read past the line is caught by ASan. */
	char *line = malloc(len ? len : 1);
	memcpy(line, data, len);
	struct uffdbox__jrec r;
	char err[160] = "";
	if (uffdbox__json_object(line, len, &r, err, sizeof(err)) == 0) {
		check_accepted(line, len, &r);
	} else {
		unsigned long col = 0;
		FUZZ_CHECK(sscanf(err, "column %lu: ", &col) == 1);
		FUZZ_CHECK(col >= 1 && col <= len + 1);
	}
	(void)uffdbox__blank(line, len);
	free(line);
	return 0;
}
