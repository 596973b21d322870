/* SPDX-License-Identifier: MIT */
/*
 * run/cmd_features.c - `uffdbox features [--json]`: what this machine or
 * container allows, why a piece is missing, and the fix for each.
 *
 * The facts come from the library's own probes (uffdbox_uffd_try_method()
 * per open method, uffdbox_uffd_probe() for the features,
 * uffdbox_guard_supported(), uffdbox_hugepage_size()); this file only adds
 * the diagnosis: it reads the sysctl, the capability set, the seccomp state
 * (/proc/self/status) and the device's permissions to say which of them
 * refused, and what to change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <uffdbox.h>
#include <uffdbox/compat.h>

#include "cli.h"

struct env {
	int sysctl; /* vm.unprivileged_userfaultfd, -1 unknown */
	bool cap_ptrace;
	int seccomp_mode, seccomp_filters; /* -1 unknown */
	bool dev_exists, dev_rw;
	struct stat dev;
	long misc_minor; /* userfaultfd's minor in /proc/misc, -1 */
	uid_t uid;
	struct utsname uts;
};

struct method {
	enum uffdbox_open_method m;
	const char *id, *label;
	int err;
	char cause[400], fix[400];
};

struct piece {
	const char *id, *label;
	bool ok;
	char detail[200], fix[300];
};

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* "Key:\tvalue" from /proc/self/status or /proc/meminfo. */
static bool status_field(const char *path, const char *key, unsigned long long *v, int base)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t n = strlen(key);
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			found = sscanf(line + n + 1, base == 16 ? "%llx" : "%llu", v) == 1;
	fclose(f);
	return found;
}

static void read_env(struct env *e)
{
	unsigned long long v;

	memset(e, 0, sizeof(*e));
	e->sysctl = (int)read_long("/proc/sys/vm/unprivileged_userfaultfd");
	e->cap_ptrace = status_field("/proc/self/status", "CapEff", &v, 16) && (v & (1ULL << 19));
	e->seccomp_mode = status_field("/proc/self/status", "Seccomp", &v, 10) ? (int)v : -1;
	e->seccomp_filters =
		status_field("/proc/self/status", "Seccomp_filters", &v, 10) ? (int)v : -1;
	e->dev_exists = stat("/dev/userfaultfd", &e->dev) == 0;
	e->dev_rw = e->dev_exists && access("/dev/userfaultfd", R_OK | W_OK) == 0;
	e->misc_minor = -1;
	FILE *f = fopen("/proc/misc", "re");
	char line[128], name[64];
	long minor;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%ld %63s", &minor, name) == 2 && strcmp(name, "userfaultfd") == 0)
			e->misc_minor = minor;
	if (f)
		fclose(f);
	e->uid = geteuid();
	uname(&e->uts);
}

static bool seccomp_on(const struct env *e)
{
	return e->seccomp_mode == 2 || e->seccomp_filters > 0;
}

static const char seccomp_fix[] =
	"allow the userfaultfd syscall in this container's seccomp profile (Docker/Podman: "
	"--security-opt seccomp=PROFILE.json with \"userfaultfd\" among the allowed names; "
	"Kubernetes: a Localhost seccompProfile), or run it unconfined";

/* Is facility @bit hidden by UFFDBOX_FEATURE_MASK (UFFDBOX_HIDE_*)? */
static bool hidden(uint64_t bit)
{
	uint64_t mask = 0;
	return uffdbox_feature_mask(&mask) == 0 && (mask & bit);
}

static void seccomp_cause(char *buf, size_t len, const struct env *e, int err)
{
	snprintf(buf, len,
		 "a seccomp filter refuses userfaultfd(2) with %s (/proc/self/status: Seccomp: %d, "
		 "Seccomp_filters: %d)",
		 strerrorname_np(-err) ? strerrorname_np(-err) : "an error", e->seccomp_mode,
		 e->seccomp_filters);
}

/* Why @r failed, and what would fix it. */
static void diagnose(struct method *r, const struct env *e)
{
	int err = r->err;
	size_t cl = sizeof(r->cause), fl = sizeof(r->fix);

	if (!err)
		return;
	switch (r->m) {
	case UFFDBOX_OPEN_SYSCALL_USER:
		if (err == -EINVAL) {
			snprintf(r->cause, cl,
				 "this kernel (%s) does not know UFFD_USER_MODE_ONLY "
				 "(Linux 5.11+)",
				 e->uts.release);
			snprintf(r->fix, fl,
				 "Linux 5.11 or later, or one of the other ways to open");
		} else if ((err == -EPERM || err == -EACCES || err == -ENOSYS) && seccomp_on(e)) {
			seccomp_cause(r->cause, cl, e, err);
			snprintf(r->fix, fl, "%s", seccomp_fix);
		} else if (err == -ENOSYS) {
			snprintf(r->cause, cl,
				 "the kernel has no userfaultfd (CONFIG_USERFAULTFD=n)");
			snprintf(r->fix, fl, "a kernel built with CONFIG_USERFAULTFD=y");
		} else {
			snprintf(r->cause, cl,
				 "refused (%s) with no seccomp filter in sight: a Linux security "
				 "module (SELinux, AppArmor) policy?",
				 strerrorname_np(-err) ? strerrorname_np(-err) : "?");
			snprintf(r->fix, fl,
				 "look for a denial of userfaultfd in the audit log "
				 "(ausearch -m avc, dmesg) and allow it");
		}
		break;
	case UFFDBOX_OPEN_DEVICE:
		if (err == -ENOENT && hidden(UFFDBOX_HIDE_DEVICE)) {
			snprintf(r->cause, cl,
				 "hidden by UFFDBOX_FEATURE_MASK (bit 63: as before Linux 6.1)");
			snprintf(r->fix, fl, "unset UFFDBOX_FEATURE_MASK (or clear bit 63 in it)");
		} else if (err == -ENOENT) {
			snprintf(r->cause, cl,
				 "/dev/userfaultfd does not exist (Linux 6.1+; in a "
				 "container, the device must be passed in)");
			if (e->misc_minor >= 0)
				snprintf(r->fix, fl,
					 "as root: mknod -m 0660 /dev/userfaultfd c 10 %ld (then "
					 "chgrp "
					 "a group of this user); in a container: --device "
					 "/dev/userfaultfd",
					 e->misc_minor);
			else
				snprintf(r->fix, fl,
					 "Linux 6.1 or later (no userfaultfd in "
					 "/proc/misc here), or one of the other ways");
		} else if ((err == -EACCES || err == -EPERM) && e->dev_exists && !e->dev_rw) {
			snprintf(r->cause, cl,
				 "/dev/userfaultfd is mode %04o, owner uid %u gid %u: not readable "
				 "and writable by uid %u",
				 (unsigned int)(e->dev.st_mode & 07777),
				 (unsigned int)e->dev.st_uid, (unsigned int)e->dev.st_gid,
				 (unsigned int)e->uid);
			snprintf(
				r->fix, fl,
				"as root: chgrp GROUP /dev/userfaultfd && chmod 0660 "
				"/dev/userfaultfd, GROUP one of this user's; a udev rule keeps it: "
				"KERNEL==\"userfaultfd\", GROUP=\"GROUP\", MODE=\"0660\"");
		} else if ((err == -EPERM || err == -ENOSYS) && seccomp_on(e) && e->dev_rw) {
			/* The kernel's USERFAULTFD_IOC_NEW returns neither to a
			 * caller that could open the device: a filter did. */
			snprintf(r->cause, cl,
				 "a seccomp filter refuses ioctl(USERFAULTFD_IOC_NEW) on "
				 "/dev/userfaultfd with %s (/proc/self/status: Seccomp: %d, "
				 "Seccomp_filters: %d)",
				 strerrorname_np(-err) ? strerrorname_np(-err) : "an error",
				 e->seccomp_mode, e->seccomp_filters);
			snprintf(r->fix, fl,
				 "allow ioctl USERFAULTFD_IOC_NEW (0x%x) in this container's "
				 "seccomp profile, or run it unconfined",
				 (unsigned int)USERFAULTFD_IOC_NEW);
		} else if (err == -ENOTTY) {
			snprintf(r->cause, cl,
				 "the device has no USERFAULTFD_IOC_NEW (before 6.1)");
			snprintf(r->fix, fl, "Linux 6.1 or later, or one of the other ways");
		} else {
			snprintf(r->cause, cl, "refused: %s", strerror(-err));
			snprintf(r->fix, fl, "%s",
				 seccomp_on(e) ? seccomp_fix
					       : "look for a denial in the "
						 "audit log (LSM policy)");
		}
		break;
	case UFFDBOX_OPEN_SYSCALL:
		if ((err == -EPERM || err == -EACCES || err == -ENOSYS) && seccomp_on(e) &&
		    (e->sysctl == 1 || e->cap_ptrace || err != -EPERM)) {
			/* The kernel itself would allow it: the filter refused. */
			seccomp_cause(r->cause, cl, e, err);
			snprintf(r->fix, fl, "%s", seccomp_fix);
		} else if (err == -EPERM) {
			snprintf(r->cause, cl,
				 "vm.unprivileged_userfaultfd=%d and no CAP_SYS_PTRACE: only "
				 "privileged processes may handle kernel-mode faults%s",
				 e->sysctl,
				 seccomp_on(e) ? "; a seccomp filter is installed too and may "
						 "refuse it as well"
					       : "");
			snprintf(r->fix, fl,
				 "as root: sysctl -w vm.unprivileged_userfaultfd=1, or run with "
				 "CAP_SYS_PTRACE (--cap-add SYS_PTRACE)%s",
				 seccomp_on(e) ? "; and allow userfaultfd in the seccomp profile"
					       : "");
		} else if (err == -ENOSYS) {
			snprintf(r->cause, cl,
				 "the kernel has no userfaultfd (CONFIG_USERFAULTFD=n)");
			snprintf(r->fix, fl, "a kernel built with CONFIG_USERFAULTFD=y");
		} else {
			snprintf(r->cause, cl, "refused: %s", strerror(-err));
			snprintf(r->fix, fl, "look for a denial in the audit log (LSM policy)");
		}
		break;
	default:
		break;
	}
}

/* The release that brought each feature bit (bit i = 1 << i). */
static const char *const since[] = {
	"5.7",	"4.11", "4.11", "4.11", "4.11", "4.11", "4.11", "4.14", "4.14",
	"5.13", "5.14", "5.18", "5.19", "6.4",	"6.6",	"6.7",	"6.8",
};
#define NFEATURES (sizeof(since) / sizeof(since[0]))

/* What would give a missing feature bit @i, or NULL when it is there.
 * @refused: bits the kernel advertises but refused to grant here; @sigfix:
 * non-NULL when the features are the signal backend's (no userfaultfd, or
 * UFFDBOX_BACKEND=signal), the fix for those it cannot emulate. */
static const char *feature_fix(unsigned int i, uint64_t offered, uint64_t usable, uint64_t refused,
			       const char *sigfix, char *buf, size_t len)
{
	uint64_t bit = 1ULL << i;
	if (usable & bit)
		return NULL;
	if (sigfix && !(offered & bit))
		snprintf(buf, len, "%s", sigfix);
	else if (refused & bit)
		snprintf(buf, len,
			 "run with CAP_SYS_PTRACE (--cap-add SYS_PTRACE): the kernel "
			 "advertises fork events to everyone but grants them to privileged "
			 "handlers only");
	else if (offered & bit)
		snprintf(buf, len, "unset UFFDBOX_FEATURE_MASK (or clear 0x%llx in it)",
			 (unsigned long long)bit);
	else
		snprintf(buf, len, "Linux %s or later (uffdbox uses its fallback meanwhile)",
			 since[i]);
	return buf;
}

/* @p hidden by the mask: say so, and how to show it. */
static struct piece hidden_piece(struct piece p, int bit)
{
	snprintf(p.detail, sizeof(p.detail), "hidden by UFFDBOX_FEATURE_MASK (bit %d)", bit);
	snprintf(p.fix, sizeof(p.fix), "unset UFFDBOX_FEATURE_MASK (or clear bit %d in it)", bit);
	return p;
}

static struct piece pagemap_scan(void)
{
	struct piece p = {.id = "pagemap_scan", .label = "PAGEMAP_SCAN"};
	if (hidden(UFFDBOX_HIDE_PAGEMAP_SCAN))
		return hidden_piece(p, 61);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc = -1, err = 0;

	if (fd >= 0 && m != MAP_FAILED) {
		struct page_region vec[1];
		m[0] = 1;
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.start = (uintptr_t)m,
			.end = (uintptr_t)m + 4096,
			.vec = (uintptr_t)vec,
			.vec_len = 1,
			.category_mask = PAGE_IS_PRESENT,
			.return_mask = PAGE_IS_PRESENT,
		};
		rc = ioctl(fd, PAGEMAP_SCAN, &a);
		err = errno;
	} else {
		err = errno;
	}
	if (fd >= 0)
		close(fd);
	if (m != MAP_FAILED)
		munmap(m, 4096);
	p.ok = rc == 1;
	if (p.ok) {
		snprintf(p.detail, sizeof(p.detail),
			 "snapshots restore only the pages written "
			 "(with WP_ASYNC)");
	} else {
		snprintf(p.detail, sizeof(p.detail), "%s: %s",
			 fd < 0 ? "/proc/self/pagemap" : "ioctl(PAGEMAP_SCAN)", strerror(err));
		snprintf(p.fix, sizeof(p.fix),
			 "Linux 6.7 or later (snapshots fall back to "
			 "WP_SYNC or COPY meanwhile)");
	}
	return p;
}

static struct piece guard_install(void)
{
	struct piece p = {.id = "guard_install", .label = "MADV_GUARD_INSTALL"};
	if (hidden(UFFDBOX_HIDE_GUARD_INSTALL))
		return hidden_piece(p, 62);
	int rc = uffdbox_guard_supported();

	p.ok = rc == 1;
	if (p.ok) {
		snprintf(p.detail, sizeof(p.detail), "guard pages without an extra mapping");
	} else {
		snprintf(p.detail, sizeof(p.detail), "%s",
			 rc < 0 ? strerror(-rc) : "not in this kernel");
		snprintf(p.fix, sizeof(p.fix),
			 "Linux 6.13 or later (guards are PROT_NONE "
			 "mappings meanwhile: one more VMA each)");
	}
	return p;
}

static struct piece hugetlb(void)
{
	struct piece p = {.id = "hugetlb", .label = "hugetlb pool"};
	size_t sz = uffdbox_hugepage_size();
	unsigned long long total = 0, free_pages = 0;

	status_field("/proc/meminfo", "HugePages_Total", &total, 10);
	status_field("/proc/meminfo", "HugePages_Free", &free_pages, 10);
	p.ok = sz && free_pages > 0;
	if (!sz) {
		snprintf(p.detail, sizeof(p.detail), "no huge pages in this kernel");
		snprintf(p.fix, sizeof(p.fix),
			 "a kernel with CONFIG_HUGETLBFS (hugetlb regions "
			 "only; anon and shmem work without)");
	} else {
		snprintf(p.detail, sizeof(p.detail), "%zu KiB pages: %llu free of %llu", sz >> 10,
			 free_pages, total);
		if (!p.ok)
			snprintf(p.fix, sizeof(p.fix),
				 "as root: sysctl -w vm.nr_hugepages=%llu (hugetlb regions take "
				 "their pages from this pool; anon and shmem need none)",
				 total + 16);
	}
	return p;
}

/*
 * The backend uffdbox will use here.  Today there is one: userfaultfd,
 * opened by the first method that works.  A backend without userfaultfd
 * (mprotect + SIGSEGV) answers here when it exists; this is the one place
 * to ask.
 */
/*
 * The backend a sandbox gets here, as the library chooses it
 * (UFFDBOX_BACKEND, docs/backends.md): a userfaultfd by the first method that
 * opens, else the signal backend (protection changes and SIGSEGV), unless
 * UFFDBOX_BACKEND=uffd forbids it.  NULL: none (uffdbox cannot run).
 */
static const char *backend(const struct method *m, size_t n, const char **via)
{
	const char *want = getenv("UFFDBOX_BACKEND");
	bool signal_only = want && !strcmp(want, "signal");
	bool uffd_only = want && !strcmp(want, "uffd");

	*via = NULL;
	for (size_t i = 0; i < n && !signal_only; i++)
		if (!m[i].err) {
			*via = m[i].id;
			return "uffd";
		}
	return uffd_only ? NULL : "signal";
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_opt(const char *s)
{
	if (s && *s)
		json_str(s);
	else
		fputs("null", stdout);
}

static int features_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			uffdbox__cmd_help(&uffdbox__cmd_features, stdout);
			return UFFDBOX_EXIT_OK;
		default:
			return uffdbox__usage(&uffdbox__cmd_features, "unknown option %s",
					      argv[optind - 1]);
		}
	}
	if (optind != argc)
		return uffdbox__usage(&uffdbox__cmd_features, "no arguments expected, got '%s'",
				      argv[optind]);

	uint64_t mask = 0;
	if (uffdbox_feature_mask(&mask) < 0) {
		fprintf(stderr,
			"uffdbox features: UFFDBOX_FEATURE_MASK=\"%s\" is not a number "
			"(C syntax: 0x18000, 98304)\n",
			getenv("UFFDBOX_FEATURE_MASK"));
		return UFFDBOX_EXIT_USAGE;
	}
	struct env e;
	read_env(&e);
	struct method m[] = {
		{.m = UFFDBOX_OPEN_SYSCALL_USER,
		 .id = "syscall_user",
		 .label = "user-mode syscall"},
		{.m = UFFDBOX_OPEN_DEVICE, .id = "device", .label = "/dev/userfaultfd"},
		{.m = UFFDBOX_OPEN_SYSCALL, .id = "syscall", .label = "syscall"},
	};
	const size_t nm = sizeof(m) / sizeof(m[0]);
	for (size_t i = 0; i < nm; i++) {
		m[i].err = uffdbox_uffd_try_method(m[i].m);
		diagnose(&m[i], &e);
	}

	/* Features: what the kernel offers (probed with the mask lifted),
	 * and what uffdbox will use (the mask applied). */
	uint64_t offered = 0, usable = 0, refused = 0;
	int prc = uffdbox_uffd_probe(NULL, &usable, NULL);
	if (prc == 0) {
		char *saved = getenv("UFFDBOX_FEATURE_MASK");
		saved = saved ? strdup(saved) : NULL;
		unsetenv("UFFDBOX_FEATURE_MASK");
		if (uffdbox_uffd_probe(NULL, &offered, NULL) < 0)
			offered = usable;
		/* EVENT_FORK is advertised to every caller, but UFFDIO_API
		 * grants it only with CAP_SYS_PTRACE (EPERM otherwise): ask. */
		if (offered & UFFD_FEATURE_EVENT_FORK) {
			struct uffdbox_uffd *u;
			UFFDBOX_OPTS(uffdbox_uffd_opts, fo,
				     .need_features = UFFD_FEATURE_EVENT_FORK);
			int frc = uffdbox_uffd_open(&fo, &u);
			if (frc == 0)
				uffdbox_uffd_close(u);
			else if (frc == -EPERM)
				refused = UFFD_FEATURE_EVENT_FORK;
		}
		if (saved) {
			setenv("UFFDBOX_FEATURE_MASK", saved, 1);
			free(saved);
		}
	}
	usable &= ~refused;
	struct piece pieces[] = {pagemap_scan(), guard_install(), hugetlb()};
	const size_t np = sizeof(pieces) / sizeof(pieces[0]);
	const char *via, *be = backend(m, nm, &via);
	const char *want = getenv("UFFDBOX_BACKEND");
	bool forced = want && !strcmp(want, "signal");
	/* Without a userfaultfd the probe answered with the signal backend's
	 * features: what it cannot emulate needs a userfaultfd, not a newer
	 * kernel. */
	const char *sigfix = !be || via ? NULL
			     : forced	? "unset UFFDBOX_BACKEND"
					: "a userfaultfd (see the ways to open one above)";

	if (json) {
		printf("{\"uffdbox\":\"%s\",\"kernel\":", UFFDBOX_VERSION);
		json_str(e.uts.release);
		printf(",\"uid\":%u,\"environment\":{\"unprivileged_userfaultfd\":%d,"
		       "\"cap_sys_ptrace\":%s,\"seccomp\":%d,\"seccomp_filters\":%d,"
		       "\"device\":",
		       (unsigned int)e.uid, e.sysctl, e.cap_ptrace ? "true" : "false",
		       e.seccomp_mode, e.seccomp_filters);
		if (e.dev_exists)
			printf("{\"mode\":\"%04o\",\"uid\":%u,\"gid\":%u,\"accessible\":%s}",
			       (unsigned int)(e.dev.st_mode & 07777), (unsigned int)e.dev.st_uid,
			       (unsigned int)e.dev.st_gid, e.dev_rw ? "true" : "false");
		else
			fputs("null", stdout);
		fputs("},\"open\":[", stdout);
		for (size_t i = 0; i < nm; i++) {
			printf("%s{\"method\":\"%s\",\"label\":", i ? "," : "", m[i].id);
			json_str(m[i].label);
			printf(",\"ok\":%s,\"error\":", m[i].err ? "false" : "true");
			json_opt(m[i].err ? strerrorname_np(-m[i].err) : NULL);
			fputs(",\"cause\":", stdout);
			json_opt(m[i].cause);
			fputs(",\"fix\":", stdout);
			json_opt(m[i].fix);
			putchar('}');
		}
		printf("],\"feature_mask\":\"0x%llx\",\"features\":[", (unsigned long long)mask);
		for (size_t i = 0; prc == 0 && i < NFEATURES; i++) {
			uint64_t bit = 1ULL << i;
			char fix[160];
			printf("%s{\"name\":\"%s\",\"available\":%s,\"hidden\":%s,\"since\":\"%s\","
			       "\"fix\":",
			       i ? "," : "", uffdbox_feature_name(bit),
			       (usable & bit) ? "true" : "false",
			       (offered & bit) && !(usable & bit) && !(refused & bit) ? "true"
										      : "false",
			       since[i]);
			json_opt(feature_fix((unsigned int)i, offered, usable, refused, sigfix, fix,
					     sizeof(fix)));
			putchar('}');
		}
		fputs("]", stdout);
		for (size_t i = 0; i < np; i++) {
			printf(",\"%s\":{\"ok\":%s,\"detail\":", pieces[i].id,
			       pieces[i].ok ? "true" : "false");
			json_str(pieces[i].detail);
			fputs(",\"fix\":", stdout);
			json_opt(pieces[i].fix);
			putchar('}');
		}
		fputs(",\"backend\":", stdout);
		if (be && via) {
			printf("{\"name\":\"%s\",\"via\":\"%s\"}", be, via);
		} else if (be) {
			printf("{\"name\":\"%s\",\"via\":null}", be);
		} else {
			fputs("null", stdout);
		}
		puts("}");
		return be ? UFFDBOX_EXIT_OK : UFFDBOX_EXIT_FINDING;
	}

	printf("uffdbox %s on Linux %s, uid %u\n\n", UFFDBOX_VERSION, e.uts.release,
	       (unsigned int)e.uid);
	printf("Opening userfaultfd (vm.unprivileged_userfaultfd=%d, CAP_SYS_PTRACE %s, "
	       "seccomp %s",
	       e.sysctl, e.cap_ptrace ? "present" : "absent",
	       seccomp_on(&e)	     ? "filtering"
	       : e.seccomp_mode == 1 ? "strict"
				     : "off");
	if (seccomp_on(&e))
		printf(" (%d filter%s)", e.seccomp_filters, e.seccomp_filters == 1 ? "" : "s");
	if (e.dev_exists)
		printf(", /dev/userfaultfd %04o uid %u gid %u)\n",
		       (unsigned int)(e.dev.st_mode & 07777), (unsigned int)e.dev.st_uid,
		       (unsigned int)e.dev.st_gid);
	else
		printf(", no /dev/userfaultfd)\n");
	for (size_t i = 0; i < nm; i++) {
		printf("  %-20s %s", m[i].label,
		       m[i].err ? strerrorname_np(-m[i].err) ? strerrorname_np(-m[i].err) : "failed"
				: "ok");
		if (m[i].err)
			printf(": %s", m[i].cause);
		else if (m[i].m == UFFDBOX_OPEN_SYSCALL_USER)
			printf(" (faults in user mode only)");
		putchar('\n');
	}
	printf("\nuffd features");
	if (sigfix)
		printf(" (of the signal backend, which emulates some)");
	if (mask)
		printf(" (UFFDBOX_FEATURE_MASK=0x%llx hides some)", (unsigned long long)mask);
	printf(":\n");
	if (prc < 0)
		printf("  unknown: no way to open userfaultfd here\n");
	for (size_t i = 0; prc == 0 && i < NFEATURES; i++) {
		uint64_t bit = 1ULL << i;
		const char *st = (usable & bit)	   ? "yes"
				 : (refused & bit) ? "no (refused without CAP_SYS_PTRACE)"
				 : (offered & bit) ? "hidden by UFFDBOX_FEATURE_MASK"
						   : "no";
		printf("  %-20s %s", uffdbox_feature_name(bit), st);
		if (!(offered & bit) && sigfix)
			printf(" (needs a userfaultfd)");
		else if (!(offered & bit))
			printf(" (Linux %s)", since[i]);
		putchar('\n');
	}
	printf("\nMemory:\n");
	for (size_t i = 0; i < np; i++)
		printf("  %-20s %s: %s\n", pieces[i].label, pieces[i].ok ? "yes" : "no",
		       pieces[i].detail);
	if (be)
		if (via)
			printf("\nBackend: %s (opened by %s)\n", be, via);
		else
			printf("\nBackend: signal: %s; protection changes and SIGSEGV stand in "
			       "(what differs: docs/backends.md)\n",
			       forced ? "chosen by UFFDBOX_BACKEND=signal" : "no userfaultfd here");
	else
		printf("\nBackend: none: uffdbox cannot run here\n");

	bool any = false;
	for (size_t i = 0; i < nm; i++)
		if (m[i].err) {
			if (!any)
				printf("\nMissing pieces and fixes:\n");
			any = true;
			printf("  - %s: %s\n    fix: %s\n", m[i].label, m[i].cause, m[i].fix);
		}
	for (size_t i = 0; i < np; i++)
		if (!pieces[i].ok) {
			if (!any)
				printf("\nMissing pieces and fixes:\n");
			any = true;
			printf("  - %s: %s\n    fix: %s\n", pieces[i].label, pieces[i].detail,
			       pieces[i].fix);
		}
	/* What the signal backend cannot emulate: one line, one fix. */
	char names[400] = "";
	for (size_t i = 0, n = 0; sigfix && prc == 0 && i < NFEATURES; i++)
		if (!(offered & (1ULL << i)))
			n += (size_t)snprintf(names + n, n < sizeof(names) ? sizeof(names) - n : 0,
					      "%s%s", n ? ", " : "",
					      uffdbox_feature_name(1ULL << i));
	if (names[0]) {
		if (!any)
			printf("\nMissing pieces and fixes:\n");
		any = true;
		printf("  - uffd features %s: not emulated by the signal backend\n    fix: %s\n",
		       names, sigfix);
	}
	for (size_t i = 0; prc == 0 && i < NFEATURES; i++) {
		char fix[160];
		uint64_t bit = 1ULL << i;
		if ((sigfix && !(offered & bit)) || !feature_fix((unsigned int)i, offered, usable,
								 refused, sigfix, fix, sizeof(fix)))
			continue;
		if (!any)
			printf("\nMissing pieces and fixes:\n");
		any = true;
		printf("  - uffd feature %s: %s\n    fix: %s\n", uffdbox_feature_name(bit),
		       (refused & bit)	 ? "refused: UFFDIO_API fails with EPERM when asked for it"
		       : (offered & bit) ? "hidden by UFFDBOX_FEATURE_MASK"
					 : "not offered here",
		       fix);
	}
	if (!any)
		printf("\nNothing is missing.\n");
	return be ? UFFDBOX_EXIT_OK : UFFDBOX_EXIT_FINDING;
}

const struct uffdbox__cmd uffdbox__cmd_features = {
	.name = "features",
	.summary = "what this machine or container allows, and how to fix the rest",
	.synopsis = "uffdbox features [--json]",
	.description =
		"Probe what uffdbox can use here and say why each missing piece is missing and\n"
		"how to fix it: each way to open userfaultfd (the user-mode-only syscall,\n"
		"/dev/userfaultfd, the plain syscall) and what refused it (the\n"
		"vm.unprivileged_userfaultfd sysctl, CAP_SYS_PTRACE, a seccomp filter, the\n"
		"device's permissions); each uffd feature, and those hidden by\n"
		"UFFDBOX_FEATURE_MASK; PAGEMAP_SCAN; MADV_GUARD_INSTALL; the hugetlb pool; and\n"
		"the backend uffdbox will use.",
	.options = "  --json              one JSON object instead of text\n"
		   "  -h, --help          this text\n",
	.exit_status = "0 uffdbox can run here (a backend is available, whatever else is\n"
		       "missing), 1 it cannot, 2 a usage error or an unparsable\n"
		       "UFFDBOX_FEATURE_MASK.",
	.more = "Environment: UFFDBOX_FEATURE_MASK hides features as if the kernel lacked them.\n",
	.main = features_main,
};
