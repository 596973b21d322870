/* SPDX-License-Identifier: MIT */
/* run/jsonl.c - reading event logs (see jsonl.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonl.h"

struct parser {
	const char *s, *p, *end;
	char *err;
	size_t errlen;
	int depth;
};

static int fail(struct parser *ps, const char *what)
{
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "column %zu: %s", (size_t)(ps->p - ps->s) + 1, what);
	return -1;
}

static void blanks(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
		ps->p++;
}

static bool hex4(const char *p, const char *end, unsigned int *v)
{
	*v = 0;
	if (end - p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned int)(c - 'A' + 10);
		else
			return false;
	}
	return true;
}

static int string(struct parser *ps)
{
	ps->p++; /* the opening quote */
	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;
		if (c == '"') {
			ps->p++;
			return 0;
		}
		if (c < 0x20)
			return fail(ps, "control character in a string (escape it)");
		if (c == '\\') {
			ps->p++;
			if (ps->p >= ps->end)
				break;
			unsigned int v;
			switch (*ps->p) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				ps->p++;
				continue;
			case 'u':
				if (!hex4(ps->p + 1, ps->end, &v))
					return fail(ps, "\\u needs 4 hex digits");
				ps->p += 5;
				continue;
			default:
				return fail(ps, "unknown escape in a string");
			}
		}
		ps->p++;
	}
	return fail(ps, "unterminated string");
}

static bool digit(const struct parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static int number(struct parser *ps)
{
	if (*ps->p == '-')
		ps->p++;
	if (!digit(ps))
		return fail(ps, "a digit expected");
	if (*ps->p == '0')
		ps->p++;
	else
		while (digit(ps))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!digit(ps))
			return fail(ps, "a digit expected after '.'");
		while (digit(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digit(ps))
			return fail(ps, "a digit expected in the exponent");
		while (digit(ps))
			ps->p++;
	}
	return 0;
}

static int value(struct parser *ps, enum uffdbox__jtype *type);

static int members(struct parser *ps, struct uffdbox__jrec *r)
{
	ps->p++; /* '{' */
	blanks(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return 0;
	}
	for (;;) {
		blanks(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return fail(ps, "a member name (a string) expected");
		const char *k = ps->p + 1;
		if (string(ps) < 0)
			return -1;
		const char *kend = ps->p - 1;
		blanks(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return fail(ps, "':' expected after a member name");
		ps->p++;
		blanks(ps);
		const char *v = ps->p;
		enum uffdbox__jtype t;
		if (value(ps, &t) < 0)
			return -1;
		if (r) {
			if (r->n >= UFFDBOX_JREC_MAX)
				return fail(ps, "too many members in one record");
			r->f[r->n++] = (struct uffdbox__jfield){
				.key = k,
				.klen = (uint32_t)(kend - k),
				.val = v,
				.vlen = (uint32_t)(ps->p - v),
				.type = t,
			};
		}
		blanks(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return 0;
		}
		return fail(ps, "',' or '}' expected");
	}
}

static int elements(struct parser *ps)
{
	ps->p++; /* '[' */
	blanks(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return 0;
	}
	for (;;) {
		enum uffdbox__jtype t;
		blanks(ps);
		if (value(ps, &t) < 0)
			return -1;
		blanks(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		return fail(ps, "',' or ']' expected");
	}
}

static int literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail(ps, "a value expected (string, number, object, array, true, false, "
				"null)");
	ps->p += n;
	return 0;
}

static int value(struct parser *ps, enum uffdbox__jtype *type)
{
	int rc;

	if (ps->p >= ps->end)
		return fail(ps, "a value expected, found the end of the line");
	if (++ps->depth > 32)
		return fail(ps, "nested deeper than 32 levels");
	switch (*ps->p) {
	case '"':
		*type = UFFDBOX_J_STR;
		rc = string(ps);
		break;
	case '{':
		*type = UFFDBOX_J_OBJ;
		rc = members(ps, NULL);
		break;
	case '[':
		*type = UFFDBOX_J_ARR;
		rc = elements(ps);
		break;
	case 't':
		*type = UFFDBOX_J_LIT;
		rc = literal(ps, "true");
		break;
	case 'f':
		*type = UFFDBOX_J_LIT;
		rc = literal(ps, "false");
		break;
	case 'n':
		*type = UFFDBOX_J_LIT;
		rc = literal(ps, "null");
		break;
	default:
		*type = UFFDBOX_J_NUM;
		rc = number(ps);
		break;
	}
	ps->depth--;
	return rc;
}

int uffdbox__json_object(const char *s, size_t len, struct uffdbox__jrec *r, char *err,
			 size_t errlen)
{
	struct parser ps = {.s = s, .p = s, .end = s + len, .err = err, .errlen = errlen};

	r->n = 0;
	blanks(&ps);
	if (ps.p >= ps.end || *ps.p != '{')
		return fail(&ps, "a record must be a JSON object ('{' expected)");
	if (members(&ps, r) < 0)
		return -1;
	blanks(&ps);
	if (ps.p != ps.end)
		return fail(&ps, "text after the end of the object");
	return 0;
}

const struct uffdbox__jfield *uffdbox__json_get(const struct uffdbox__jrec *r, const char *key)
{
	size_t n = strlen(key);
	for (int i = 0; i < r->n; i++)
		if (r->f[i].klen == n && memcmp(r->f[i].key, key, n) == 0)
			return &r->f[i];
	return NULL;
}

static size_t put_utf8(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | cp >> 12);
	o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

const char *uffdbox__json_str(const struct uffdbox__jfield *f, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (!f || f->type != UFFDBOX_J_STR)
		return buf;
	const char *p = f->val + 1, *end = f->val + f->vlen - 1;
	while (p < end && o + 4 < len) {
		if (*p != '\\') {
			buf[o++] = *p++;
			continue;
		}
		p++;
		unsigned int v = 0;
		switch (*p) {
		case 'b':
			buf[o++] = '\b';
			break;
		case 'f':
			buf[o++] = '\f';
			break;
		case 'n':
			buf[o++] = '\n';
			break;
		case 'r':
			buf[o++] = '\r';
			break;
		case 't':
			buf[o++] = '\t';
			break;
		case 'u':
			hex4(p + 1, end, &v);
			o += put_utf8(buf + o, v);
			p += 4;
			break;
		default:
			buf[o++] = *p;
		}
		p++;
	}
	buf[o] = '\0';
	return buf;
}

int64_t uffdbox__json_int(const struct uffdbox__jfield *f, int64_t dflt)
{
	if (!f || f->type != UFFDBOX_J_NUM)
		return dflt;
	int64_t v = 0;
	bool neg = f->val[0] == '-';
	for (uint32_t i = neg; i < f->vlen; i++) {
		if (f->val[i] < '0' || f->val[i] > '9')
			return dflt;
		int d = f->val[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return dflt; /* past 64 bits (found by fuzz_jsonl) */
		v = v * 10 + d;
	}
	return neg ? -v : v;
}

bool uffdbox__json_array_next(const struct uffdbox__jfield *arr, const char **pos,
			      const char **elem, size_t *elen)
{
	if (!arr || arr->type != UFFDBOX_J_ARR)
		return false;
	struct parser ps = {
		.s = arr->val, .p = *pos ? *pos : arr->val + 1, .end = arr->val + arr->vlen};
	blanks(&ps);
	if (ps.p < ps.end && *ps.p == ',')
		ps.p++;
	blanks(&ps);
	if (ps.p >= ps.end || *ps.p == ']')
		return false;
	const char *v = ps.p;
	enum uffdbox__jtype t;
	if (value(&ps, &t) < 0)
		return false;
	*elem = v;
	*elen = (size_t)(ps.p - v);
	*pos = ps.p;
	return true;
}

bool uffdbox__blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int uffdbox__lines_read(const char *path, struct uffdbox__lines *out)
{
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 1 << 16, n = 0;
	char *buf;

	memset(out, 0, sizeof(*out));
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size + 1 > cap)
		cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	for (;;) {
		if (!buf) {
			close(fd);
			return -ENOMEM;
		}
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
			continue;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = -errno;
			free(buf);
			close(fd);
			return err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	size_t lines = 0;
	for (size_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	if (n && buf[n - 1] != '\n')
		lines++;
	out->buf = buf;
	out->line = malloc((lines + 1) * sizeof(*out->line));
	out->len = malloc((lines + 1) * sizeof(*out->len));
	if (!out->line || !out->len) {
		uffdbox__lines_free(out);
		return -ENOMEM;
	}
	char *p = buf, *end = buf + n;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (nl)
			*nl = '\0';
		out->line[out->nlines] = p;
		out->len[out->nlines++] = len;
		p += len + 1;
	}
	return 0;
}

void uffdbox__lines_free(struct uffdbox__lines *l)
{
	free(l->buf);
	free(l->line);
	free(l->len);
	memset(l, 0, sizeof(*l));
}
