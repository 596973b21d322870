/* SPDX-License-Identifier: MIT */
/* core/text.c - small strict text parsers (see text.h). */
#include <errno.h>
#include <stddef.h>

#include "text.h"

static int digit(char c, unsigned int base)
{
	unsigned int v;
	if (c >= '0' && c <= '9')
		v = (unsigned int)(c - '0');
	else if (c >= 'a' && c <= 'f')
		v = (unsigned int)(c - 'a') + 10;
	else if (c >= 'A' && c <= 'F')
		v = (unsigned int)(c - 'A') + 10;
	else
		return -1;
	return v < base ? (int)v : -1;
}

/* Digits of @base from @s up to the first non-digit; *@end points there,
 * whatever is returned.  Returns 0, -EINVAL (no digit), -ERANGE (the digits
 * are more than 64 bits). */
static int digits(const char *s, unsigned int base, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	bool over = false;
	int d;

	for (; (d = digit(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			over = true;
		v = v * base + (uint64_t)d;
	}
	*end = p;
	if (p == s)
		return -EINVAL;
	if (over)
		return -ERANGE;
	*out = v;
	return 0;
}

int uffdbox__parse_u64(const char *s, int base, uint64_t *out)
{
	unsigned int b = 10;
	const char *end;
	uint64_t v;

	if (!s || (base != 0 && base != 10))
		return -EINVAL;
	if (base == 0 && s[0] == '0') {
		if (s[1] == 'x' || s[1] == 'X') {
			b = 16;
			s += 2;
		} else {
			b = 8;
		}
	}
	int rc = digits(s, b, &v, &end);
	if (rc != -EINVAL && *end != '\0')
		rc = -EINVAL; /* not a number at all, however long */
	if (rc == 0)
		*out = v;
	return rc;
}

static bool skip_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

bool uffdbox__parse_maps_line(const char *l, struct uffdbox__maps_line *m)
{
	const char *p = l;
	uint64_t start, end, off, dev, ino;

	if (!l || digits(p, 16, &start, &p) || !skip_char(&p, '-') || digits(p, 16, &end, &p) ||
	    !skip_char(&p, ' '))
		return false;
	for (int i = 0; i < 4; i++, p++) {
		char c = *p;
		if (c != 'r' && c != 'w' && c != 'x' && c != 's' && c != 'p' && c != '-')
			return false;
		m->perms[i] = c;
	}
	m->perms[4] = '\0';
	if (!skip_char(&p, ' ') || digits(p, 16, &off, &p) || !skip_char(&p, ' ') ||
	    digits(p, 16, &dev, &p) || !skip_char(&p, ':') || digits(p, 16, &dev, &p) ||
	    !skip_char(&p, ' ') || digits(p, 10, &ino, &p))
		return false;
	if (*p != '\0' && *p != ' ')
		return false;
	while (*p == ' ')
		p++;
	if (start >= end || start > UINTPTR_MAX || end > UINTPTR_MAX || off > UINTPTR_MAX)
		return false;
	m->start = (uintptr_t)start;
	m->end = (uintptr_t)end;
	m->offset = (uintptr_t)off;
	m->path = p;
	return true;
}
