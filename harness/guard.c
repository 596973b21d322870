/* SPDX-License-Identifier: MIT */
/*
 * harness/guard.c - guard-hit reports: a SIGSEGV handler that names which
 * region's guard an access hit, then lets the fault go on to whoever handled
 * SIGSEGV before (libFuzzer, ASan, the program), or to the default action.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox_int.h"
#include "internal.h"

static struct uffdbox_sandbox *_Atomic guard_sb;

/* Defined by every sanitizer runtime (ASan, UBSan, TSan, MSan), by none
 * of libFuzzer's or AFL++'s. */
extern void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));
static struct sigaction guard_old;

/* Why the report log could not be written, once per process (a guard hit
 * writes it, then the crash evidence again). */
static void unwritten(const char *path, int err)
{
	static atomic_int said;
	if (!atomic_exchange(&said, 1))
		uffdbox__say(STDERR_FILENO,
			     "uffdbox: the event log could not be written to %s: %s\n", path,
			     strerror(-err));
}

int uffdbox__sb_write_report_log(struct uffdbox_sandbox *sb)
{
	if (!sb->report_log[0])
		return 0;
	/* open(2) first: its errno is the cause.  (fopen allocates, and frees
	 * on failure: in a signal handler a sanitizer's report of that can
	 * overwrite errno before it is read - TSan left ENOTTY.) */
	int fd = open(sb->report_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int err = -errno;
		if (fd >= 0)
			close(fd);
		unwritten(sb->report_log, err);
		return err;
	}
	int rc = uffdbox_sandbox_log_write(sb, f);
	if (fclose(f) != 0 && rc >= 0)
		rc = -errno;
	if (rc < 0)
		unwritten(sb->report_log, rc);
	return rc < 0 ? rc : 0;
}

static void on_sigsegv(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct uffdbox_sandbox *sb = atomic_load(&guard_sb);
	uintptr_t a = (uintptr_t)si->si_addr;

	if (sb && si->si_code > 0) {
		int n = atomic_load(&sb->nregions);
		for (int i = 0; i < n; i++) {
			struct sb_region *R = &sb->regions[i];
			if (R->released || !R->r)
				continue;
			enum uffdbox_addr_class c = uffdbox_region_classify(R->r, (void *)a, NULL);
			if (c != UFFDBOX_ADDR_GUARD_BEFORE && c != UFFDBOX_ADDR_GUARD_AFTER)
				continue;
			struct uffdbox__stack st;
			uffdbox__stack_from_signal(&st, ucv);
			bool wr = uffdbox__fault_write(ucv);
			char line[512];
			int len = snprintf(
				line, sizeof(line),
				"================================================================="
				"\n"
				"==%d==ERROR: uffdbox: guard hit: %s at 0x%lx, %lu bytes %s region "
				"\"%s\" (%zu pages of %zu bytes) in thread (tid %ld)\n",
				getpid(), wr ? "WRITE" : "READ", (unsigned long)a,
				c == UFFDBOX_ADDR_GUARD_AFTER ? (unsigned long)(a - R->end + 1)
							      : (unsigned long)(R->start - a),
				c == UFFDBOX_ADDR_GUARD_AFTER ? "past the end of"
							      : "before the start of",
				R->name, (R->end - R->start) / R->psz, R->psz,
				(long)syscall(SYS_gettid));
			if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
				len = 0;
			uffdbox__stack_print_fatal(STDERR_FILENO, &st);
			len = snprintf(line, sizeof(line),
				       "SUMMARY: uffdbox: guard hit %s region \"%s\"\n",
				       c == UFFDBOX_ADDR_GUARD_AFTER ? "after" : "before", R->name);
			if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0)
				len = 0;
			struct uffdbox__report_note note = {
				.bug = "guard hit",
				.write = wr,
				.offset = c == UFFDBOX_ADDR_GUARD_AFTER ? (int64_t)(a - R->end + 1)
									: (int64_t)(R->start - a),
				.access = st,
			};
			snprintf(note.region, sizeof(note.region), "%s", R->name);
			snprintf(note.where, sizeof(note.where), "%s",
				 c == UFFDBOX_ADDR_GUARD_AFTER ? "after" : "before");
			snprintf(note.summary, sizeof(note.summary), "guard hit %s region \"%s\"",
				 note.where, R->name);
			uffdbox__report_note(&note);
			size_t page =
				(c == UFFDBOX_ADDR_GUARD_AFTER ? a - R->end : R->start - a - 1) /
				R->psz;
			uffdbox__sb_record(sb, UFFDBOX_EV_GUARD, i, page, (uint32_t)(a % R->psz),
					   R->psz, wr ? UFFDBOX_ACCESS_WRITE : UFFDBOX_ACCESS_READ,
					   uffdbox__sb_thread_id(sb, (int32_t)syscall(SYS_gettid)),
					   UFFDBOX_RES_ABORT, 0);
			uffdbox__sb_write_report_log(sb);
			/* One report per bug: a sanitizer's SEGV handler would
			 * print a second, generic one ("SEGV on unknown
			 * address").  abort() instead: the sanitizers leave
			 * SIGABRT alone by default, and libFuzzer's handler
			 * for it writes the crash file. */
			if (__sanitizer_set_death_callback) {
				struct sigaction dfl = {.sa_handler = SIG_DFL};
				sigemptyset(&dfl.sa_mask);
				sigaction(SIGSEGV, &dfl, NULL);
				abort();
			}
			break;
		}
	}
	uffdbox__chain_signal(&guard_old, sig, si, ucv);
	errno = saved;
}

int uffdbox__guard_install(struct uffdbox_sandbox *sb)
{
	struct uffdbox_sandbox *none = NULL;
	struct sigaction sa = {.sa_sigaction = on_sigsegv, .sa_flags = SA_SIGINFO};

	if (!atomic_compare_exchange_strong(&guard_sb, &none, sb))
		return -EBUSY;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &guard_old) < 0) {
		int err = -errno;
		atomic_store(&guard_sb, NULL);
		return err;
	}
	return 0;
}

void uffdbox__guard_uninstall(struct uffdbox_sandbox *sb)
{
	struct sigaction cur;
	if (atomic_load(&guard_sb) != sb)
		return;
	if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_sigsegv)
		sigaction(SIGSEGV, &guard_old, NULL);
	atomic_store(&guard_sb, NULL);
}
