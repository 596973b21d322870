/* SPDX-License-Identifier: MIT */
/*
 * tests/test_report.c - the symbolizer (libdw) is not in the process until a
 * report needs it (harness/dwload.c), and then it names the frames; linked
 * (-DUFFDBOX_LIBDW=link) it is there from the start.
 */
#include "test.h"

#include <fcntl.h>
#include <unistd.h>

#include "dwload.h"
#include "report.h"

/* Is a mapping of libdw in this process? */
static bool libdw_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;
	ASSERT(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libdw"))
			found = true;
	fclose(f);
	return found;
}

static __attribute__((noinline)) void report_here_frame(struct uffdbox__stack *s)
{
	uffdbox__stack_here(s, 0);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

TEST_CASE(report_libdw_loaded_at_first_report, TMEM_NONE, 0)
{
	if (TEST_TSAN)
		test_skip("TSan builds print raw frames (no libdw in a signal handler there)");
	/* -DUFFDBOX_LIBDW=link (the asan-ubsan preset, static OSS-Fuzz
	 * builds): linked, there from the start */
	bool linked = uffdbox__dw_linked();
	ASSERT(libdw_mapped() == linked);
	struct uffdbox__stack s;
	report_here_frame(&s);
	ASSERT(s.n > 1);
	ASSERT(libdw_mapped() == linked); /* capturing needs libunwind only */
	char path[] = "/tmp/uffdbox-report-XXXXXX";
	int fd = mkstemp(path);
	ASSERT(fd >= 0);
	unlink(path);
	uffdbox__stack_print(fd, &s);
	ASSERT(libdw_mapped());
	char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	ASSERT(n > 0);
	buf[n] = '\0';
	/* (a function name: file:line needs debug info, which the
	 * fuzz-nosan preset does not build with) */
	if (!strstr(buf, "in report_here_frame "))
		test_fail(__FILE__, __LINE__, "frames not symbolized:\n%s", buf);
}
