/* SPDX-License-Identifier: MIT */
/*
 * tests/test.h - the table-driven test runner's interface.
 *
 * A case is declared with TEST_CASE(name, mems, features) { body }.  The
 * runner (tests/runner.c) lists every case x memory type; CMake registers
 * each as its own ctest test (`uffdbox-tests --list`), and ctest runs it as
 * `uffdbox-tests NAME[/MEM]`.  The runner forks the case into a child with
 * a timeout, so a missed wake or a hang fails the case instead of the suite,
 * and restores whatever global state the case changed (sysctls, huge pages).
 *
 * Exit codes: 0 pass, 1 fail, 77 skip (the reason is printed first).
 */
#ifndef UFFDBOX_TEST_H
#define UFFDBOX_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <uffdbox.h>

enum test_mem {
	TMEM_NONE = 0,	      /* the case does not depend on a memory type */
	TMEM_ANON = 1u << 0,  /* anonymous private */
	TMEM_SHMEM = 1u << 1, /* shared anonymous (memfd) */
	TMEM_HUGETLB = 1u << 2,
	TMEM_ALL = 7u,
};

struct tctx {
	enum test_mem mem; /* the one memory type of this run, or TMEM_NONE */
	enum uffdbox_mem umem;
	size_t page; /* page size of that memory type */
	const char *name;
};

typedef void (*test_fn)(struct tctx *t);

struct tcase {
	const char *name;
	unsigned int mems;  /* TMEM_* mask; TMEM_NONE = run once */
	uint64_t features;  /* UFFD_FEATURE_* the case needs; skip if absent */
	unsigned int flags; /* TFLAG_* */
	test_fn fn;
	const char *file;
};

enum {
	TFLAG_SYSCTL = 1u << 0, /* changes sysctls: serialize (RESOURCE_LOCK) */
	TFLAG_SLOW = 1u << 1,	/* longer timeout */
	/* Tests the userfaultfd itself (its fd, messages, ioctls, SIGBUS):
	 * skipped, with the reason, where the signal backend stands in. */
	TFLAG_UFFD = 1u << 2,
	/* Not listed, not run with the others: run by name only (a case of
	 * the runner itself that must fail, checked by its own ctest test). */
	TFLAG_HIDDEN = 1u << 3,
};

#define TEST_SECTION "uffdbox_tcases"

#define TEST_CASE_FLAGS(name_, mems_, feats_, flags_)                                     \
	static void test_##name_(struct tctx *t);                                         \
	static const struct tcase tcase_##name_                                           \
		__attribute__((used, section(TEST_SECTION), aligned(sizeof(void *)))) = { \
			#name_, (mems_), (feats_), (flags_), test_##name_, __FILE__};     \
	static void test_##name_(struct tctx *t __attribute__((unused)))

#define TEST_CASE(name_, mems_, feats_) TEST_CASE_FLAGS(name_, mems_, feats_, 0)

/* Built with a sanitizer?  Their SIGSEGV/SIGBUS handlers turn a fatal
 * signal into a report and a non-zero exit. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

/* A child's wait status says it died of @sig (or, under ASan, that ASan
 * caught it and exited non-zero). */
#define TEST_DIED_OF(status, sig)                                                             \
	((WIFSIGNALED(status) && WTERMSIG(status) == (sig)) ||                                \
	 (TEST_ASAN &&                                                                        \
	  ((WIFEXITED(status) &&                                                              \
	    WEXITSTATUS(status) !=                                                            \
		    0) || /* a guard hit under a sanitizer: uffdbox's report, then abort() */ \
	   (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))))

/* --- assertions: each prints both sides and where ------------------------ */
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#define ASSERT(c)                                                               \
	do {                                                                    \
		if (!(c))                                                       \
			test_fail(__FILE__, __LINE__, "ASSERT(%s) failed", #c); \
	} while (0)

#define ASSERT_CMP_(a, op, b, T, fmt)                                                           \
	do {                                                                                    \
		T a_ = (T)(a), b_ = (T)(b);                                                     \
		if (!(a_ op b_))                                                                \
			test_fail(__FILE__, __LINE__, "%s %s %s: " fmt " vs " fmt, #a, #op, #b, \
				  a_, b_);                                                      \
	} while (0)

#define ASSERT_EQ(a, b)	    ASSERT_CMP_(a, ==, b, int64_t, "%" PRId64)
#define ASSERT_NE(a, b)	    ASSERT_CMP_(a, !=, b, int64_t, "%" PRId64)
#define ASSERT_GE(a, b)	    ASSERT_CMP_(a, >=, b, int64_t, "%" PRId64)
#define ASSERT_GT(a, b)	    ASSERT_CMP_(a, >, b, int64_t, "%" PRId64)
#define ASSERT_LE(a, b)	    ASSERT_CMP_(a, <=, b, int64_t, "%" PRId64)
#define ASSERT_LT(a, b)	    ASSERT_CMP_(a, <, b, int64_t, "%" PRId64)
#define ASSERT_UEQ(a, b)    ASSERT_CMP_(a, ==, b, uint64_t, "0x%" PRIx64)
#define ASSERT_PTR_EQ(a, b) ASSERT_CMP_(a, ==, b, uintptr_t, "0x%" PRIxPTR)
#define ASSERT_NULL(a)	    ASSERT_PTR_EQ(a, 0)
#define ASSERT_NOT_NULL(a)  ASSERT_CMP_(a, !=, 0, uintptr_t, "0x%" PRIxPTR)

/* ASSERT_OK(r): r >= 0; prints the error's text otherwise. */
#define ASSERT_OK(r)                                                                           \
	do {                                                                                   \
		long long r_ = (long long)(r);                                                 \
		if (r_ < 0)                                                                    \
			test_fail(__FILE__, __LINE__, "%s = %lld (%s), expected >= 0", #r, r_, \
				  uffdbox_strerror((int)r_));                                  \
	} while (0)

/* ASSERT_ERR(r, e): r == e for a negative error code e. */
#define ASSERT_ERR(r, e)                                                                         \
	do {                                                                                     \
		long long r_ = (long long)(r), e_ = (long long)(e);                              \
		if (r_ != e_)                                                                    \
			test_fail(__FILE__, __LINE__, "%s = %lld (%s), expected %s = %lld (%s)", \
				  #r, r_, r_ < 0 ? uffdbox_strerror((int)r_) : "ok", #e, e_,     \
				  uffdbox_strerror((int)e_));                                    \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                                 \
	do {                                                                                \
		const char *a_ = (a), *b_ = (b);                                            \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
			test_fail(__FILE__, __LINE__, "%s vs %s: \"%s\" vs \"%s\"", #a, #b, \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
	} while (0)

#define ASSERT_CONTAINS(hay, needle)                                                              \
	do {                                                                                      \
		const char *h_ = (hay), *n_ = (needle);                                           \
		if (!h_ || !strstr(h_, n_))                                                       \
			test_fail(__FILE__, __LINE__, "%s does not contain \"%s\": \"%s\"", #hay, \
				  n_, h_ ? h_ : "(null)");                                        \
	} while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                                    \
	do {                                                                                      \
		const unsigned char *a_ = (const void *)(a), *b_ = (const void *)(b);             \
		size_t n_ = (n);                                                                  \
		for (size_t i_ = 0; i_ < n_; i_++)                                                \
			if (a_[i_] != b_[i_])                                                     \
				test_fail(__FILE__, __LINE__,                                     \
					  "%s[%zu] = 0x%02x vs %s[%zu] = 0x%02x", #a, i_, a_[i_], \
					  #b, i_, b_[i_]);                                        \
	} while (0)

#define SKIP(...) test_skip(__VA_ARGS__)

/* --- fixtures (tests/fixtures.c) ---------------------------------------- */

/* Open a uffd with @features required, or skip naming what is missing. */
struct uffdbox_uffd *tfx_uffd(struct tctx *t, uint64_t features);

/* A guarded region of @pages pages of this run's memory type, registered
 * with @u in @modes (no registration when @u is NULL), or skip when the
 * memory type cannot be had here (the reason is printed). */
struct uffdbox_region *tfx_region(struct tctx *t, struct uffdbox_uffd *u, size_t pages,
				  unsigned int modes);

/* Write @value to sysctl @path; the runner restores the old value after the
 * case, whatever happens to it (needs TFLAG_SYSCTL). Skip when not root. */
void tfx_sysctl_set(const char *path, const char *value);

/* Read a whole small file into a static buffer (trailing newline cut). */
const char *tfx_read_file(const char *path);

/* Run @body(@arg) in a child with its stderr captured into @err (NUL
 * terminated, at most @len - 1 bytes); the child exits 0 if @body returns.
 * Returns the child's wait status. */
int tfx_run_child(void (*body)(void *), void *arg, char *err, size_t len);

/* Are all of @bits (UFFD_FEATURE_* or UFFDBOX_HIDE_*) hidden by
 * UFFDBOX_FEATURE_MASK, as on the older kernel a legacy pass plays? */
bool tfx_hidden(uint64_t bits);

#endif /* UFFDBOX_TEST_H */

/* --- helpers for faults --------------------------------------------------- */

/* Touch @addr (read, or write when @write) and report the signal it raised:
 * 0 when the access completed, else SIGSEGV/SIGBUS with *si_addr and
 * *si_code filled in.  Uses sigsetjmp; safe to call repeatedly. */
int tfx_access(volatile char *addr, bool write, void **fault_addr, int *fault_code);

/* A handler thread resolving MISSING faults on @u by copying pages filled
 * with @fill (region page size @page), MINOR faults with CONTINUE, and WP
 * faults by unprotecting. Counts what it served. */
struct tfx_server;
struct tfx_server *tfx_server_start(struct uffdbox_uffd *u, size_t page, unsigned char fill);
/* Stop it; returns the number of faults served. */
unsigned int tfx_server_stop(struct tfx_server *s);

/* Install a seccomp filter making userfaultfd(2) fail with @err: always when
 * @only_user_mode is false, only for calls with UFFD_USER_MODE_ONLY when true
 * (what a pre-5.11 kernel does).  The filter lasts for the process. */
void tfx_seccomp_userfaultfd(int err, bool only_user_mode);

/* Whether a default uffdbox_uffd_open() gets the signal backend here
 * (userfaultfd denied, or UFFDBOX_BACKEND=signal); @why, when not NULL,
 * receives the reason the userfaultfd could not be used. */
bool tfx_signal_backend_why(char *why, size_t len);
#define tfx_signal_backend() tfx_signal_backend_why(NULL, 0)

/* Drop to uid/gid nobody (65534) for the rest of the process. */
void tfx_drop_privileges(void);
