/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_text.c - the small text parsers of core/text against oracles
 * written differently: character classes with strspn(), 128-bit arithmetic.
 *
 * Input: one selector byte (0 decimal number, 1 C-style number, 2 a line of
 * /proc/PID/maps; taken modulo 3), then the text (up to its first NUL).
 * Any disagreement aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#define FUZZ_NAME "fuzz_text"
#include "fuzz_util.h"

#define MAX_TEXT 4096

static const char DEC[] = "0123456789", OCT[] = "01234567", HEX[] = "0123456789abcdefABCDEF";

/* The value of @n digits of @s in @base, or -1 past 64 bits. */
static __int128 value(const char *s, size_t n, unsigned int base)
{
	unsigned __int128 v = 0;
	for (size_t i = 0; i < n; i++) {
		const char *d = strchr(HEX, s[i]);
		unsigned int dv = (unsigned int)(d - HEX);
		if (dv >= 16)
			dv -= 6; /* upper case */
		v = v * base + dv;
		if (v > UINT64_MAX)
			return -1;
	}
	return (__int128)v;
}

/* Oracle: what parse_u64 must return for @s. */
static int expect_u64(const char *s, int base, uint64_t *v)
{
	size_t len = strlen(s);
	const char *digits = s;
	const char *set = DEC;
	unsigned int b = 10;

	if (base == 0 && len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		digits = s + 2, set = HEX, b = 16;
	} else if (base == 0 && len >= 1 && s[0] == '0') {
		set = OCT, b = 8;
	}
	size_t n = strlen(digits);
	if (n == 0 || strspn(digits, set) != n)
		return -22; /* -EINVAL */
	__int128 x = value(digits, n, b);
	if (x < 0)
		return -34; /* -ERANGE */
	*v = (uint64_t)x;
	return 0;
}

static void check_u64(const char *s, int base)
{
	uint64_t got = 0xdeadbeef, want = 0;
	int rc = uffdbox__parse_u64(s, base, &got);
	int erc = expect_u64(s, base, &want);
	FUZZ_CHECK(rc == erc);
	if (rc == 0)
		FUZZ_CHECK(got == want);
	else
		FUZZ_CHECK(got == 0xdeadbeef);
}

/* The oracle's steps over a maps line, each false when the text is not
 * what it wants (then *@p is of no further use). */

/* One or more digits of @set, whose value in @base fits in 64 bits (leading
 * zeros included, however many): stored in *@out if not NULL. */
static bool num(const char **p, const char *set, unsigned int base, uint64_t *out)
{
	size_t n = strspn(*p, set);
	__int128 v = n ? value(*p, n, base) : -1;
	if (v < 0)
		return false;
	if (out)
		*out = (uint64_t)v;
	*p += n;
	return true;
}

static bool lit(const char **p, char c)
{
	return *(*p)++ == c;
}

static bool perms(const char **p)
{
	if (strspn(*p, "rwxsp-") < 4)
		return false;
	*p += 4;
	return true;
}

static void check_maps(const char *s)
{
	struct uffdbox__maps_line m;
	bool ok = uffdbox__parse_maps_line(s, &m);

	/* start-end perms offset dev:dev inode[ path] */
	const char *p = s;
	uint64_t start = 0, end = 0, off = 0;
	bool want = num(&p, HEX, 16, &start) && lit(&p, '-') && num(&p, HEX, 16, &end) &&
		    lit(&p, ' ') && perms(&p) && lit(&p, ' ') && num(&p, HEX, 16, &off) &&
		    lit(&p, ' ') && num(&p, HEX, 16, NULL) && lit(&p, ':') &&
		    num(&p, HEX, 16, NULL) && lit(&p, ' ') && num(&p, DEC, 10, NULL) &&
		    (*p == '\0' || *p == ' ') && start < end;
	FUZZ_CHECK(ok == want);
	if (!ok)
		return;
	p += strspn(p, " ");
	FUZZ_CHECK(m.start == start && m.end == end && m.offset == off);
	FUZZ_CHECK(m.path == p);
	FUZZ_CHECK(strlen(m.perms) == 4 && strspn(m.perms, "rwxsp-") == 4);
	FUZZ_CHECK(memcmp(m.perms, strchr(s, ' ') + 1, 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[MAX_TEXT + 1];
	if (size < 1)
		return 0;
	size_t n = size - 1 < MAX_TEXT ? size - 1 : MAX_TEXT;
	memcpy(text, data + 1, n);
	text[n] = '\0';
	switch (data[0] % 3) {
	case 0:
		check_u64(text, 10);
		break;
	case 1:
		check_u64(text, 0);
		break;
	default:
		check_maps(text);
	}
	return 0;
}
