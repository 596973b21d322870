/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/common.h - conventions shared by every part of the public API.
 *
 * Errors: every function that can fail returns an int (or ssize_t) that is
 * >= 0 on success and a negative error code on failure.  A negative code is
 * either -errno (from the kernel or libc) or -UFFDBOX_E_* (uffdbox's own
 * conditions, all above 4095 so they never collide with errno values).
 * uffdbox_strerror() turns either kind into text.  There is no hidden errno
 * channel: errno is unspecified after a uffdbox call.
 *
 * Options structs start with `size_t sz` (set it to sizeof(the struct), or
 * declare the struct with UFFDBOX_OPTS()); passing NULL means "all
 * defaults".  Fields added later go at the end, so a caller compiled
 * against an older header keeps working.  They are read as the kernel's
 * copy_struct_from_user() reads sched_setattr's, openat2's and clone3's:
 *   .sz smaller than the struct's first version      -EINVAL
 *   .sz larger, and a non-zero byte past the fields
 *   this version knows (a newer caller asks for more)  -E2BIG
 * and the options' errbuf, if it has one, says "set .sz = sizeof(struct
 * ...)".  Where an object or an output pointer is required, NULL is
 * -EINVAL, never a crash.
 */
#ifndef UFFDBOX_COMMON_H
#define UFFDBOX_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UFFDBOX_BUILDING)
#define UFFDBOX_API __attribute__((visibility("default")))
#else
#define UFFDBOX_API
#endif

/*
 * UFFDBOX_OPTS - declare options struct @name of type `struct @type` with
 * .sz set and every other byte (padding included) zero, then the fields
 * given (libbpf's LIBBPF_OPTS):
 *
 *   UFFDBOX_OPTS(uffdbox_region_opts, ro, .pages = 16, .name = "input");
 *   rc = uffdbox_region_new(u, &ro, &r);
 */
#define UFFDBOX_OPTS(type, name, ...)                                  \
	struct type name = ({                                          \
		memset(&name, 0, sizeof(struct type));                 \
		(struct type){.sz = sizeof(struct type), __VA_ARGS__}; \
	})

enum uffdbox_error {
	UFFDBOX_E_BASE = 4096,
	/* A feature the caller required is not offered by this kernel (or is
	 * hidden by UFFDBOX_FEATURE_MASK). */
	UFFDBOX_E_NOFEATURE,
	/* userfaultfd could not be opened by any method: permissions. */
	UFFDBOX_E_DENIED,
	/* UFFDBOX_FEATURE_MASK is set but is not a number. */
	UFFDBOX_E_BADMASK,
	/* A message buffer is shorter than one uffd_msg. */
	UFFDBOX_E_MSG_SHORT,
	/* A message has an event code this version does not know. */
	UFFDBOX_E_MSG_UNKNOWN,
	/* A message's fields contradict each other or the kernel ABI. */
	UFFDBOX_E_MSG_INVALID,
	/* No huge pages could be reserved for a hugetlb region. */
	UFFDBOX_E_NOHUGE,
	UFFDBOX_E_END,
};

/*
 * uffdbox_strerror - a static, human-readable text for an error code.
 * @err: a negative (or positive) errno or UFFDBOX_E_* value.
 *
 * Returns a pointer to a constant string; never NULL.  Thread-safe and
 * async-signal-safe (no locale, no allocation).
 */
UFFDBOX_API const char *uffdbox_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_COMMON_H */
