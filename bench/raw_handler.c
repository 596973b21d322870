/* SPDX-License-Identifier: MIT */
/*
 * bench/raw_handler.c - minimal hand-written userfaultfd handlers, the
 * baselines for the SERVED and SYNC transports (see raw_handler.h).
 *
 * Deliberately plain: no feature in UFFDIO_API but SIGBUS where asked for;
 * one 32-byte message per read(); one UFFDIO_COPY per fault, which also
 * wakes the faulting thread (threads) or not (SIGBUS: nobody sleeps).  Any
 * error in a handler is fatal to the benchmark (the faulting thread would
 * otherwise wait forever, or fault forever).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <uffdbox/compat.h>

#include "bench.h"
#include "raw_handler.h"

struct raw_handler {
	enum raw_mode mode;
	int uffd;
	int stop_fd; /* eventfd: poll mode's shutdown signal */
	atomic_bool stop;
	char *addr;
	size_t len;
	size_t page;
	void *src; /* the prepared page every fault is answered with */
	pthread_t thread;
	bool started;
	bool sigbus_installed;
	int signo; /* SIGBUS, or SIGSEGV for RAW_SIGSEGV */
	struct sigaction old_sigbus;
	atomic_uint_fast64_t served;
};

/* The RAW_SIGBUS handler in force, for the signal handler. */
static struct raw_handler *_Atomic sigbus_owner;

/*
 * userfaultfd(2) first; where the sysctl refuses it, /dev/userfaultfd
 * (governed by the file's permissions, Linux 6.1+).  User-mode-only: the
 * benchmark never makes the kernel touch registered pages on its behalf.
 */
static int open_uffd(void)
{
	int flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
	int fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return fd;
	int err = errno;
	if (err != EPERM && err != EACCES)
		return -err;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -err;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

static void resolve(struct raw_handler *h, const struct uffd_msg *m)
{
	struct uffdio_copy c = {
		.dst = m->arg.pagefault.address & ~(uint64_t)(h->page - 1),
		.src = (uint64_t)(uintptr_t)h->src,
		.len = h->page,
	};
	if (ioctl(h->uffd, UFFDIO_COPY, &c) == 0) {
		atomic_fetch_add_explicit(&h->served, 1, memory_order_relaxed);
		return;
	}
	if (errno == EEXIST) {
		/* Already mapped (cannot happen with one faulting thread, but
		 * a waiter must never be left): wake it. */
		struct uffdio_range r = {.start = c.dst, .len = h->page};
		if (ioctl(h->uffd, UFFDIO_WAKE, &r) == 0)
			return;
	}
	bench_die(BENCH_EXIT_FAIL, "raw handler: UFFDIO_COPY: %s", strerror(errno));
}

/* One message if there is one: 1, 0 when none is pending. */
static int read_one(struct raw_handler *h, struct uffd_msg *m)
{
	ssize_t n = read(h->uffd, m, sizeof(*m));
	if (n == (ssize_t)sizeof(*m))
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	bench_die(BENCH_EXIT_FAIL, "raw handler: read: %s",
		  n < 0 ? strerror(errno) : "short message");
}

/*
 * SIGBUS mode: the fault address is in si_addr; copy the page in with
 * DONTWAKE (the only thread that could wait is this one, running) and
 * return, and the access retries.  Only async-signal-safe calls here.
 */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct raw_handler *h = atomic_load(&sigbus_owner);
	uintptr_t a = (uintptr_t)si->si_addr;
	static const char msg[] = "uffdbox-bench: raw.sigbus: unexpected SIGBUS\n";

	(void)sig;
	(void)uc;
	if (h && si->si_code > 0 && a >= (uintptr_t)h->addr && a < (uintptr_t)h->addr + h->len) {
		int saved = errno;
		struct uffdio_copy c = {
			.dst = a & ~(uint64_t)(h->page - 1),
			.src = (uint64_t)(uintptr_t)h->src,
			.len = h->page,
			.mode = UFFDIO_COPY_MODE_DONTWAKE,
		};
		int rc = ioctl(h->uffd, UFFDIO_COPY, &c);
		if (rc == 0 || errno == EEXIST) {
			atomic_fetch_add_explicit(&h->served, 1, memory_order_relaxed);
			errno = saved;
			return;
		}
	}
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(BENCH_EXIT_FAIL);
	_exit(BENCH_EXIT_FAIL);
}

/*
 * RAW_SIGSEGV: no userfaultfd.  The page is made writable, filled, and the
 * access retries: one mprotect and one copy per fault.
 */
static void on_sigsegv(int sig, siginfo_t *si, void *uc)
{
	struct raw_handler *h = atomic_load(&sigbus_owner);
	uintptr_t a = (uintptr_t)si->si_addr;
	static const char msg[] = "uffdbox-bench: raw.sigsegv: unexpected SIGSEGV\n";

	(void)sig;
	(void)uc;
	if (h && si->si_code > 0 && a >= (uintptr_t)h->addr && a < (uintptr_t)h->addr + h->len) {
		int saved = errno;
		void *pg = (void *)(a & ~(uintptr_t)(h->page - 1));
		if (mprotect(pg, h->page, PROT_READ | PROT_WRITE) == 0) {
			memcpy(pg, h->src, h->page);
			atomic_fetch_add_explicit(&h->served, 1, memory_order_relaxed);
			errno = saved;
			return;
		}
	}
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(BENCH_EXIT_FAIL);
	_exit(BENCH_EXIT_FAIL);
}

static void *handler_main(void *arg)
{
	struct raw_handler *h = arg;
	struct uffd_msg m;

	for (;;) {
		if (h->mode == RAW_POLL) {
			struct pollfd p[2] = {{.fd = h->uffd, .events = POLLIN},
					      {.fd = h->stop_fd, .events = POLLIN}};
			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				bench_die(BENCH_EXIT_FAIL, "raw handler: poll: %s",
					  strerror(errno));
			}
			if (p[1].revents)
				return NULL;
			if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
				bench_die(BENCH_EXIT_FAIL, "raw handler: poll: revents %#x",
					  (unsigned int)p[0].revents);
			if (!(p[0].revents & POLLIN))
				continue;
		} else if (atomic_load_explicit(&h->stop, memory_order_relaxed)) {
			return NULL;
		}
		if (read_one(h, &m) && m.event == UFFD_EVENT_PAGEFAULT)
			resolve(h, &m);
	}
}

/* The userfaultfd modes: a uffd with the range registered for MISSING. */
static int map_uffd(struct raw_handler *h, enum raw_mode mode, unsigned char fill)
{
	h->uffd = open_uffd();
	if (h->uffd < 0)
		return h->uffd;
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = mode == RAW_SIGBUS ? UFFD_FEATURE_SIGBUS : 0,
	};
	if (ioctl(h->uffd, UFFDIO_API, &api) < 0)
		return -errno;

	h->src = mmap(NULL, h->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->src == MAP_FAILED)
		return -errno;
	memset(h->src, fill, h->page);

	h->addr = mmap(NULL, h->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->addr == MAP_FAILED)
		return -errno;
	struct uffdio_register reg = {
		.range = {.start = (uint64_t)(uintptr_t)h->addr, .len = h->len},
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(h->uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.ioctls & ((uint64_t)1 << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	return 0;
}

/* RAW_SIGSEGV: the pages PROT_NONE, no userfaultfd. */
static int map_plain(struct raw_handler *h, unsigned char fill)
{
	h->src = mmap(NULL, h->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->src == MAP_FAILED)
		return -errno;
	memset(h->src, fill, h->page);
	h->addr = mmap(NULL, h->len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->addr == MAP_FAILED)
		return -errno;
	return 0;
}

int raw_handler_start(enum raw_mode mode, size_t pages, unsigned char fill,
		      struct raw_handler **out)
{
	struct raw_handler *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	h->mode = mode;
	h->uffd = h->stop_fd = -1;
	h->page = (size_t)sysconf(_SC_PAGESIZE);
	h->len = pages * h->page;
	h->addr = MAP_FAILED;
	h->src = MAP_FAILED;

	h->signo = mode == RAW_SIGSEGV ? SIGSEGV : SIGBUS;
	rc = mode == RAW_SIGSEGV ? map_plain(h, fill) : map_uffd(h, mode, fill);
	if (rc < 0)
		goto fail;

	if (mode == RAW_SIGBUS || mode == RAW_SIGSEGV) {
		struct raw_handler *none = NULL;
		struct sigaction sa = {.sa_sigaction = mode == RAW_SIGBUS ? on_sigbus : on_sigsegv,
				       .sa_flags = SA_SIGINFO};
		if (!atomic_compare_exchange_strong(&sigbus_owner, &none, h)) {
			rc = -EBUSY;
			goto fail;
		}
		sigemptyset(&sa.sa_mask);
		if (sigaction(h->signo, &sa, &h->old_sigbus) < 0) {
			rc = -errno;
			atomic_store(&sigbus_owner, NULL);
			goto fail;
		}
		h->sigbus_installed = true;
		*out = h;
		return 0;
	}
	h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->stop_fd < 0)
		goto fail_errno;
	rc = pthread_create(&h->thread, NULL, handler_main, h);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	h->started = true;
	*out = h;
	return 0;

fail_errno:
	rc = -errno;
fail:
	raw_handler_stop(h);
	return rc;
}

char *raw_handler_addr(const struct raw_handler *h)
{
	return h->addr;
}

uint64_t raw_handler_stop(struct raw_handler *h)
{
	if (!h)
		return 0;
	if (h->started) {
		uint64_t one = 1;
		atomic_store(&h->stop, true);
		if (write(h->stop_fd, &one, sizeof(one)) != sizeof(one))
			bench_die(BENCH_EXIT_FAIL, "raw handler: eventfd: %s", strerror(errno));
		pthread_join(h->thread, NULL);
	}
	if (h->sigbus_installed) {
		sigaction(h->signo, &h->old_sigbus, NULL);
		atomic_store(&sigbus_owner, NULL);
	}
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	/* Closing the uffd unregisters the range. */
	if (h->uffd >= 0)
		close(h->uffd);
	if (h->addr != MAP_FAILED)
		munmap(h->addr, h->len);
	if (h->src != MAP_FAILED)
		munmap(h->src, h->page);
	uint64_t served = atomic_load(&h->served);
	free(h);
	return served;
}
