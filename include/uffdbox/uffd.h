/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/uffd.h - open a userfaultfd, negotiate its features, and call its
 * ioctls with the kernel's result conventions handled exactly.
 *
 * Feature bits are the kernel's UFFD_FEATURE_* values (see uffdbox/compat.h
 * for the ones newer than the build headers).
 */
#ifndef UFFDBOX_UFFD_H
#define UFFDBOX_UFFD_H

#include <stdbool.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the fd was (or may be) obtained; see uffdbox_uffd_open(). */
enum uffdbox_open_method {
	/* userfaultfd(2) with UFFD_USER_MODE_ONLY: needs no privilege (5.11+). */
	UFFDBOX_OPEN_SYSCALL_USER = 1u << 0,
	/* /dev/userfaultfd + USERFAULTFD_IOC_NEW: governed by the device's
	 * file permissions, handles kernel-mode faults too (6.1+). */
	UFFDBOX_OPEN_DEVICE = 1u << 1,
	/* userfaultfd(2) without the user-mode flag: needs CAP_SYS_PTRACE or
	 * vm.unprivileged_userfaultfd=1; the only way before 5.11. */
	UFFDBOX_OPEN_SYSCALL = 1u << 2,
	UFFDBOX_OPEN_ALL = 7u,
};

/* Registration modes (UFFDIO_REGISTER_MODE_*). */
enum uffdbox_reg_mode {
	UFFDBOX_REG_MISSING = 1u << 0,
	UFFDBOX_REG_WP = 1u << 1,
	UFFDBOX_REG_MINOR = 1u << 2,
};

/* Flags of the resolving calls. Not every call accepts every flag: a flag a
 * call does not take makes it fail with -EINVAL. */
enum uffdbox_resolve_flag {
	/* Do not wake the faulting thread(s) (copy, zeropage, continue,
	 * poison, move, unprotect). Wake later with uffdbox_uffd_wake(). */
	UFFDBOX_DONTWAKE = 1u << 0,
	/* Map the new page write-protected (copy, continue). */
	UFFDBOX_MAP_WP = 1u << 1,
	/* -EEXIST from the first page means "already there" for the caller:
	 * wake [addr, addr+len) and return len (copy, zeropage, continue,
	 * poison). Pages after the first that were missing fault again, so
	 * nothing is lost: the woken thread re-faults on them. */
	UFFDBOX_EXIST_OK = 1u << 2,
	/* move: missing source pages are skipped instead of failing. */
	UFFDBOX_MOVE_SRC_HOLES = 1u << 3,
};

struct uffdbox_uffd_opts {
	size_t sz;
	/* Features wanted if the kernel offers them (missing ones are
	 * silently dropped; read back with uffdbox_uffd_features()). */
	uint64_t want_features;
	/* Features without which open fails with -UFFDBOX_E_NOFEATURE. */
	uint64_t need_features;
	/* Methods allowed, as a mask of enum uffdbox_open_method; 0 means
	 * all, tried in the order SYSCALL_USER, DEVICE, SYSCALL. */
	unsigned int methods;
	/* The caller needs faults taken in kernel mode (read(2) into a
	 * registered page...) to be handled: excludes SYSCALL_USER. */
	bool kernel_faults;
	/* Open blocking (reads wait for a message). Default: O_NONBLOCK. */
	bool blocking;
	/* Optional buffer for a human explanation of a failure: the cause
	 * and what to do about it. Written only when open fails. */
	char *errbuf;
	size_t errbuf_len;
};

struct uffdbox_uffd;

/*
 * What stands behind a struct uffdbox_uffd (see docs/backends.md).
 *   UFFD    a real userfaultfd;
 *   SIGNAL  no userfaultfd: registrations are protection changes and guard
 *           markers, and a fault is a SIGSEGV in the faulting thread, which
 *           the SYNC transport resolves in place.  Chosen when userfaultfd
 *           is denied (a container's seccomp profile: EPERM; gVisor: ENOSYS),
 *           missing (no CONFIG_USERFAULTFD, no device) or lacks a needed
 *           feature the signals have, or forced with UFFDBOX_BACKEND=signal.
 *   AUTO    (UFFDBOX_BACKEND unset, empty or "auto"): uffd, else signal.
 */
enum uffdbox_backend {
	UFFDBOX_BACKEND_AUTO = 0,
	UFFDBOX_BACKEND_UFFD = 1,
	UFFDBOX_BACKEND_SIGNAL = 2,
};

/* uffdbox_backend_from_env - the backend UFFDBOX_BACKEND asks for (AUTO when
 * unset).  Returns 0, or -EINVAL for a value other than uffd, signal, auto.
 * Thread-safe (reads the environment). */
UFFDBOX_API int uffdbox_backend_from_env(enum uffdbox_backend *b);
/* "auto", "uffd", "signal"; "?" otherwise. */
UFFDBOX_API const char *uffdbox_backend_name(enum uffdbox_backend b);

/*
 * uffdbox_uffd_open - open a userfaultfd and negotiate its features.
 *
 * Tries the allowed methods in order (see enum uffdbox_open_method): a
 * method refused with EPERM/EACCES (or ENOENT/ENOSYS: not built in, no
 * device) or, for the user-mode flag, EINVAL (pre-5.11 kernel) falls through
 * to the next.  Features are probed first on a throwaway fd, because
 * UFFDIO_API succeeds only once per fd and a request with an unknown bit
 * fails outright; the real fd then asks only for
 * (want | need) & advertised & ~UFFDBOX_FEATURE_MASK.
 * The fd is always O_CLOEXEC.
 *
 * Backend (UFFDBOX_BACKEND): "uffd" only as above; "signal" only the signal
 * backend (no fd; fails with -UFFDBOX_E_DENIED for kernel_faults and
 * -UFFDBOX_E_NOFEATURE for what it cannot emulate: minor faults, events,
 * WP_ASYNC, MOVE); auto (unset) the signal backend when the userfaultfd
 * fails with -UFFDBOX_E_DENIED or -UFFDBOX_E_NOFEATURE and the caller asked
 * for neither particular methods nor kernel_faults.  -EINVAL for another
 * value of UFFDBOX_BACKEND.
 *
 * Returns 0 and *out on success.  -UFFDBOX_E_DENIED when no method is
 * allowed (errbuf then names the sysctl, capability or device permission
 * to change); -UFFDBOX_E_NOFEATURE when a needed feature is missing (errbuf
 * names it); -UFFDBOX_E_BADMASK for an unparsable UFFDBOX_FEATURE_MASK;
 * other -errno (-EMFILE, -ENOMEM...) as the kernel said.
 *
 * Ownership: the caller owns *out and frees it with uffdbox_uffd_close().
 * Thread-safe; not async-signal-safe (allocates).
 */
UFFDBOX_API int uffdbox_uffd_open(const struct uffdbox_uffd_opts *opts, struct uffdbox_uffd **out);

/*
 * uffdbox_uffd_close - close the fd and free the object.
 *
 * Closing a uffd unregisters every range and wakes every thread blocked in
 * a fault on it (their access is retried and, with nothing registered,
 * served by the kernel normally).  NULL is accepted.  Not thread-safe
 * against other calls on the same object.
 */
UFFDBOX_API void uffdbox_uffd_close(struct uffdbox_uffd *u);

/* Getters; thread-safe and async-signal-safe. */
UFFDBOX_API int uffdbox_uffd_fd(const struct uffdbox_uffd *u);
UFFDBOX_API uint64_t uffdbox_uffd_features(const struct uffdbox_uffd *u);
/* Bit mask of 1 << _UFFDIO_* the kernel reported from UFFDIO_API. */
UFFDBOX_API uint64_t uffdbox_uffd_api_ioctls(const struct uffdbox_uffd *u);
UFFDBOX_API enum uffdbox_open_method uffdbox_uffd_method(const struct uffdbox_uffd *u);
/* UFFDBOX_BACKEND_UFFD or UFFDBOX_BACKEND_SIGNAL (then uffdbox_uffd_method()
 * is 0, uffdbox_uffd_read() always -EAGAIN, and uffdbox_uffd_fd() an eventfd
 * that becomes readable when a faulting thread posted a paused fault for
 * the SERVED handler thread). */
UFFDBOX_API enum uffdbox_backend uffdbox_uffd_backend(const struct uffdbox_uffd *u);

/*
 * uffdbox_uffd_probe - the features and ioctls this kernel advertises,
 * minus those hidden by UFFDBOX_FEATURE_MASK.
 *
 * Opens and closes a throwaway fd (methods as in opts; NULL = defaults).
 * Returns 0, or an error as uffdbox_uffd_open().  Thread-safe.
 */
UFFDBOX_API int uffdbox_uffd_probe(const struct uffdbox_uffd_opts *opts, uint64_t *features,
				   uint64_t *ioctls);

/*
 * Kernel facilities that are not UFFD_FEATURE_* bits but that uffdbox uses
 * when the kernel has them, hidden by UFFDBOX_FEATURE_MASK like features so
 * that older kernels' paths run on a new one: the high bits, which the
 * kernel does not use for features.
 */
#define UFFDBOX_HIDE_DEVICE	     (1ULL << 63) /* /dev/userfaultfd (6.1) */
#define UFFDBOX_HIDE_GUARD_INSTALL   (1ULL << 62) /* MADV_GUARD_INSTALL (6.13) */
#define UFFDBOX_HIDE_PAGEMAP_SCAN    (1ULL << 61) /* PAGEMAP_SCAN (6.7) */
#define UFFDBOX_HIDE_PROCESS_MADVISE (1ULL << 60) /* process_madvise() on itself (6.13) */
/* What Linux 6.1 (Debian bookworm) lacks: WP_UNPOPULATED, POISON, WP_ASYNC,
 * MOVE, guard install, PAGEMAP_SCAN, process_madvise on itself. */
#define UFFDBOX_MASK_LINUX_6_1 0x700000000001e000ULL
/* What Linux 5.15 (Ubuntu 22.04) lacks besides: EXACT_ADDRESS (5.18),
 * WP_HUGETLBFS_SHMEM (5.19), /dev/userfaultfd (6.1). */
#define UFFDBOX_MASK_LINUX_5_15 0xf00000000001f800ULL

/*
 * uffdbox_uffd_try_method - whether exactly one open method works here:
 * opens a userfaultfd by @method (one enum uffdbox_open_method bit) and
 * closes it at once, without UFFDIO_API.  For diagnostics (`uffdbox
 * features`): unlike uffdbox_uffd_open(), the kernel's own error is kept.
 *
 * Returns 0, or the -errno the method failed with (-EPERM: sysctl,
 * capability or a seccomp filter; -EACCES/-ENOENT: the device; -EINVAL:
 * no UFFD_USER_MODE_ONLY before 5.11, or @method not one method).
 * Thread-safe.
 */
UFFDBOX_API int uffdbox_uffd_try_method(enum uffdbox_open_method method);

/*
 * uffdbox_feature_mask - the features hidden by the environment variable
 * UFFDBOX_FEATURE_MASK (a number in C syntax: 0x8000, 32768, 0100000):
 * UFFD_FEATURE_* bits and UFFDBOX_HIDE_* bits.
 *
 * Returns 0 and *mask (0 when unset or empty), or -UFFDBOX_E_BADMASK when
 * the value is not a whole number.  Thread-safe (reads the environment).
 */
UFFDBOX_API int uffdbox_feature_mask(uint64_t *mask);

/* uffdbox_feature_name - "WP_ASYNC" for UFFD_FEATURE_WP_ASYNC, etc.; "?" for
 * a bit this version does not know. @bit must have exactly one bit set. */
UFFDBOX_API const char *uffdbox_feature_name(uint64_t bit);

/*
 * uffdbox_features_format - the names of the bits of @features, joined by
 * '|', into @buf (always NUL-terminated). Unknown bits appear as 0x...
 * Returns the length the full text needs (as snprintf).
 */
UFFDBOX_API int uffdbox_features_format(uint64_t features, char *buf, size_t len);

/*
 * uffdbox_uffd_register - register [addr, addr+len) in @modes.
 *
 * @addr and @len must be aligned to the memory's page size (huge page size
 * for hugetlb).  @ioctls, when not NULL, receives the mask of resolving
 * ioctls the kernel allows on the range.  Returns 0 or -errno (-EINVAL for
 * bad alignment or a mode the memory type does not support, -EBUSY when
 * the range is registered with another uffd, -ENOMEM...).
 * Thread-safe; async-signal-safe.
 */
UFFDBOX_API int uffdbox_uffd_register(struct uffdbox_uffd *u, void *addr, size_t len,
				      unsigned int modes, uint64_t *ioctls);
UFFDBOX_API int uffdbox_uffd_unregister(struct uffdbox_uffd *u, void *addr, size_t len);

/*
 * The resolving calls.  Each returns the number of bytes resolved, or a
 * negative error:
 *   == len         done;
 *   0 < r < len    partial progress: [addr, addr+r) is done, the rest is
 *                  not (the kernel stopped, e.g. at a page already present);
 *                  call again for the rest;
 *   -EAGAIN        no progress, retryable: a non-cooperative event (REMOVE,
 *                  UNMAP, REMAP, FORK) is pending; read it, then retry;
 *   -EEXIST        the first page is already present (a racing fault or
 *                  a second resolution); with UFFDBOX_EXIST_OK this becomes
 *                  success (see the flag);
 *   -ENOENT        the range is no longer registered/mapped as it was;
 *   -ESRCH         the process owning the memory is gone;
 *   -EINVAL etc.   bad arguments or unsupported on this memory/kernel.
 * All are thread-safe and async-signal-safe (a single ioctl, no errno
 * left changed).
 */
UFFDBOX_API ssize_t uffdbox_uffd_copy(struct uffdbox_uffd *u, void *dst, const void *src,
				      size_t len, unsigned int flags);
UFFDBOX_API ssize_t uffdbox_uffd_zeropage(struct uffdbox_uffd *u, void *dst, size_t len,
					  unsigned int flags);
UFFDBOX_API ssize_t uffdbox_uffd_continue(struct uffdbox_uffd *u, void *addr, size_t len,
					  unsigned int flags);
UFFDBOX_API ssize_t uffdbox_uffd_poison(struct uffdbox_uffd *u, void *addr, size_t len,
					unsigned int flags);
UFFDBOX_API ssize_t uffdbox_uffd_move(struct uffdbox_uffd *u, void *dst, void *src, size_t len,
				      unsigned int flags);
/*
 * uffdbox_uffd_writeprotect - protect (@protect true) or unprotect a range.
 * Unprotecting wakes threads blocked on a WP fault there unless
 * UFFDBOX_DONTWAKE.  Returns 0 (the kernel reports no partial progress for
 * this call) or -errno; -EAGAIN as above.
 */
UFFDBOX_API int uffdbox_uffd_writeprotect(struct uffdbox_uffd *u, void *addr, size_t len,
					  bool protect, unsigned int flags);
/* uffdbox_uffd_wake - wake threads blocked on faults in the range. */
UFFDBOX_API int uffdbox_uffd_wake(struct uffdbox_uffd *u, void *addr, size_t len);

/*
 * uffdbox_uffd_read - read raw messages (multiples of 32 bytes).
 * Returns bytes read, -EAGAIN when none is pending on a non-blocking fd,
 * or -errno.  Parse them with uffdbox/msg.h.  Async-signal-safe.
 */
UFFDBOX_API ssize_t uffdbox_uffd_read(struct uffdbox_uffd *u, void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_UFFD_H */
