/* SPDX-License-Identifier: MIT */
/*
 * run/fds.c - libuffdbox-run.so's own descriptors, out of the program's
 * reach.
 *
 * The userfaultfd that keeps the quarantine alive is a descriptor of the
 * program.  Daemons, sandboxes and test harnesses close every descriptor
 * they do not know (a close() loop over 3..N, close_range(3, ~0U, 0),
 * closefrom(3)) or dup2() files over low numbers; any of these would turn
 * detection off without a word.  So our descriptors live near the
 * RLIMIT_NOFILE soft limit, close-on-exec (uffdbox__fd_high), and the calls
 * below act on the program's other descriptors and leave ours: close() of
 * ours reports success and does nothing, close_range()/closefrom() close the
 * range around them, dup2()/dup3() onto ours first moves ours elsewhere.
 *
 * A program still sees them in /proc/self/fd, and a raw close syscall
 * (not through libc) is not seen.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "preload.h"

#define EXPORT	__attribute__((visibility("default")))
#define OWN_MAX 4

static int *_Atomic owned[OWN_MAX];
static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;

static bool is_ours(int fd)
{
	if (fd < 0)
		return false;
	for (int i = 0; i < OWN_MAX; i++) {
		int *s = atomic_load_explicit(&owned[i], memory_order_acquire);
		if (s && *s == fd)
			return true;
	}
	return false;
}

int uffdbox__fd_own(int *slot)
{
	pthread_mutex_lock(&fmu);
	*slot = uffdbox__fd_high(*slot);
	int i = 0;
	while (i < OWN_MAX && owned[i] && owned[i] != slot)
		i++;
	if (i < OWN_MAX)
		atomic_store_explicit(&owned[i], slot, memory_order_release);
	pthread_mutex_unlock(&fmu);
	return i < OWN_MAX ? *slot : -ENFILE;
}

void uffdbox__fd_disown(int *slot)
{
	pthread_mutex_lock(&fmu);
	for (int i = 0; i < OWN_MAX; i++)
		if (owned[i] == slot)
			atomic_store(&owned[i], NULL);
	pthread_mutex_unlock(&fmu);
}

/* The descriptor the program is about to replace is ours: move it first
 * (a fresh high number), so that the program's dup2 gets the number it
 * asked for and we keep our file. */
static void move_if_ours(int fd)
{
	if (!is_ours(fd))
		return;
	pthread_mutex_lock(&fmu);
	for (int i = 0; i < OWN_MAX; i++) {
		int *s = owned[i];
		if (!s || *s != fd)
			continue;
		int nfd = fcntl(fd, F_DUPFD_CLOEXEC, fd > 64 ? fd - 32 : 3);
		if (nfd >= 0)
			*s = nfd; /* the program's dup2 closes the old number */
	}
	pthread_mutex_unlock(&fmu);
}

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

EXPORT int close(int fd)
{
	static int (*real)(int);
	if (is_ours(fd))
		return 0; /* as if closed; it stays ours */
	if (!real)
		real = (int (*)(int))next("close");
	return real ? real(fd) : (int)syscall(SYS_close, fd);
}

static int raw_close_range(unsigned int first, unsigned int last, int flags)
{
	static int (*real)(unsigned int, unsigned int, int);
	if (!real)
		real = (int (*)(unsigned int, unsigned int, int))next("close_range");
	return real ? real(first, last, flags) : (int)syscall(SYS_close_range, first, last, flags);
}

/* [first, last] minus our descriptors, in increasing pieces. */
EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int ours[OWN_MAX], n = 0;
	for (int i = 0; i < OWN_MAX; i++) {
		int *s = atomic_load(&owned[i]);
		if (s && *s >= 0 && (unsigned int)*s >= first && (unsigned int)*s <= last)
			ours[n++] = *s;
	}
	if (!n || first > last)
		return raw_close_range(first, last, flags);
	for (int i = 1; i < n; i++) /* a handful: insertion sort */
		for (int k = i; k > 0 && ours[k - 1] > ours[k]; k--) {
			int t = ours[k];
			ours[k] = ours[k - 1];
			ours[k - 1] = t;
		}
	int rc = 0;
	unsigned int lo = first;
	for (int i = 0; i < n; i++) {
		unsigned int fd = (unsigned int)ours[i];
		if (fd > lo && raw_close_range(lo, fd - 1, flags) < 0)
			rc = -1;
		lo = fd + 1; /* ours are below 65536: no overflow */
	}
	if (lo <= last && raw_close_range(lo, last, flags) < 0)
		rc = -1;
	return rc;
}

EXPORT void closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	if (close_range((unsigned int)lowfd, ~0u, 0) == 0)
		return;
	/* No close_range (old kernel, seccomp): one by one, as far as the
	 * limit allows. */
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
		close((int)fd);
}

EXPORT int dup2(int oldfd, int newfd)
{
	static int (*real)(int, int);
	if (oldfd != newfd)
		move_if_ours(newfd);
	if (!real)
		real = (int (*)(int, int))next("dup2");
	return real ? real(oldfd, newfd) : (int)syscall(SYS_dup2, oldfd, newfd);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	static int (*real)(int, int, int);
	if (oldfd != newfd)
		move_if_ours(newfd);
	if (!real)
		real = (int (*)(int, int, int))next("dup3");
	return real ? real(oldfd, newfd, flags) : (int)syscall(SYS_dup3, oldfd, newfd, flags);
}
