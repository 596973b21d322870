/* SPDX-License-Identifier: MIT */
/* tests/test_text.c - the small text parsers (core/text): numbers from the
 * environment and command line, lines of /proc/PID/maps. */
#include "test.h"

#include <stdio.h>

#include "text.h"

static void num_ok(const char *s, int base, uint64_t want)
{
	uint64_t v = 12345;
	int rc = uffdbox__parse_u64(s, base, &v);
	if (rc != 0 || v != want)
		test_fail(__FILE__, __LINE__,
			  "parse_u64(\"%s\", %d) = %d, %" PRIu64 "; want %" PRIu64, s, base, rc, v,
			  want);
}

static void num_bad(const char *s, int base, int want)
{
	uint64_t v = 12345;
	int rc = uffdbox__parse_u64(s, base, &v);
	if (rc != want || v != 12345)
		test_fail(__FILE__, __LINE__,
			  "parse_u64(\"%s\", %d) = %d (value %" PRIu64 "); want %d", s, base, rc, v,
			  want);
}

TEST_CASE(text_parse_u64, TMEM_NONE, 0)
{
	num_ok("0", 10, 0);
	num_ok("007", 10, 7); /* base 10: leading zeros are decimal */
	num_ok("18446744073709551615", 10, UINT64_MAX);
	num_ok("0x8000", 0, 0x8000);
	num_ok("0X1e000", 0, 0x1e000);
	num_ok("0", 0, 0);
	num_ok("017", 0, 15); /* base 0: octal */
	num_ok("0xffffffffffffffff", 0, UINT64_MAX);
	num_ok("0x0000000000000000000001", 0, 1); /* leading zeros are not overflow */
	num_bad("18446744073709551616", 10, -ERANGE);
	num_bad("0x10000000000000000", 0, -ERANGE);
	num_bad("", 10, -EINVAL);
	num_bad("", 0, -EINVAL);
	num_bad("0x", 0, -EINVAL);
	num_bad("08", 0, -EINVAL);
	num_bad("0x8000", 10, -EINVAL);
	num_bad(" 1", 10, -EINVAL);
	num_bad("\t1", 0, -EINVAL); /* strtoull would skip it */
	num_bad("1 ", 10, -EINVAL);
	num_bad("+1", 10, -EINVAL);
	num_bad("-1", 0, -EINVAL); /* strtoull would wrap it */
	num_bad("1k", 10, -EINVAL);
	num_bad("12", 16, -EINVAL); /* unsupported base */
	num_bad(NULL, 10, -EINVAL);
}

TEST_CASE(text_parse_maps_line, TMEM_NONE, 0)
{
	struct uffdbox__maps_line m;

	ASSERT(uffdbox__parse_maps_line(
		"55d0c8a00000-55d0c8a21000 r-xp 00002000 fe:01 1835017                    "
		"/usr/bin/sort (deleted)",
		&m));
	ASSERT_UEQ(m.start, 0x55d0c8a00000);
	ASSERT_UEQ(m.end, 0x55d0c8a21000);
	ASSERT_UEQ(m.offset, 0x2000);
	ASSERT_STR_EQ(m.perms, "r-xp");
	ASSERT_STR_EQ(m.path, "/usr/bin/sort (deleted)"); /* blanks inside kept */
	ASSERT(uffdbox__parse_maps_line("7f0000000000-7f0000001000 rw-s 00000000 00:00 0", &m));
	ASSERT_STR_EQ(m.path, "");
	ASSERT(uffdbox__parse_maps_line("7f0000000000-7f0000001000 ---p 00000000 00:00 0 ", &m));
	ASSERT_STR_EQ(m.path, "");

	static const char *const bad[] = {
		"",
		"zz",
		"1000-2000",
		"1000-2000 ",
		"2000-1000 r-xp 0 00:00 0",			      /* inverted */
		"1000-1000 r-xp 0 00:00 0",			      /* empty */
		"1000-2000 rwq 0 00:00 0",			      /* perms */
		"1000-2000 r-xpp 0 00:00 0",			      /* perms */
		"1000-2000 r-xp  0 00:00 0",			      /* two blanks */
		"1000-2000 r-xp 0 0000 0",			      /* dev */
		"1000-2000 r-xp 0 00:00 x",			      /* inode */
		"1000-2000 r-xp 0 00:00 12a /lib",		      /* inode */
		"-1000-2000 r-xp 0 00:00 0",			      /* sign */
		"10000000000000000-20000000000000000 r-xp 0 00:00 0", /* 65 bits */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (uffdbox__parse_maps_line(bad[i], &m))
			test_fail(__FILE__, __LINE__, "maps line \"%s\" accepted", bad[i]);

	/* Every line of this process's own maps parses, in order. */
	FILE *f = fopen("/proc/self/maps", "r");
	ASSERT(f != NULL);
	char line[1024];
	uintptr_t last = 0;
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!uffdbox__parse_maps_line(line, &m))
			test_fail(__FILE__, __LINE__, "own maps line \"%s\" rejected", line);
		ASSERT(m.start >= last); /* unsigned: [vsyscall] is at the top */
		last = m.end;
		n++;
	}
	fclose(f);
	ASSERT_GT(n, 5);
}
