/* SPDX-License-Identifier: MIT */
/* tests/test_uffd.c - core/uffd against the real kernel: open paths,
 * feature negotiation, and every ioctl's success and documented failures. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define ERRBUF 1024

static struct uffdbox_uffd *open_with(unsigned int methods, bool kernel_faults, char *err)
{
	struct uffdbox_uffd_opts o = {
		.sz = sizeof(o),
		.methods = methods,
		.kernel_faults = kernel_faults,
		.errbuf = err,
		.errbuf_len = ERRBUF,
	};
	struct uffdbox_uffd *u = NULL;
	int rc = uffdbox_uffd_open(&o, &u);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "open(methods=%u): %s: %s", methods,
			  uffdbox_strerror(rc), err);
	return u;
}

static void check_fd_flags(struct uffdbox_uffd *u)
{
	int fd = uffdbox_uffd_fd(u);
	ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ASSERT(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

TEST_CASE_FLAGS(uffd_open_default, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd *u = open_with(0, false, err);
	/* The least-privileged method comes first. */
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_SYSCALL_USER);
	check_fd_flags(u);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_open_device, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	if (access("/dev/userfaultfd", R_OK | W_OK) != 0)
		SKIP("/dev/userfaultfd is missing or not accessible to this user");
	if (tfx_hidden(UFFDBOX_HIDE_DEVICE))
		SKIP("/dev/userfaultfd hidden by UFFDBOX_FEATURE_MASK (as before Linux 6.1)");
	struct uffdbox_uffd *u = open_with(UFFDBOX_OPEN_DEVICE, false, err);
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_DEVICE);
	check_fd_flags(u);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_open_syscall_kernel_faults, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd *u = open_with(UFFDBOX_OPEN_SYSCALL, false, err);
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_SYSCALL);
	check_fd_flags(u);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_open_kernel_faults_skips_user_mode, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd *u = open_with(0, true, err);
	ASSERT_NE(uffdbox_uffd_method(u), UFFDBOX_OPEN_SYSCALL_USER);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_open_falls_back_to_device, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	if (access("/dev/userfaultfd", R_OK | W_OK) != 0)
		SKIP("/dev/userfaultfd is missing or not accessible to this user");
	if (tfx_hidden(UFFDBOX_HIDE_DEVICE))
		SKIP("/dev/userfaultfd hidden by UFFDBOX_FEATURE_MASK (as before Linux 6.1)");
	/* The syscall refused outright, as a seccomp policy or a kernel
	 * built without it would. */
	tfx_seccomp_userfaultfd(EPERM, false);
	struct uffdbox_uffd *u = open_with(0, false, err);
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_DEVICE);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_open_without_user_mode_flag_on_einval, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	/* A pre-5.11 kernel: the user-mode flag is an unknown flag. */
	tfx_seccomp_userfaultfd(EINVAL, true);
	struct uffdbox_uffd *u =
		open_with(UFFDBOX_OPEN_SYSCALL_USER | UFFDBOX_OPEN_SYSCALL, false, err);
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_SYSCALL);
	uffdbox_uffd_close(u);
}

TEST_CASE(uffd_open_other_errors_are_not_masked, TMEM_NONE, 0)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd_opts o = {.sz = sizeof(o),
				      .methods = UFFDBOX_OPEN_SYSCALL_USER,
				      .errbuf = err,
				      .errbuf_len = sizeof(err)};
	struct uffdbox_uffd *u;
	/* EINVAL from the syscall without the user-mode flag is a real error,
	 * not "try the next method". */
	tfx_seccomp_userfaultfd(EMFILE, false);
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -EMFILE);
	ASSERT_NULL(u);
}

TEST_CASE(uffd_open_bad_methods, TMEM_NONE, 0)
{
	struct uffdbox_uffd_opts o = {.sz = sizeof(o), .methods = 1u << 7};
	struct uffdbox_uffd *u;
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -EINVAL);
	/* Only the user-mode method allowed, but kernel faults required. */
	o.methods = UFFDBOX_OPEN_SYSCALL_USER;
	o.kernel_faults = true;
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -EINVAL);
}

TEST_CASE_FLAGS(uffd_unprivileged_user_mode_only, TMEM_NONE, 0, TFLAG_SYSCTL | TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	tfx_sysctl_set("/proc/sys/vm/unprivileged_userfaultfd", "0");
	tfx_drop_privileges();
	struct uffdbox_uffd *u = open_with(0, false, err);
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_SYSCALL_USER);
	/* And it really works: register and resolve a page. */
	long psz = sysconf(_SC_PAGESIZE);
	char *p =
		mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char src[4096];
	memset(src, 0x42, sizeof(src));
	ASSERT_OK(uffdbox_uffd_register(u, p, (size_t)psz, UFFDBOX_REG_MISSING, NULL));
	ASSERT_EQ(uffdbox_uffd_copy(u, p, src, (size_t)psz, 0), psz);
	ASSERT_EQ(p[100], 0x42);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_unprivileged_kernel_faults_denied, TMEM_NONE, 0, TFLAG_SYSCTL | TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd_opts o = {
		.sz = sizeof(o), .kernel_faults = true, .errbuf = err, .errbuf_len = sizeof(err)};
	struct uffdbox_uffd *u;
	tfx_sysctl_set("/proc/sys/vm/unprivileged_userfaultfd", "0");
	tfx_drop_privileges();
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -UFFDBOX_E_DENIED);
	/* The explanation names the cause and each fix. */
	ASSERT_CONTAINS(err, "vm.unprivileged_userfaultfd=0");
	ASSERT_CONTAINS(err, "CAP_SYS_PTRACE absent");
	ASSERT_CONTAINS(err, "/dev/userfaultfd");
	ASSERT_CONTAINS(err, "sysctl -w vm.unprivileged_userfaultfd=1");
	ASSERT_CONTAINS(uffdbox_strerror(-UFFDBOX_E_DENIED), "denied");
}

TEST_CASE_FLAGS(uffd_unprivileged_sysctl_allows_kernel_faults, TMEM_NONE, 0,
		TFLAG_SYSCTL | TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	tfx_sysctl_set("/proc/sys/vm/unprivileged_userfaultfd", "1");
	tfx_drop_privileges();
	struct uffdbox_uffd *u = open_with(0, true, err);
	ASSERT_EQ(uffdbox_uffd_method(u), UFFDBOX_OPEN_SYSCALL);
	uffdbox_uffd_close(u);
}

TEST_CASE(uffd_unprivileged_event_fork_dropped, TMEM_NONE, UFFD_FEATURE_EVENT_FORK)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd_opts o = {.sz = sizeof(o),
				      .want_features =
					      UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMOVE,
				      .errbuf = err,
				      .errbuf_len = sizeof(err)};
	struct uffdbox_uffd *u;
	tfx_drop_privileges();
	/* Wanted only: granted without it. */
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	ASSERT_UEQ(uffdbox_uffd_features(u), UFFD_FEATURE_EVENT_REMOVE);
	uffdbox_uffd_close(u);
	/* Needed: a clear refusal. */
	o.need_features = UFFD_FEATURE_EVENT_FORK;
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -EPERM);
	ASSERT_CONTAINS(err, "EVENT_FORK needs CAP_SYS_PTRACE");
}

TEST_CASE_FLAGS(uffd_api_twice_refused, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd *u = open_with(0, false, err);
	struct uffdio_api a = {.api = UFFD_API};
	/* The fd was negotiated once already; the kernel refuses a second
	 * UFFDIO_API, which is why features are probed on a throwaway fd. */
	ASSERT_EQ(ioctl(uffdbox_uffd_fd(u), UFFDIO_API, &a), -1);
	ASSERT_EQ(errno, EINVAL);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_probe_matches_kernel, TMEM_NONE, 0, TFLAG_UFFD)
{
	uint64_t f = 0, io = 0, mask = 0;
	ASSERT_OK(uffdbox_uffd_probe(NULL, &f, &io));
	ASSERT_OK(uffdbox_feature_mask(&mask));
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	ASSERT_GE(fd, 0);
	struct uffdio_api a = {.api = UFFD_API};
	ASSERT_EQ(ioctl(fd, UFFDIO_API, &a), 0);
	close(fd);
	ASSERT_UEQ(f, a.features & ~mask);
	ASSERT_UEQ(io, a.ioctls);
	ASSERT(f & UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	ASSERT(io & (1ULL << _UFFDIO_REGISTER));
}

TEST_CASE(uffd_open_negotiates_only_what_was_asked, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	struct uffdbox_uffd_opts o = {.sz = sizeof(o), .want_features = UFFD_FEATURE_SIGBUS};
	struct uffdbox_uffd *u;
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	ASSERT_UEQ(uffdbox_uffd_features(u), UFFD_FEATURE_SIGBUS);
	uffdbox_uffd_close(u);
	/* A wanted bit the kernel does not have is dropped, not an error. */
	o.want_features = UFFD_FEATURE_SIGBUS | (1ULL << 60);
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	ASSERT_UEQ(uffdbox_uffd_features(u), UFFD_FEATURE_SIGBUS);
	uffdbox_uffd_close(u);
}

TEST_CASE(uffd_feature_mask_hides, TMEM_NONE, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_MOVE)
{
	char err[ERRBUF] = "";
	uint64_t f = 0, mask = 0;
	struct uffdbox_uffd_opts o = {.sz = sizeof(o),
				      .need_features = UFFD_FEATURE_WP_ASYNC,
				      .errbuf = err,
				      .errbuf_len = sizeof(err)};
	struct uffdbox_uffd *u;

	setenv("UFFDBOX_FEATURE_MASK", "0x18000", 1); /* WP_ASYNC | MOVE */
	ASSERT_OK(uffdbox_feature_mask(&mask));
	ASSERT_UEQ(mask, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_MOVE);
	ASSERT_OK(uffdbox_uffd_probe(NULL, &f, NULL));
	ASSERT_UEQ(f & (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_MOVE), 0);
	ASSERT(f & UFFD_FEATURE_POISON);
	ASSERT_ERR(uffdbox_uffd_open(&o, &u), -UFFDBOX_E_NOFEATURE);
	ASSERT_CONTAINS(err, "WP_ASYNC");
	ASSERT_CONTAINS(err, "UFFDBOX_FEATURE_MASK");
	/* Wanting it instead gives an fd without it. */
	o.need_features = 0;
	o.want_features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_POISON;
	ASSERT_OK(uffdbox_uffd_open(&o, &u));
	ASSERT_UEQ(uffdbox_uffd_features(u), UFFD_FEATURE_POISON);
	uffdbox_uffd_close(u);
}

TEST_CASE(uffd_feature_mask_bad_value, TMEM_NONE, 0)
{
	static const char *const bad[] = {"banana", "0x", "12abc", "-1", " 1", "0x1 "};
	struct uffdbox_uffd *u;
	uint64_t mask;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("UFFDBOX_FEATURE_MASK", bad[i], 1);
		ASSERT_ERR(uffdbox_feature_mask(&mask), -UFFDBOX_E_BADMASK);
		ASSERT_ERR(uffdbox_uffd_open(NULL, &u), -UFFDBOX_E_BADMASK);
	}
	setenv("UFFDBOX_FEATURE_MASK", "", 1);
	ASSERT_OK(uffdbox_feature_mask(&mask));
	ASSERT_UEQ(mask, 0);
	setenv("UFFDBOX_FEATURE_MASK", "0100", 1); /* octal, as C reads it */
	ASSERT_OK(uffdbox_feature_mask(&mask));
	ASSERT_UEQ(mask, 64);
}

TEST_CASE(uffd_feature_names, TMEM_NONE, 0)
{
	char buf[256];
	ASSERT_STR_EQ(uffdbox_feature_name(UFFD_FEATURE_WP_ASYNC), "WP_ASYNC");
	ASSERT_STR_EQ(uffdbox_feature_name(UFFD_FEATURE_PAGEFAULT_FLAG_WP), "PAGEFAULT_FLAG_WP");
	ASSERT_STR_EQ(uffdbox_feature_name(1ULL << 40), "?");
	ASSERT_STR_EQ(uffdbox_feature_name(3), "?");
	int n = uffdbox_features_format(UFFD_FEATURE_MOVE | UFFD_FEATURE_SIGBUS | (1ULL << 40), buf,
					sizeof(buf));
	ASSERT_STR_EQ(buf, "SIGBUS|MOVE|0x10000000000");
	ASSERT_EQ(n, (int64_t)strlen(buf));
	/* Truncation keeps the full length, like snprintf. */
	char small[8];
	ASSERT_EQ(uffdbox_features_format(UFFD_FEATURE_MOVE | UFFD_FEATURE_SIGBUS, small,
					  sizeof(small)),
		  11);
	ASSERT_STR_EQ(small, "SIGBUS|");
	uffdbox_features_format(0, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "none");
	ASSERT_CONTAINS(uffdbox_strerror(-ENOENT), "No such file");
	ASSERT_CONTAINS(uffdbox_strerror(-UFFDBOX_E_NOFEATURE), "feature");
}

TEST_CASE(uffd_read_nothing_pending, TMEM_NONE, 0)
{
	char err[ERRBUF] = "", buf[64];
	struct uffdbox_uffd *u = open_with(0, false, err);
	ASSERT_ERR(uffdbox_uffd_read(u, buf, sizeof(buf)), -EAGAIN);
	uffdbox_uffd_close(u);
}

TEST_CASE_FLAGS(uffd_register_errors, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	struct uffdbox_uffd *u = open_with(0, false, err), *u2 = open_with(0, false, err);
	long psz = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	ASSERT(p != MAP_FAILED);
	ASSERT_ERR(uffdbox_uffd_register(u, p + 1, (size_t)psz, UFFDBOX_REG_MISSING, NULL),
		   -EINVAL);
	ASSERT_ERR(uffdbox_uffd_register(u, p, (size_t)psz - 1, UFFDBOX_REG_MISSING, NULL),
		   -EINVAL);
	ASSERT_ERR(uffdbox_uffd_register(u, p, (size_t)psz, 0, NULL), -EINVAL);
	/* Minor faults on anonymous memory do not exist. */
	ASSERT_ERR(uffdbox_uffd_register(u, p, (size_t)psz, UFFDBOX_REG_MINOR, NULL), -EINVAL);
	uint64_t io = 0;
	ASSERT_OK(uffdbox_uffd_register(u, p, 2 * (size_t)psz, UFFDBOX_REG_MISSING, &io));
	ASSERT(io & (1ULL << _UFFDIO_COPY));
	/* A range belongs to one uffd at a time. */
	ASSERT_ERR(uffdbox_uffd_register(u2, p, (size_t)psz, UFFDBOX_REG_MISSING, NULL), -EBUSY);
	ASSERT_OK(uffdbox_uffd_unregister(u, p, 2 * (size_t)psz));
	ASSERT_OK(uffdbox_uffd_register(u2, p, (size_t)psz, UFFDBOX_REG_MISSING, NULL));
	uffdbox_uffd_close(u);
	uffdbox_uffd_close(u2);
}

TEST_CASE(uffd_resolve_bad_flags, TMEM_NONE, 0)
{
	char err[ERRBUF] = "", page[64];
	struct uffdbox_uffd *u = open_with(0, false, err);
	ASSERT_ERR(uffdbox_uffd_copy(u, page, page, 4096, 1u << 9), -EINVAL);
	ASSERT_ERR(uffdbox_uffd_zeropage(u, page, 4096, UFFDBOX_MAP_WP), -EINVAL);
	ASSERT_ERR(uffdbox_uffd_move(u, page, page, 4096, UFFDBOX_EXIST_OK), -EINVAL);
	ASSERT_ERR(uffdbox_uffd_writeprotect(u, page, 4096, true, UFFDBOX_MAP_WP), -EINVAL);
	uffdbox_uffd_close(u);
}

/* --- per memory type -------------------------------------------------- */

struct fixture {
	struct uffdbox_uffd *u;
	struct uffdbox_region *r;
	char *p;
	size_t page;
	unsigned char *src;
};

static void setup(struct tctx *t, struct fixture *f, uint64_t features, size_t pages,
		  unsigned int modes)
{
	f->u = tfx_uffd(t, features);
	f->r = tfx_region(t, f->u, pages, modes);
	f->p = uffdbox_region_addr(f->r);
	f->page = uffdbox_region_page_size(f->r);
	f->src = malloc(f->page * 2);
	ASSERT_NOT_NULL(f->src);
	for (size_t i = 0; i < f->page * 2; i++)
		f->src[i] = (unsigned char)(i * 7 + 3);
}

static void teardown(struct fixture *f)
{
	uffdbox_region_free(f->r);
	uffdbox_uffd_close(f->u);
	free(f->src);
}

TEST_CASE(uffd_copy, TMEM_ALL, 0)
{
	struct fixture f;
	setup(t, &f, 0, 2, UFFDBOX_REG_MISSING);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, 0), f.page);
	ASSERT_MEM_EQ(f.p, f.src, f.page);
	teardown(&f);
}

TEST_CASE(uffd_copy_eexist, TMEM_ALL, 0)
{
	struct fixture f;
	setup(t, &f, 0, 2, UFFDBOX_REG_MISSING);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, 0), f.page);
	/* Second resolution of the same page: the kernel says EEXIST... */
	ASSERT_ERR(uffdbox_uffd_copy(f.u, f.p, f.src + 1, f.page, 0), -EEXIST);
	/* ...which a caller that only wanted the page there treats as done. */
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src + 1, f.page, UFFDBOX_EXIST_OK), f.page);
	/* The first contents stay. */
	ASSERT_MEM_EQ(f.p, f.src, f.page);
	teardown(&f);
}

TEST_CASE(uffd_copy_partial, TMEM_ALL, 0)
{
	struct fixture f;
	setup(t, &f, 0, 2, UFFDBOX_REG_MISSING);
	/* Page 1 is present: a two-page copy stops after page 0 and reports
	 * that progress (the ioctl itself fails with EAGAIN). */
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p + f.page, f.src, f.page, 0), f.page);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, 2 * f.page, 0), f.page);
	ASSERT_MEM_EQ(f.p, f.src, f.page);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_zeropage, TMEM_ALL, 0, TFLAG_UFFD)
{
	struct fixture f;
	setup(t, &f, 0, 2, UFFDBOX_REG_MISSING);
	ssize_t r = uffdbox_uffd_zeropage(f.u, f.p, f.page, 0);
	if (t->mem == TMEM_HUGETLB) {
		/* hugetlb has no zero page to map. */
		ASSERT_ERR(r, -EINVAL);
	} else {
		ASSERT_EQ(r, f.page);
		for (size_t i = 0; i < f.page; i += 512)
			ASSERT_EQ(f.p[i], 0);
		ASSERT_ERR(uffdbox_uffd_zeropage(f.u, f.p, f.page, 0), -EEXIST);
		ASSERT_EQ(uffdbox_uffd_zeropage(f.u, f.p, f.page, UFFDBOX_EXIST_OK), f.page);
	}
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_fault_message_then_copy, TMEM_ALL, 0, TFLAG_UFFD)
{
	struct fixture f;
	setup(t, &f, 0, 2, UFFDBOX_REG_MISSING);
	struct tfx_server *s = tfx_server_start(f.u, f.page, 0xab);
	/* This thread faults; the server copies a page of 0xab. */
	ASSERT_EQ((unsigned char)f.p[f.page + 5], 0xab);
	f.p[3] = 1;
	ASSERT_EQ(f.p[3], 1);
	ASSERT_EQ((unsigned char)f.p[4], 0xab);
	ASSERT_EQ(tfx_server_stop(s), 2);
	teardown(&f);
}

struct toucher {
	volatile char *addr;
	bool write;
	volatile int done;
};

static void *touch_main(void *arg)
{
	struct toucher *th = arg;
	/* Atomic accesses: the test reads the page while this thread is
	 * blocked mid-access, on purpose; TSan need not flag that. */
	if (th->write)
		__atomic_store_n(th->addr, 0x11, __ATOMIC_RELAXED);
	else
		(void)__atomic_load_n(th->addr, __ATOMIC_RELAXED);
	__atomic_store_n(&th->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Read one message, waiting up to 5 s. */
static void read_msg(struct uffdbox_uffd *u, unsigned char msg[32])
{
	struct pollfd p = {.fd = uffdbox_uffd_fd(u), .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 5000), 1);
	ASSERT_EQ(uffdbox_uffd_read(u, msg, 32), 32);
}

TEST_CASE_FLAGS(uffd_copy_dontwake_then_wake, TMEM_ALL, 0, TFLAG_UFFD)
{
	struct fixture f;
	unsigned char msg[32];
	uint64_t flags, addr;
	setup(t, &f, 0, 1, UFFDBOX_REG_MISSING);
	struct toucher th = {.addr = f.p + 10, .write = false};
	pthread_t tid;
	ASSERT_EQ(pthread_create(&tid, NULL, touch_main, &th), 0);
	read_msg(f.u, msg);
	ASSERT_EQ(msg[0], UFFD_EVENT_PAGEFAULT);
	memcpy(&flags, msg + 8, 8);
	memcpy(&addr, msg + 16, 8);
	ASSERT_UEQ(flags, 0); /* a read of a missing page */
	ASSERT_UEQ(addr, (uintptr_t)f.p);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, UFFDBOX_DONTWAKE), f.page);
	/* Not woken: give the thread time to (wrongly) run. */
	usleep(50 * 1000);
	ASSERT_EQ(__atomic_load_n(&th.done, __ATOMIC_ACQUIRE), 0);
	ASSERT_OK(uffdbox_uffd_wake(f.u, f.p, f.page));
	pthread_join(tid, NULL);
	ASSERT_EQ(th.done, 1);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_sigbus_mode, TMEM_ALL, UFFD_FEATURE_SIGBUS, TFLAG_UFFD)
{
	struct fixture f;
	void *fa;
	int code;
	setup(t, &f, UFFD_FEATURE_SIGBUS, 2, UFFDBOX_REG_MISSING);
	/* No message: the faulting thread itself gets SIGBUS. */
	ASSERT_EQ(tfx_access(f.p + f.page + 8, false, &fa, &code), SIGBUS);
	ASSERT_PTR_EQ(fa, f.p + f.page + 8);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p + f.page, f.src, f.page, 0), f.page);
	ASSERT_EQ(tfx_access(f.p + f.page + 8, false, NULL, NULL), 0);
	ASSERT_EQ((unsigned char)f.p[f.page + 8], f.src[8]);
	teardown(&f);
}

static uint64_t wp_features(struct tctx *t)
{
	return UFFD_FEATURE_PAGEFAULT_FLAG_WP |
	       (t->mem == TMEM_ANON ? 0 : UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
}

TEST_CASE_FLAGS(uffd_writeprotect, TMEM_ALL, UFFD_FEATURE_PAGEFAULT_FLAG_WP, TFLAG_UFFD)
{
	struct fixture f;
	unsigned char msg[32];
	uint64_t flags, addr;
	setup(t, &f, wp_features(t), 1, UFFDBOX_REG_MISSING | UFFDBOX_REG_WP);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, 0), f.page);
	ASSERT_OK(uffdbox_uffd_writeprotect(f.u, f.p, f.page, true, 0));
	/* Reads pass; the first write faults with WP|WRITE. */
	ASSERT_EQ((unsigned char)f.p[1], f.src[1]);
	struct toucher th = {.addr = f.p + 1, .write = true};
	pthread_t tid;
	ASSERT_EQ(pthread_create(&tid, NULL, touch_main, &th), 0);
	read_msg(f.u, msg);
	memcpy(&flags, msg + 8, 8);
	memcpy(&addr, msg + 16, 8);
	ASSERT_UEQ(flags, UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE);
	ASSERT_UEQ(addr, (uintptr_t)f.p);
	/* The pre-write contents are still there to look at. */
	ASSERT_EQ((unsigned char)__atomic_load_n(&f.p[1], __ATOMIC_RELAXED), f.src[1]);
	ASSERT_OK(uffdbox_uffd_writeprotect(f.u, f.p, f.page, false, 0));
	pthread_join(tid, NULL);
	ASSERT_EQ(f.p[1], 0x11);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_copy_mode_wp, TMEM_ALL, UFFD_FEATURE_PAGEFAULT_FLAG_WP, TFLAG_UFFD)
{
	struct fixture f;
	setup(t, &f, wp_features(t), 1, UFFDBOX_REG_MISSING | UFFDBOX_REG_WP);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, UFFDBOX_MAP_WP), f.page);
	struct tfx_server *s = tfx_server_start(f.u, f.page, 0);
	f.p[2] = 0x77; /* WP fault, unprotected by the server */
	ASSERT_EQ(f.p[2], 0x77);
	ASSERT_EQ(tfx_server_stop(s), 1);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_continue, TMEM_SHMEM | TMEM_HUGETLB, 0, TFLAG_UFFD)
{
	struct fixture f;
	unsigned char msg[32];
	uint64_t flags;
	void *alias;
	uint64_t feat =
		t->mem == TMEM_SHMEM ? UFFD_FEATURE_MINOR_SHMEM : UFFD_FEATURE_MINOR_HUGETLBFS;
	f.u = tfx_uffd(t, feat);
	f.r = tfx_region(t, f.u, 2, UFFDBOX_REG_MINOR);
	f.p = uffdbox_region_addr(f.r);
	f.page = uffdbox_region_page_size(f.r);
	f.src = NULL;
	ASSERT_OK(uffdbox_region_alias(f.r, &alias));
	/* No page in the page cache yet: nothing to map. */
	ASSERT_ERR(uffdbox_uffd_continue(f.u, f.p, f.page, 0), -EFAULT);
	/* Populate through the alias; the registered mapping still faults
	 * (minor: the page exists, the mapping does not). */
	memset(alias, 0x3c, f.page);
	struct toucher th = {.addr = f.p + 9, .write = false};
	pthread_t tid;
	ASSERT_EQ(pthread_create(&tid, NULL, touch_main, &th), 0);
	read_msg(f.u, msg);
	memcpy(&flags, msg + 8, 8);
	ASSERT_UEQ(flags, UFFD_PAGEFAULT_FLAG_MINOR);
	ASSERT_EQ(uffdbox_uffd_continue(f.u, f.p, f.page, 0), f.page);
	pthread_join(tid, NULL);
	ASSERT_EQ(f.p[9], 0x3c);
	ASSERT_ERR(uffdbox_uffd_continue(f.u, f.p, f.page, 0), -EEXIST);
	ASSERT_EQ(uffdbox_uffd_continue(f.u, f.p, f.page, UFFDBOX_EXIST_OK), f.page);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_poison, TMEM_ALL, UFFD_FEATURE_POISON, TFLAG_UFFD)
{
	struct fixture f;
	void *fa;
	int code;
	setup(t, &f, UFFD_FEATURE_POISON, 2, UFFDBOX_REG_MISSING);
	ASSERT_EQ(uffdbox_uffd_poison(f.u, f.p, f.page, 0), f.page);
	/* A poisoned page raises SIGBUS (this fd has no SIGBUS feature, so a
	 * missing fault would block instead): BUS_MCEERR_AR before 6.11,
	 * BUS_ADRERR since (poison markers stopped posing as hardware MCEs). */
	ASSERT_EQ(tfx_access(f.p + 4, false, &fa, &code), SIGBUS);
	ASSERT_PTR_EQ(fa, f.p + 4);
	ASSERT(code == BUS_MCEERR_AR || code == BUS_ADRERR);
	/* It stays poisoned. */
	ASSERT_EQ(tfx_access(f.p + 4, true, NULL, NULL), SIGBUS);
	ASSERT_ERR(uffdbox_uffd_poison(f.u, f.p, f.page, 0), -EEXIST);
	/* The other page is untouched and still resolvable. */
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p + f.page, f.src, f.page, 0), f.page);
	teardown(&f);
}

TEST_CASE(uffd_move, TMEM_ANON, UFFD_FEATURE_MOVE)
{
	struct fixture f;
	setup(t, &f, UFFD_FEATURE_MOVE, 2, UFFDBOX_REG_MISSING);
	char *src = mmap(NULL, f.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT(src != MAP_FAILED);
	memcpy(src, f.src, f.page);
	ASSERT_EQ(uffdbox_uffd_move(f.u, f.p, src, f.page, 0), f.page);
	ASSERT_MEM_EQ(f.p, f.src, f.page);
	/* The source page moved away: a hole now, which moves only with
	 * ALLOW_SRC_HOLES (as zero progress) ... */
	ASSERT_ERR(uffdbox_uffd_move(f.u, f.p + f.page, src, f.page, 0), -ENOENT);
	ASSERT_EQ(uffdbox_uffd_move(f.u, f.p + f.page, src, f.page, UFFDBOX_MOVE_SRC_HOLES),
		  f.page);
	/* ... and a present destination is EEXIST. */
	src[0] = 1;
	ASSERT_ERR(uffdbox_uffd_move(f.u, f.p, src, f.page, 0), -EEXIST);
	munmap(src, f.page);
	teardown(&f);
}

struct remover {
	void *addr;
	size_t len;
	int rc;
};

static void *remove_main(void *arg)
{
	struct remover *rm = arg;
	rm->rc = madvise(rm->addr, rm->len, MADV_DONTNEED);
	return NULL;
}

TEST_CASE(uffd_eagain_while_remove_pending, TMEM_ANON | TMEM_SHMEM, UFFD_FEATURE_EVENT_REMOVE)
{
	struct fixture f;
	unsigned char msg[32];
	uint64_t start, end;
	setup(t, &f, UFFD_FEATURE_EVENT_REMOVE, 2, UFFDBOX_REG_MISSING);
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, 0), f.page);
	/* The madvise caller blocks until its REMOVE message is read; until
	 * then the kernel refuses to fill the range ("mmap changing"). */
	struct remover rm = {.addr = f.p, .len = f.page};
	pthread_t tid;
	ASSERT_EQ(pthread_create(&tid, NULL, remove_main, &rm), 0);
	struct pollfd p = {.fd = uffdbox_uffd_fd(f.u), .events = POLLIN};
	ASSERT_EQ(poll(&p, 1, 5000), 1);
	ASSERT_ERR(uffdbox_uffd_copy(f.u, f.p + f.page, f.src, f.page, 0), -EAGAIN);
	ASSERT_EQ(uffdbox_uffd_read(f.u, msg, 32), 32);
	ASSERT_EQ(msg[0], UFFD_EVENT_REMOVE);
	memcpy(&start, msg + 8, 8);
	memcpy(&end, msg + 16, 8);
	ASSERT_UEQ(start, (uintptr_t)f.p);
	ASSERT_UEQ(end, (uintptr_t)f.p + f.page);
	pthread_join(tid, NULL);
	ASSERT_EQ(rm.rc, 0);
	/* Drained: the retry succeeds. */
	ASSERT_EQ(uffdbox_uffd_copy(f.u, f.p + f.page, f.src, f.page, 0), f.page);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_enoent_after_unmap, TMEM_ALL, 0, TFLAG_UFFD)
{
	struct fixture f;
	setup(t, &f, 0, 2, UFFDBOX_REG_MISSING);
	ASSERT_EQ(munmap(f.p, 2 * f.page), 0);
	ASSERT_ERR(uffdbox_uffd_copy(f.u, f.p, f.src, f.page, 0), -ENOENT);
	teardown(&f);
}

TEST_CASE_FLAGS(uffd_esrch_when_owner_exited, TMEM_NONE, 0, TFLAG_UFFD)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* Child: a uffd over its own memory, handed to the parent. */
		struct uffdbox_uffd *u;
		if (uffdbox_uffd_open(NULL, &u) < 0)
			_exit(1);
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);
		if (p == MAP_FAILED || uffdbox_uffd_register(u, p, 4096, UFFDBOX_REG_MISSING, NULL))
			_exit(2);
		int fd = uffdbox_uffd_fd(u);
		uint64_t where = (uintptr_t)p;
		struct iovec iov = {.iov_base = &where, .iov_len = sizeof(where)};
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf)};
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof(int));
		_exit(sendmsg(sv[1], &mh, 0) == sizeof(where) ? 0 : 3);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(WEXITSTATUS(status), 0);
	uint64_t where;
	struct iovec iov = {.iov_base = &where, .iov_len = sizeof(where)};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cm.buf,
			    .msg_controllen = sizeof(cm.buf)};
	ASSERT_EQ(recvmsg(sv[0], &mh, 0), sizeof(where));
	int fd;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	/* The fd outlives its process; resolving into that process's memory
	 * now reports the process gone. */
	char page[4096] = {0};
	struct uffdio_copy cp = {.dst = where, .src = (uintptr_t)page, .len = 4096};
	ASSERT_EQ(ioctl(fd, UFFDIO_COPY, &cp), -1);
	ASSERT_EQ(errno, ESRCH);
	close(fd);
}

TEST_CASE_FLAGS(uffd_kernel_mode_access, TMEM_NONE, 0, TFLAG_UFFD)
{
	char err[ERRBUF] = "";
	long psz = sysconf(_SC_PAGESIZE);
	int pfd[2];
	ASSERT_EQ(pipe(pfd), 0);

	/* User-mode-only fd: a read(2) into a missing registered page is a
	 * fault taken in the kernel, which this fd does not handle: EFAULT. */
	struct uffdbox_uffd *u = open_with(UFFDBOX_OPEN_SYSCALL_USER, false, err);
	char *p =
		mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_OK(uffdbox_uffd_register(u, p, (size_t)psz, UFFDBOX_REG_MISSING, NULL));
	ASSERT_EQ(write(pfd[1], "xyz", 3), 3);
	ASSERT_EQ(read(pfd[0], p, 3), -1);
	ASSERT_EQ(errno, EFAULT);
	uffdbox_uffd_close(u);
	munmap(p, (size_t)psz);

	/* An fd that handles kernel faults serves the same read. */
	u = open_with(0, true, err);
	p = mmap(NULL, (size_t)psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_OK(uffdbox_uffd_register(u, p, (size_t)psz, UFFDBOX_REG_MISSING, NULL));
	struct tfx_server *s = tfx_server_start(u, (size_t)psz, 0);
	ASSERT_EQ(read(pfd[0], p, 3), 3);
	ASSERT_EQ(tfx_server_stop(s), 1);
	ASSERT(memcmp(p, "xyz", 3) == 0);
	uffdbox_uffd_close(u);
}

/* The sandbox's userfaultfd lives where a target's descriptor hygiene does
 * not look: near the RLIMIT_NOFILE soft limit (at most 65536), close-on-exec;
 * a target that closes or dup2()s over its low descriptors keeps it. */
TEST_CASE(uffd_fd_out_of_reach, TMEM_NONE, 0)
{
	char err[ERRBUF] = "";
	struct rlimit rl;
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	long top = rl.rlim_cur > 65536 ? 65536 : (long)rl.rlim_cur;
	if (top <= 64)
		test_skip("RLIMIT_NOFILE soft limit %ld leaves no high descriptors", top);
	struct uffdbox_uffd *u = open_with(0, false, err);
	int fd = uffdbox_uffd_fd(u);
	ASSERT(fd >= top - 16 && fd < top);
	check_fd_flags(u);
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT(nul >= 0 && nul < 64);
	for (int i = 3; i < 64; i++)
		if (i != nul)
			dup2(nul, i);
	for (int i = 3; i < 64; i++)
		close(i);
	struct uffdio_api a = {.api = UFFD_API};
	/* still a userfaultfd (a second UFFDIO_API is refused with EINVAL,
	 * not EBADF or ENOTTY); the signal backend's stand-in is an eventfd */
	if (uffdbox_uffd_backend(u) == UFFDBOX_BACKEND_SIGNAL) {
		uint64_t v = 0;
		ASSERT(fcntl(fd, F_GETFD) >= 0);
		ASSERT(read(fd, &v, sizeof(v)) == -1 && errno == EAGAIN); /* nothing kicked */
	} else {
		ASSERT_EQ(ioctl(fd, UFFDIO_API, &a), -1);
		ASSERT_EQ(errno, EINVAL);
	}
	uffdbox_uffd_close(u);
}
