/* SPDX-License-Identifier: MIT */
/* core/error.c - texts for error codes. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uffdbox/common.h"
#include "internal.h"

static const char *const project_errors[] = {
	[UFFDBOX_E_NOFEATURE - UFFDBOX_E_BASE] =
		"a required userfaultfd feature is not offered by this kernel "
		"(or hidden by UFFDBOX_FEATURE_MASK)",
	[UFFDBOX_E_DENIED - UFFDBOX_E_BASE] =
		"userfaultfd denied (by a seccomp filter such as a container's default profile, "
		"by /dev/userfaultfd's permissions, or by vm.unprivileged_userfaultfd=0 without "
		"CAP_SYS_PTRACE; the error text names which, and `uffdbox features` diagnoses it)",
	[UFFDBOX_E_BADMASK - UFFDBOX_E_BASE] =
		"UFFDBOX_FEATURE_MASK is not a number (use e.g. 0x8000)",
	[UFFDBOX_E_MSG_SHORT - UFFDBOX_E_BASE] = "uffd message buffer is shorter than one message",
	[UFFDBOX_E_MSG_UNKNOWN - UFFDBOX_E_BASE] = "uffd message has an unknown event code",
	[UFFDBOX_E_MSG_INVALID - UFFDBOX_E_BASE] = "uffd message fields are inconsistent",
	[UFFDBOX_E_NOHUGE - UFFDBOX_E_BASE] =
		"no huge pages available (reserve some: echo N > /proc/sys/vm/nr_hugepages)",
};

/*
 * strerror() is neither async-signal-safe nor thread-safe in every libc;
 * strerrordesc_np() (glibc 2.32+) returns a constant string and is both.
 */
const char *uffdbox_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	if (err > UFFDBOX_E_BASE && err < UFFDBOX_E_END)
		return project_errors[err - UFFDBOX_E_BASE];
	const char *s = strerrordesc_np(err);
	return s ? s : "unknown error";
}

void uffdbox__explain(char *buf, size_t len, const char *fmt, ...)
{
	if (!buf || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void uffdbox__chain_signal(const struct sigaction *old, int sig, siginfo_t *si, void *uc)
{
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction) {
			old->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old->sa_handler == SIG_IGN) {
		return;
	} else if (old->sa_handler != SIG_DFL) {
		old->sa_handler(sig);
		return;
	}
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
}

int uffdbox__fd_high(int fd)
{
	struct rlimit rl;
	long top = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536 ? 65536
									  : (long)rl.rlim_cur;
	/* Leave the last few numbers free: a program that checks it can still
	 * open one more file near its limit gets the same answer. */
	long base = top > 64 ? top - 16 : top / 2;
	if (fd < 0 || fd >= base)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, (int)base);
	if (nfd < 0)
		return fd;
	/* Raw close: in libuffdbox-run.so close() is the program's, and
	 * refuses our descriptors. */
	syscall(SYS_close, fd);
	return nfd;
}

int uffdbox__opts_copy(void *dst, size_t known, size_t ver0, const void *src, const char *type,
		       size_t errbuf_off, char *errbuf, size_t errbuf_len)
{
	const unsigned char *s = src;
	size_t usize, n;

	if (!src)
		return 0; /* NULL: every default */
	memcpy(&usize, s, sizeof(usize));
	/* The caller's errbuf.  Read even when .sz is too small (forgotten, 0):
	 * no header ever had a struct shorter than its first version, so those
	 * bytes are the caller's whatever .sz says. */
	size_t have = usize > ver0 ? usize : ver0;
	if (errbuf_off != UFFDBOX__NO_ERRBUF &&
	    have >= errbuf_off + sizeof(char *) + sizeof(size_t)) {
		memcpy(&errbuf, s + errbuf_off, sizeof(errbuf));
		memcpy(&errbuf_len, s + errbuf_off + sizeof(errbuf), sizeof(errbuf_len));
	}
	if (usize < ver0) {
		uffdbox__explain(errbuf, errbuf_len,
				 "struct %s: .sz = %zu is smaller than its first version (%zu "
				 "bytes): set .sz = sizeof(struct %s), or declare it with "
				 "UFFDBOX_OPTS(%s, name, ...)",
				 type, usize, ver0, type, type);
		return -EINVAL;
	}
	/* A larger struct from a newer header: what this version does not know
	 * must be zero, or the caller asked for something it cannot do. */
	for (size_t i = known; i < usize; i++)
		if (s[i]) {
			uffdbox__explain(errbuf, errbuf_len,
					 "struct %s: .sz = %zu, and byte %zu, past the %zu bytes "
					 "this uffdbox knows, is not zero: a field this version "
					 "does not have is set (built against a newer uffdbox?); "
					 "set .sz = sizeof(struct %s) with this version's header",
					 type, usize, i, known, type);
			return -E2BIG;
		}
	n = usize < known ? usize : known;
	memcpy(dst, s, n);
	memcpy(dst, &known, sizeof(known)); /* .sz: the size now filled in */
	return 0;
}
