/* SPDX-License-Identifier: MIT */
/* tests/fixtures.c - uffds and regions for test cases, skipping with the
 * reason when the kernel or machine cannot provide them. */
#include "test.h"

/* Features a memory type needs for MISSING registration. */
static uint64_t mem_features(enum test_mem mem)
{
	switch (mem) {
	case TMEM_SHMEM:
		return UFFD_FEATURE_MISSING_SHMEM;
	case TMEM_HUGETLB:
		return UFFD_FEATURE_MISSING_HUGETLBFS;
	default:
		return 0;
	}
}

struct uffdbox_uffd *tfx_uffd(struct tctx *t, uint64_t features)
{
	char err[512] = "";
	struct uffdbox_uffd_opts o = {
		.sz = sizeof(o),
		.need_features = features | mem_features(t->mem),
		.errbuf = err,
		.errbuf_len = sizeof(err),
	};
	struct uffdbox_uffd *u;
	int rc = uffdbox_uffd_open(&o, &u);

	if (rc == -UFFDBOX_E_NOFEATURE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "uffdbox_uffd_open: %s: %s", uffdbox_strerror(rc),
			  err);
	return u;
}

struct uffdbox_region *tfx_region(struct tctx *t, struct uffdbox_uffd *u, size_t pages,
				  unsigned int modes)
{
	char err[512] = "";
	struct uffdbox_region_opts o = {
		.sz = sizeof(o),
		.mem = t->umem,
		.pages = pages,
		.modes = modes,
		.name = "test",
		.errbuf = err,
		.errbuf_len = sizeof(err),
	};
	struct uffdbox_region *r;
	int rc = uffdbox_region_new(u, &o, &r);

	if (rc == -UFFDBOX_E_NOHUGE)
		SKIP("%s", err);
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "uffdbox_region_new(%s, %zu pages): %s: %s", t->name,
			  pages, uffdbox_strerror(rc), err);
	return r;
}

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static sigjmp_buf access_jmp;
static volatile sig_atomic_t access_sig;
static void *volatile access_addr;
static volatile int access_code;

static void access_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	access_sig = sig;
	access_addr = si->si_addr;
	access_code = si->si_code;
	siglongjmp(access_jmp, 1);
}

int tfx_access(volatile char *addr, bool write, void **fault_addr, int *fault_code)
{
	struct sigaction sa = {.sa_sigaction = access_handler, .sa_flags = SA_SIGINFO | SA_NODEFER};
	struct sigaction old_segv, old_bus;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	access_sig = 0;
	if (sigsetjmp(access_jmp, 1) == 0) {
		if (write)
			*addr = 0x5a;
		else
			(void)*addr;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	if (fault_addr)
		*fault_addr = access_sig ? access_addr : NULL;
	if (fault_code)
		*fault_code = access_sig ? access_code : 0;
	return access_sig;
}

struct tfx_server {
	struct uffdbox_uffd *u;
	size_t page;
	unsigned char *src;
	int stop_fd;
	unsigned int served;
	pthread_t thread;
};

static void *server_main(void *arg)
{
	struct tfx_server *s = arg;
	struct pollfd p[2] = {{.fd = uffdbox_uffd_fd(s->u), .events = POLLIN},
			      {.fd = s->stop_fd, .events = POLLIN}};
	unsigned char msg[32];

	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		if (uffdbox_uffd_read(s->u, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
			continue;
		if (msg[0] != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t flags, addr;
		memcpy(&flags, msg + 8, 8);
		memcpy(&addr, msg + 16, 8);
		void *page = (void *)(uintptr_t)(addr & ~(uint64_t)(s->page - 1));
		ssize_t r;
		if (flags & UFFD_PAGEFAULT_FLAG_WP)
			r = uffdbox_uffd_writeprotect(s->u, page, s->page, false, 0);
		else if (flags & UFFD_PAGEFAULT_FLAG_MINOR)
			r = uffdbox_uffd_continue(s->u, page, s->page, UFFDBOX_EXIST_OK);
		else
			r = uffdbox_uffd_copy(s->u, page, s->src, s->page, UFFDBOX_EXIST_OK);
		if (r < 0)
			fprintf(stderr, "tfx_server: resolving fault at page %p: %s\n", page,
				uffdbox_strerror((int)r));
		__atomic_add_fetch(&s->served, 1, __ATOMIC_RELAXED);
	}
}

struct tfx_server *tfx_server_start(struct uffdbox_uffd *u, size_t page, unsigned char fill)
{
	struct tfx_server *s = calloc(1, sizeof(*s));
	ASSERT_NOT_NULL(s);
	s->u = u;
	s->page = page;
	s->src = malloc(page);
	ASSERT_NOT_NULL(s->src);
	memset(s->src, fill, page);
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(s->stop_fd, 0);
	ASSERT_EQ(pthread_create(&s->thread, NULL, server_main, s), 0);
	return s;
}

unsigned int tfx_server_stop(struct tfx_server *s)
{
	uint64_t one = 1;
	ASSERT_EQ(write(s->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(s->thread, NULL);
	unsigned int n = s->served;
	close(s->stop_fd);
	free(s->src);
	free(s);
	return n;
}

void tfx_seccomp_userfaultfd(int err, bool only_user_mode)
{
	struct sock_filter prog_all[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_filter prog_user[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 3),
		/* low 32 bits of the flags argument (little-endian x86-64) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, UFFD_USER_MODE_ONLY, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned int)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = only_user_mode ? sizeof(prog_user) / sizeof(prog_user[0])
				      : sizeof(prog_all) / sizeof(prog_all[0]),
		.filter = only_user_mode ? prog_user : prog_all,
	};
	ASSERT_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		SKIP("seccomp filters are not available: %s", strerror(errno));
}

bool tfx_signal_backend_why(char *why, size_t len)
{
	struct uffdbox_uffd *u;
	if (uffdbox_uffd_open(NULL, &u) < 0)
		return false;
	bool sig = uffdbox_uffd_backend(u) == UFFDBOX_BACKEND_SIGNAL;
	uffdbox_uffd_close(u);
	if (sig && why && len) {
		/* What the userfaultfd itself says. */
		enum uffdbox_backend b;
		uffdbox_backend_from_env(&b);
		struct uffdbox_uffd_opts o = {.sz = sizeof(o), .errbuf = why, .errbuf_len = len};
		snprintf(why, len, "UFFDBOX_BACKEND=signal");
		if (b != UFFDBOX_BACKEND_SIGNAL) {
			o.methods = UFFDBOX_OPEN_ALL; /* no fallback: the real cause */
			if (uffdbox_uffd_open(&o, &u) == 0)
				uffdbox_uffd_close(u);
		}
	}
	return sig;
}

void tfx_drop_privileges(void)
{
	if (geteuid() != 0)
		SKIP("dropping privileges needs root to start from");
	ASSERT_EQ(setgroups(0, NULL), 0);
	ASSERT_EQ(setgid(65534), 0);
	ASSERT_EQ(setuid(65534), 0);
	ASSERT_NE(geteuid(), 0);
}

/* --- a child with its stderr captured ------------------------------------ */

int tfx_run_child(void (*body)(void *), void *arg, char *err, size_t len)
{
	int pfd[2];
	ASSERT_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		body(arg);
		_exit(0);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t n;
	while (got < len - 1 && (n = read(pfd[0], err + got, len - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(pfd[0]);
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

bool tfx_hidden(uint64_t bits)
{
	uint64_t mask = 0;
	return uffdbox_feature_mask(&mask) == 0 && (mask & bits) == bits;
}
