/* SPDX-License-Identifier: MIT */
/*
 * core/uffd.c - opening a userfaultfd, negotiating features, and the
 * resolving ioctls with the kernel's signed result fields decoded exactly.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "uffdbox/compat.h"
#include "uffdbox/region.h"
#include "uffdbox/uffd.h"
#include "sigbackend.h"
#include "sys.h"
#include "internal.h"
#include "text.h"

struct uffdbox_uffd {
	int fd; /* -1 for the signal backend */
	enum uffdbox_open_method method;
	uint64_t features;
	uint64_t ioctls;
	struct uffdbox__sig *sig; /* the signal backend; NULL for a userfaultfd */
};

static const char *const feature_names[] = {
	"PAGEFAULT_FLAG_WP",
	"EVENT_FORK",
	"EVENT_REMAP",
	"EVENT_REMOVE",
	"MISSING_HUGETLBFS",
	"MISSING_SHMEM",
	"EVENT_UNMAP",
	"SIGBUS",
	"THREAD_ID",
	"MINOR_HUGETLBFS",
	"MINOR_SHMEM",
	"EXACT_ADDRESS",
	"WP_HUGETLBFS_SHMEM",
	"WP_UNPOPULATED",
	"POISON",
	"WP_ASYNC",
	"MOVE",
};

const char *uffdbox_feature_name(uint64_t bit)
{
	if (bit == 0 || (bit & (bit - 1)))
		return "?";
	unsigned int i = (unsigned int)__builtin_ctzll(bit);
	if (i >= sizeof(feature_names) / sizeof(feature_names[0]))
		return "?";
	return feature_names[i];
}

int uffdbox_features_format(uint64_t features, char *buf, size_t len)
{
	size_t n = 0; /* length of the whole text so far */

	if (!features)
		return snprintf(buf, len, "none");
	if (len)
		buf[0] = '\0';
	for (unsigned int i = 0; i < 64; i++) {
		uint64_t bit = 1ULL << i;
		char hex[24];
		if (!(features & bit))
			continue;
		const char *name = uffdbox_feature_name(bit);
		if (name[0] == '?') {
			snprintf(hex, sizeof(hex), "0x%" PRIx64, bit);
			name = hex;
		}
		n += (size_t)snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, "%s%s",
				      n ? "|" : "", name);
	}
	return (int)n;
}

int uffdbox_feature_mask(uint64_t *mask)
{
	const char *s = getenv("UFFDBOX_FEATURE_MASK");

	*mask = 0;
	if (!s || !*s)
		return 0;
	uint64_t v;
	if (uffdbox__parse_u64(s, 0, &v) < 0)
		return -UFFDBOX_E_BADMASK;
	*mask = v;
	return 0;
}

bool uffdbox__hidden(uint64_t bit)
{
	uint64_t mask;
	return uffdbox_feature_mask(&mask) == 0 && (mask & bit);
}

static bool has_cap_sys_ptrace(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	bool ok = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long eff;
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			ok = eff & (1ULL << 19); /* CAP_SYS_PTRACE */
			break;
		}
	}
	fclose(f);
	return ok;
}

/* The "Seccomp:" mode of /proc/self/status: 2 when a filter is installed
 * (as in a container), 0 none, -1 unknown. */
static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int mode = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

/* Write into errbuf why every method failed and what would fix it. */
static void explain_denied(char *buf, size_t len, unsigned int methods, int errs[3])
{
	/* The syscall refused by every way it was tried (the device, when
	 * there is one in a container at all, is refused by its own cause). */
	bool all_denied = (methods & (UFFDBOX_OPEN_SYSCALL_USER | UFFDBOX_OPEN_SYSCALL)) != 0;
	for (int i = 0; i < 3; i += 2)
		if ((methods & (1u << i)) && errs[i] != -EPERM && errs[i] != -ENOSYS)
			all_denied = false;
	/*
	 * A seccomp filter (a container's default profile: Docker, containerd,
	 * podman do not allow userfaultfd(2)) answers EPERM or ENOSYS whatever
	 * the sysctl, the device or the capabilities say: name it, not them.
	 */
	if (all_denied && seccomp_mode() == 2) {
		uffdbox__explain(
			buf, len,
			"userfaultfd is denied by a seccomp filter (Seccomp: 2 in "
			"/proc/self/status, as under a container runtime's default profile: "
			"Docker, containerd/Kubernetes RuntimeDefault and podman do not allow "
			"userfaultfd(2)): syscall with UFFD_USER_MODE_ONLY: %s; "
			"/dev/userfaultfd: %s; syscall for kernel faults: %s. "
			"Fix one of: use the signal backend (UFFDBOX_BACKEND=signal or unset, "
			"see docs/backends.md); run the container with a profile that allows "
			"userfaultfd (--security-opt seccomp=PROFILE.json) or "
			"--security-opt seccomp=unconfined; or --privileged.",
			(methods & UFFDBOX_OPEN_SYSCALL_USER) ? uffdbox_strerror(errs[0])
							      : "not tried",
			(methods & UFFDBOX_OPEN_DEVICE) ? uffdbox_strerror(errs[1]) : "not tried",
			(methods & UFFDBOX_OPEN_SYSCALL) ? uffdbox_strerror(errs[2]) : "not tried");
		return;
	}
	char sysctl[16] = "?";
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "re");
	struct stat st;

	if (f) {
		if (!fgets(sysctl, sizeof(sysctl), f))
			strcpy(sysctl, "?");
		sysctl[strcspn(sysctl, "\n")] = '\0';
		fclose(f);
	}
	bool dev = stat("/dev/userfaultfd", &st) == 0;
	uffdbox__explain(
		buf, len,
		"userfaultfd could not be opened: "
		"syscall with UFFD_USER_MODE_ONLY: %s; /dev/userfaultfd: %s; "
		"syscall for kernel faults: %s. "
		"vm.unprivileged_userfaultfd=%s, CAP_SYS_PTRACE %s, /dev/userfaultfd %s (mode %o "
		"uid %u). "
		"Fix one of: use the user-mode-only syscall (do not require kernel_faults); "
		"make /dev/userfaultfd accessible to this user (chmod/chgrp, udev rule); "
		"sysctl -w vm.unprivileged_userfaultfd=1; or run with CAP_SYS_PTRACE.",
		(methods & UFFDBOX_OPEN_SYSCALL_USER) ? uffdbox_strerror(errs[0]) : "not tried",
		(methods & UFFDBOX_OPEN_DEVICE) ? uffdbox_strerror(errs[1]) : "not tried",
		(methods & UFFDBOX_OPEN_SYSCALL) ? uffdbox_strerror(errs[2]) : "not tried", sysctl,
		has_cap_sys_ptrace() ? "present" : "absent", dev ? "exists" : "is missing",
		dev ? (unsigned int)(st.st_mode & 07777) : 0u, dev ? (unsigned int)st.st_uid : 0u);
}

/* Whether a failure of one method means "try the next one". */
static bool refused(int err, enum uffdbox_open_method m)
{
	switch (err) {
	case -EPERM:
	case -EACCES:
	case -ENOENT: /* no /dev/userfaultfd */
	case -ENODEV:
	case -ENOSYS: /* CONFIG_USERFAULTFD=n, or filtered by seccomp */
	case -ENOTTY: /* device without USERFAULTFD_IOC_NEW (< 6.1) */
		return true;
	case -EINVAL:
		/* Kernels before 5.11 do not know UFFD_USER_MODE_ONLY. */
		return m == UFFDBOX_OPEN_SYSCALL_USER;
	default:
		return false;
	}
}

static int open_one(enum uffdbox_open_method m, int flags)
{
	int fd, dev;

	switch (m) {
	case UFFDBOX_OPEN_SYSCALL_USER:
		return sys_userfaultfd(flags | UFFD_USER_MODE_ONLY);
	case UFFDBOX_OPEN_DEVICE:
		if (uffdbox__hidden(UFFDBOX_HIDE_DEVICE))
			return -ENOENT; /* as on a kernel before 6.1 */
		dev = sys_open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev < 0)
			return dev;
		fd = sys_ioctl(dev, USERFAULTFD_IOC_NEW, (void *)(uintptr_t)flags);
		sys_close(dev);
		return fd;
	case UFFDBOX_OPEN_SYSCALL:
		return sys_userfaultfd(flags);
	default:
		return -EINVAL;
	}
}

/* Open an fd (no UFFDIO_API yet) by the first allowed method that works. */
static int open_fd(const struct uffdbox_uffd_opts *o, enum uffdbox_open_method *used)
{
	static const enum uffdbox_open_method order[3] = {
		UFFDBOX_OPEN_SYSCALL_USER, UFFDBOX_OPEN_DEVICE, UFFDBOX_OPEN_SYSCALL};
	unsigned int methods = o->methods ? o->methods : UFFDBOX_OPEN_ALL;
	int errs[3] = {-EPERM, -EPERM, -EPERM};
	int flags = O_CLOEXEC | (o->blocking ? 0 : O_NONBLOCK);

	if (methods & ~(unsigned int)UFFDBOX_OPEN_ALL)
		return -EINVAL;
	/* A user-mode-only fd does not handle faults taken inside the kernel
	 * (read(2) into a registered page fails with EFAULT instead). */
	if (o->kernel_faults)
		methods &= ~(unsigned int)UFFDBOX_OPEN_SYSCALL_USER;
	for (int i = 0; i < 3; i++) {
		if (!(methods & order[i]))
			continue;
		int fd = open_one(order[i], flags);
		if (fd >= 0) {
			/* Out of reach of a target that closes or dup2()s over
			 * the descriptors it does not know. */
			fd = uffdbox__fd_high(fd);
			*used = order[i];
			return fd;
		}
		errs[i] = fd;
		if (!refused(fd, order[i]))
			return fd;
	}
	if (!methods) {
		uffdbox__explain(
			o->errbuf, o->errbuf_len,
			"no open method left: kernel_faults excludes the user-mode-only syscall, "
			"and only it was allowed");
		return -EINVAL;
	}
	explain_denied(o->errbuf, o->errbuf_len, methods, errs);
	return -UFFDBOX_E_DENIED;
}

static int api(int fd, uint64_t features, uint64_t *got, uint64_t *ioctls)
{
	struct uffdio_api a = {.api = UFFD_API, .features = features};
	int rc = sys_ioctl(fd, UFFDIO_API, &a);

	if (rc < 0)
		return rc;
	if (got)
		*got = a.features;
	if (ioctls)
		*ioctls = a.ioctls;
	return 0;
}

static const struct uffdbox_uffd_opts default_opts = {.sz = sizeof(default_opts)};

/* Caller options over the defaults, checked as copy_struct_from_user(). */
static int read_opts(const struct uffdbox_uffd_opts *in, struct uffdbox_uffd_opts *o)
{
	*o = default_opts;
	return uffdbox__opts_copy(
		o, sizeof(*o), UFFDBOX__OFFSETOFEND(struct uffdbox_uffd_opts, errbuf_len), in,
		"uffdbox_uffd_opts", offsetof(struct uffdbox_uffd_opts, errbuf), NULL, 0);
}

static int probe_uffd(const struct uffdbox_uffd_opts *opts, uint64_t *features, uint64_t *ioctls)
{
	struct uffdbox_uffd_opts o;
	enum uffdbox_open_method m;
	uint64_t mask, f = 0, io = 0;
	int rc;

	if (!features && !ioctls)
		return -EINVAL; /* nothing to answer into */
	rc = read_opts(opts, &o);
	if (rc < 0)
		return rc;
	rc = uffdbox_feature_mask(&mask);
	if (rc < 0) {
		uffdbox__explain(o.errbuf, o.errbuf_len,
				 "UFFDBOX_FEATURE_MASK=\"%s\" is not a number",
				 getenv("UFFDBOX_FEATURE_MASK"));
		return rc;
	}
	int fd = open_fd(&o, &m);
	if (fd < 0)
		return fd;
	/* Asking for no feature makes the kernel report every one it has. */
	rc = api(fd, 0, &f, &io);
	sys_close(fd);
	if (rc < 0)
		return rc;
	if (features)
		*features = f & ~mask;
	if (ioctls)
		*ioctls = io;
	return 0;
}

int uffdbox_uffd_try_method(enum uffdbox_open_method method)
{
	if (method != UFFDBOX_OPEN_SYSCALL_USER && method != UFFDBOX_OPEN_DEVICE &&
	    method != UFFDBOX_OPEN_SYSCALL)
		return -EINVAL;
	int fd = open_one(method, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fd;
	sys_close(fd);
	return 0;
}

static int open_uffd(const struct uffdbox_uffd_opts *opts, struct uffdbox_uffd **out)
{
	struct uffdbox_uffd_opts o;
	uint64_t avail, got = 0, io = 0;
	enum uffdbox_open_method m;
	int rc, fd;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rc = read_opts(opts, &o);
	if (rc < 0)
		return rc;
	rc = probe_uffd(&o, &avail, NULL);
	if (rc < 0)
		return rc;
	uint64_t missing = o.need_features & ~avail;
	if (missing) {
		char names[256];
		uffdbox_features_format(missing, names, sizeof(names));
		uffdbox__explain(o.errbuf, o.errbuf_len,
				 "userfaultfd feature(s) %s required but not available "
				 "(kernel offers 0x%" PRIx64 "%s)",
				 names, avail,
				 getenv("UFFDBOX_FEATURE_MASK") ? ", minus UFFDBOX_FEATURE_MASK"
								: "");
		return -UFFDBOX_E_NOFEATURE;
	}
	uint64_t ask = (o.want_features | o.need_features) & avail;

	fd = open_fd(&o, &m);
	if (fd < 0)
		return fd;
	rc = api(fd, ask, &got, &io);
	/*
	 * EVENT_FORK is advertised to everyone but granted only with
	 * CAP_SYS_PTRACE: the kernel then refuses the whole request with EPERM
	 * (and an fd whose UFFDIO_API failed cannot be asked again).  When fork
	 * events were only wanted, retry on a fresh fd without them.
	 */
	if (rc == -EPERM && (ask & UFFD_FEATURE_EVENT_FORK) &&
	    !(o.need_features & UFFD_FEATURE_EVENT_FORK)) {
		sys_close(fd);
		ask &= ~(uint64_t)UFFD_FEATURE_EVENT_FORK;
		fd = open_fd(&o, &m);
		if (fd < 0)
			return fd;
		rc = api(fd, ask, &got, &io);
	}
	if (rc < 0) {
		char names[256];
		uffdbox_features_format(ask, names, sizeof(names));
		uffdbox__explain(o.errbuf, o.errbuf_len, "UFFDIO_API with features %s failed: %s%s",
				 names, uffdbox_strerror(rc),
				 rc == -EPERM ? " (EVENT_FORK needs CAP_SYS_PTRACE)" : "");
		sys_close(fd);
		return rc;
	}
	struct uffdbox_uffd *u = malloc(sizeof(*u));
	if (!u) {
		sys_close(fd);
		return -ENOMEM;
	}
	/* The kernel answers with every feature it supports, not just those
	 * asked for: keep what was negotiated. */
	*u = (struct uffdbox_uffd){.fd = fd, .method = m, .features = got & ask, .ioctls = io};
	if (ask & UFFD_FEATURE_WP_ASYNC)
		u->features |= got & UFFD_FEATURE_WP_UNPOPULATED; /* implied by WP_ASYNC */
	*out = u;
	return 0;
}

/* --- the backend: a userfaultfd, or signals (core/sigbackend.c) ---------- */

int uffdbox_backend_from_env(enum uffdbox_backend *b)
{
	const char *s = getenv("UFFDBOX_BACKEND");

	*b = UFFDBOX_BACKEND_AUTO;
	if (!s || !*s || !strcmp(s, "auto"))
		return 0;
	if (!strcmp(s, "uffd"))
		*b = UFFDBOX_BACKEND_UFFD;
	else if (!strcmp(s, "signal"))
		*b = UFFDBOX_BACKEND_SIGNAL;
	else
		return -EINVAL;
	return 0;
}

const char *uffdbox_backend_name(enum uffdbox_backend b)
{
	switch (b) {
	case UFFDBOX_BACKEND_AUTO:
		return "auto";
	case UFFDBOX_BACKEND_UFFD:
		return "uffd";
	case UFFDBOX_BACKEND_SIGNAL:
		return "signal";
	default:
		return "?";
	}
}

/* The backend to use for @o, or -EINVAL (errbuf says why). */
static int choose(const struct uffdbox_uffd_opts *o, enum uffdbox_backend *b)
{
	if (uffdbox_backend_from_env(b) < 0) {
		uffdbox__explain(o->errbuf, o->errbuf_len,
				 "UFFDBOX_BACKEND=\"%s\" is not one of uffd, signal, auto",
				 getenv("UFFDBOX_BACKEND"));
		return -EINVAL;
	}
	return 0;
}

/* Auto only: may a failure of the userfaultfd become the signal backend?
 * Not when the caller asked for particular open methods (it tests them) or
 * for kernel-mode faults (which signals cannot see). */
static bool may_fall_back(const struct uffdbox_uffd_opts *o, int rc)
{
	return (rc == -UFFDBOX_E_DENIED || rc == -UFFDBOX_E_NOFEATURE) && !o->methods &&
	       !o->kernel_faults;
}

/* The signal backend's features, minus UFFDBOX_FEATURE_MASK. */
static int probe_signal(const struct uffdbox_uffd_opts *o, uint64_t *features, uint64_t *ioctls)
{
	uint64_t mask;
	if (uffdbox_feature_mask(&mask) < 0) {
		uffdbox__explain(o->errbuf, o->errbuf_len,
				 "UFFDBOX_FEATURE_MASK=\"%s\" is not a number",
				 getenv("UFFDBOX_FEATURE_MASK"));
		return -UFFDBOX_E_BADMASK;
	}
	if (o->kernel_faults) {
		uffdbox__explain(
			o->errbuf, o->errbuf_len,
			"the signal backend (UFFDBOX_BACKEND=signal, or userfaultfd denied) cannot "
			"handle faults taken inside the kernel (a syscall reading into a "
			"registered page gets EFAULT): kernel_faults needs a userfaultfd opened "
			"through /dev/userfaultfd or with CAP_SYS_PTRACE");
		return -UFFDBOX_E_DENIED;
	}
	if (features)
		*features = uffdbox__sig_features() & ~mask;
	if (ioctls)
		*ioctls = uffdbox__sig_ioctls();
	return 0;
}

static int open_signal(const struct uffdbox_uffd_opts *o, struct uffdbox_uffd **out)
{
	uint64_t avail;
	int rc = probe_signal(o, &avail, NULL);
	if (rc < 0)
		return rc;
	uint64_t missing = o->need_features & ~avail;
	if (missing) {
		char names[256];
		uffdbox_features_format(missing, names, sizeof(names));
		uffdbox__explain(o->errbuf, o->errbuf_len,
				 "the signal backend cannot emulate %s%s (userfaultfd is "
				 "denied or UFFDBOX_BACKEND=signal)",
				 names,
				 getenv("UFFDBOX_FEATURE_MASK") ? " or it is hidden by "
								  "UFFDBOX_FEATURE_MASK"
								: "");
		return -UFFDBOX_E_NOFEATURE;
	}
	struct uffdbox_uffd *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	rc = uffdbox__sig_new(&u->sig, o->errbuf, o->errbuf_len);
	if (rc < 0) {
		free(u);
		return rc;
	}
	u->fd = -1;
	u->features = (o->want_features | o->need_features) & avail;
	u->ioctls = uffdbox__sig_ioctls();
	*out = u;
	return 0;
}

/* The caller's options, checked, and the backend they and the environment
 * choose: 0, or the error as the public calls return it. */
static int read_and_choose(const struct uffdbox_uffd_opts *opts, struct uffdbox_uffd_opts *o,
			   enum uffdbox_backend *b)
{
	int rc = read_opts(opts, o);
	return rc < 0 ? rc : choose(o, b);
}

int uffdbox_uffd_probe(const struct uffdbox_uffd_opts *opts, uint64_t *features, uint64_t *ioctls)
{
	struct uffdbox_uffd_opts o;
	enum uffdbox_backend b;

	if (!features && !ioctls)
		return -EINVAL; /* nothing to answer into */
	int rc = read_and_choose(opts, &o, &b);
	if (rc < 0)
		return rc;
	if (b == UFFDBOX_BACKEND_SIGNAL)
		return probe_signal(&o, features, ioctls);
	rc = probe_uffd(&o, features, ioctls);
	if (rc < 0 && b == UFFDBOX_BACKEND_AUTO && may_fall_back(&o, rc))
		return probe_signal(&o, features, ioctls);
	return rc;
}

int uffdbox_uffd_open(const struct uffdbox_uffd_opts *opts, struct uffdbox_uffd **out)
{
	struct uffdbox_uffd_opts o;
	enum uffdbox_backend b;

	if (!out)
		return -EINVAL;
	*out = NULL;
	int rc = read_and_choose(opts, &o, &b);
	if (rc < 0)
		return rc;
	if (b == UFFDBOX_BACKEND_SIGNAL)
		return open_signal(&o, out);
	rc = open_uffd(&o, out);
	if (rc < 0 && b == UFFDBOX_BACKEND_AUTO && may_fall_back(&o, rc)) {
		/* Keep the userfaultfd's explanation if signals cannot do it
		 * either: it names the real cause. */
		char keep[512] = "";
		if (o.errbuf && o.errbuf_len)
			snprintf(keep, sizeof(keep), "%s", o.errbuf);
		int rs = open_signal(&o, out);
		if (rs == 0)
			return 0;
		if (rs == -UFFDBOX_E_NOFEATURE && rc == -UFFDBOX_E_DENIED) {
			/* Both say why: the feature is missing here. */
			size_t n = o.errbuf ? strlen(o.errbuf) : 0;
			if (n + 16 < o.errbuf_len)
				snprintf(o.errbuf + n, o.errbuf_len - n, "; and %s", keep);
			return rs;
		}
		if (o.errbuf && o.errbuf_len)
			snprintf(o.errbuf, o.errbuf_len, "%s", keep);
	}
	return rc;
}

enum uffdbox_backend uffdbox_uffd_backend(const struct uffdbox_uffd *u)
{
	return u->sig ? UFFDBOX_BACKEND_SIGNAL : UFFDBOX_BACKEND_UFFD;
}

struct uffdbox__sig *uffdbox__uffd_sig(const struct uffdbox_uffd *u)
{
	return u ? u->sig : NULL;
}

int uffdbox__uffd_dropped(struct uffdbox_uffd *u, void *addr, size_t len)
{
	return u && u->sig ? uffdbox__sig_dropped(u->sig, addr, len) : 0;
}

void uffdbox_uffd_close(struct uffdbox_uffd *u)
{
	if (!u)
		return;
	uffdbox__sig_free(u->sig);
	sys_close(u->fd);
	free(u);
}

int uffdbox_uffd_fd(const struct uffdbox_uffd *u)
{
	if (u->sig)
		return uffdbox__sig_fd(u->sig);
	return u->fd;
}

uint64_t uffdbox_uffd_features(const struct uffdbox_uffd *u)
{
	return u->features;
}

uint64_t uffdbox_uffd_api_ioctls(const struct uffdbox_uffd *u)
{
	return u->ioctls;
}

enum uffdbox_open_method uffdbox_uffd_method(const struct uffdbox_uffd *u)
{
	return u->method;
}

/* The page size of the mapping at @addr: a hugetlb page size when smaps
 * says so, else the base page size. Not async-signal-safe (stdio). */
static size_t page_size_at(void *addr, size_t len)
{
	static _Atomic size_t huge; /* 0: not read yet; 1: none */
	size_t psz = (size_t)sysconf(_SC_PAGESIZE), hp = atomic_load(&huge);
	char line[256];
	bool in = false;

	if (!hp) {
		hp = uffdbox_hugepage_size();
		atomic_store(&huge, hp ? hp : 1);
	}
	/* Only a range aligned to the huge page size can be hugetlb: spare
	 * everything else the walk through smaps. */
	if (hp <= 1 || ((uintptr_t)addr | len) % hp)
		return psz;
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return psz;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, kb;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "KernelPageSize: %lu kB", &kb) == 1) {
			psz = kb * 1024;
			break;
		}
	}
	fclose(f);
	return psz;
}

int uffdbox_uffd_register(struct uffdbox_uffd *u, void *addr, size_t len, unsigned int modes,
			  uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = {.start = (uintptr_t)addr, .len = len},
	};

	if (!modes || (modes & ~7u))
		return -EINVAL;
	if (u->sig) {
		int rs = uffdbox__sig_register(u->sig, addr, len, modes, page_size_at(addr, len));
		if (rs == 0 && ioctls)
			*ioctls = uffdbox__sig_ioctls();
		return rs;
	}
	if (modes & UFFDBOX_REG_MISSING)
		reg.mode |= UFFDIO_REGISTER_MODE_MISSING;
	if (modes & UFFDBOX_REG_WP)
		reg.mode |= UFFDIO_REGISTER_MODE_WP;
	if (modes & UFFDBOX_REG_MINOR)
		reg.mode |= UFFDIO_REGISTER_MODE_MINOR;
	int rc = sys_ioctl(u->fd, UFFDIO_REGISTER, &reg);
	if (rc == 0 && ioctls)
		*ioctls = reg.ioctls;
	return rc;
}

int uffdbox_uffd_unregister(struct uffdbox_uffd *u, void *addr, size_t len)
{
	if (u->sig)
		return uffdbox__sig_unregister(u->sig, addr, len);
	struct uffdio_range r = {.start = (uintptr_t)addr, .len = len};
	return sys_ioctl(u->fd, UFFDIO_UNREGISTER, &r);
}

int uffdbox_uffd_wake(struct uffdbox_uffd *u, void *addr, size_t len)
{
	if (u->sig)
		return 0; /* the faulting thread resolved its own fault: nobody waits */
	struct uffdio_range r = {.start = (uintptr_t)addr, .len = len};
	return sys_ioctl(u->fd, UFFDIO_WAKE, &r);
}

/*
 * Decode a resolving ioctl.  The kernel reports through two channels: the
 * ioctl's own return (0, or -1 with errno) and a signed field in the
 * argument (bytes done, or -errno).  A partial success fails the ioctl with
 * EAGAIN while the field holds the positive progress - reading errno alone
 * confuses "retry, nothing done" with "half done".  The field is preset to 0
 * by the caller: the kernel leaves it untouched when it rejects the
 * arguments before starting, and then errno is the answer.
 */
static ssize_t decode(struct uffdbox_uffd *u, int rc, int64_t field, void *addr, size_t len,
		      unsigned int flags)
{
	ssize_t r;

	if (rc == 0)
		return (ssize_t)len;
	if (field > 0)
		r = (ssize_t)field;
	else if (field < 0)
		r = (ssize_t)field;
	else
		r = rc;
	if (r == -EEXIST && (flags & UFFDBOX_EXIST_OK)) {
		/* The page is there (a racing resolution): whoever waits on it
		 * must still be woken, or it sleeps until the next wake. */
		if (!(flags & UFFDBOX_DONTWAKE)) {
			int w = uffdbox_uffd_wake(u, addr, len);
			if (w < 0)
				return w;
		}
		return (ssize_t)len;
	}
	return r;
}

#define CHECK_FLAGS(flags, allowed)                     \
	do {                                            \
		if ((flags) & ~(unsigned int)(allowed)) \
			return -EINVAL;                 \
	} while (0)

ssize_t uffdbox_uffd_copy(struct uffdbox_uffd *u, void *dst, const void *src, size_t len,
			  unsigned int flags)
{
	CHECK_FLAGS(flags, UFFDBOX_DONTWAKE | UFFDBOX_MAP_WP | UFFDBOX_EXIST_OK);
	if (u->sig)
		return uffdbox__sig_copy(u->sig, dst, src, len, flags);
	struct uffdio_copy c = {
		.dst = (uintptr_t)dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = ((flags & UFFDBOX_DONTWAKE) ? UFFDIO_COPY_MODE_DONTWAKE : 0) |
			((flags & UFFDBOX_MAP_WP) ? UFFDIO_COPY_MODE_WP : 0),
	};
	int rc = sys_ioctl(u->fd, UFFDIO_COPY, &c);
	return decode(u, rc, c.copy, dst, len, flags);
}

ssize_t uffdbox_uffd_zeropage(struct uffdbox_uffd *u, void *dst, size_t len, unsigned int flags)
{
	CHECK_FLAGS(flags, UFFDBOX_DONTWAKE | UFFDBOX_EXIST_OK);
	if (u->sig)
		return uffdbox__sig_zeropage(u->sig, dst, len, flags);
	struct uffdio_zeropage z = {
		.range = {.start = (uintptr_t)dst, .len = len},
		.mode = (flags & UFFDBOX_DONTWAKE) ? UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_ZEROPAGE, &z);
	return decode(u, rc, z.zeropage, dst, len, flags);
}

ssize_t uffdbox_uffd_continue(struct uffdbox_uffd *u, void *addr, size_t len, unsigned int flags)
{
	CHECK_FLAGS(flags, UFFDBOX_DONTWAKE | UFFDBOX_MAP_WP | UFFDBOX_EXIST_OK);
	if (u->sig)
		return -EINVAL; /* no minor faults without a userfaultfd */
	struct uffdio_continue c = {
		.range = {.start = (uintptr_t)addr, .len = len},
		.mode = ((flags & UFFDBOX_DONTWAKE) ? UFFDIO_CONTINUE_MODE_DONTWAKE : 0) |
			((flags & UFFDBOX_MAP_WP) ? UFFDIO_CONTINUE_MODE_WP : 0),
	};
	int rc = sys_ioctl(u->fd, UFFDIO_CONTINUE, &c);
	return decode(u, rc, c.mapped, addr, len, flags);
}

ssize_t uffdbox_uffd_poison(struct uffdbox_uffd *u, void *addr, size_t len, unsigned int flags)
{
	CHECK_FLAGS(flags, UFFDBOX_DONTWAKE | UFFDBOX_EXIST_OK);
	if (u->sig)
		return uffdbox__sig_poison(u->sig, addr, len, flags);
	struct uffdio_poison p = {
		.range = {.start = (uintptr_t)addr, .len = len},
		.mode = (flags & UFFDBOX_DONTWAKE) ? UFFDIO_POISON_MODE_DONTWAKE : 0,
	};
	int rc = sys_ioctl(u->fd, UFFDIO_POISON, &p);
	return decode(u, rc, p.updated, addr, len, flags);
}

ssize_t uffdbox_uffd_move(struct uffdbox_uffd *u, void *dst, void *src, size_t len,
			  unsigned int flags)
{
	CHECK_FLAGS(flags, UFFDBOX_DONTWAKE | UFFDBOX_MOVE_SRC_HOLES);
	if (u->sig)
		return -EINVAL; /* not emulated (and not advertised) */
	struct uffdio_move mv = {
		.dst = (uintptr_t)dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = ((flags & UFFDBOX_DONTWAKE) ? UFFDIO_MOVE_MODE_DONTWAKE : 0) |
			((flags & UFFDBOX_MOVE_SRC_HOLES) ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0),
	};
	int rc = sys_ioctl(u->fd, UFFDIO_MOVE, &mv);
	return decode(u, rc, mv.move, dst, len, flags);
}

int uffdbox_uffd_writeprotect(struct uffdbox_uffd *u, void *addr, size_t len, bool protect,
			      unsigned int flags)
{
	CHECK_FLAGS(flags, UFFDBOX_DONTWAKE);
	if (u->sig)
		return uffdbox__sig_writeprotect(u->sig, addr, len, protect);
	struct uffdio_writeprotect w = {
		.range = {.start = (uintptr_t)addr, .len = len},
		.mode = (protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0) |
			((flags & UFFDBOX_DONTWAKE) ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0),
	};
	return sys_ioctl(u->fd, UFFDIO_WRITEPROTECT, &w);
}

ssize_t uffdbox_uffd_read(struct uffdbox_uffd *u, void *buf, size_t len)
{
	if (u->sig)
		return uffdbox__sig_read(u->sig); /* no messages: faults are signals */
	return sys_read(u->fd, buf, len);
}
