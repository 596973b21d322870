/* SPDX-License-Identifier: MIT */
/*
 * tests/seccomp-run.c - run a command the way a container's default seccomp
 * profile would: userfaultfd(2) denied, /dev/userfaultfd unusable.
 *
 *   seccomp-run [--errno=EPERM|ENOSYS] [--] COMMAND [ARG...]
 *
 * Installs a seccomp filter (after PR_SET_NO_NEW_PRIVS, so no privilege is
 * needed) and execs COMMAND; the filter is inherited by every child, so
 * `seccomp-run ctest ...` runs a whole suite under it.
 *   - userfaultfd(2) fails with the chosen errno: EPERM is what Docker's,
 *     containerd's and podman's default profiles answer (the call is not on
 *     their allow list); ENOSYS is what gVisor answers.
 *   - ioctl(fd, USERFAULTFD_IOC_NEW) fails with the same errno, so
 *     /dev/userfaultfd is unusable too (Docker does not pass the device in;
 *     opening it is allowed here, the ioctl that makes a uffd is not).
 * Everything else is allowed.  A syscall of another ABI (x32, i386) is
 * allowed unfiltered: the suite is x86-64 (or the native ABI) only.
 *
 * Exit: COMMAND's status; 2 for a usage error; 1 when the filter cannot be
 * installed (the reason printed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp-run: add this architecture's AUDIT_ARCH_*"
#endif

static void usage(void)
{
	fprintf(stderr, "usage: seccomp-run [--errno=EPERM|ENOSYS] [--] COMMAND [ARG...]\n");
}

int main(int argc, char **argv)
{
	unsigned int err = EPERM;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--errno=EPERM"))
			err = EPERM;
		else if (!strcmp(argv[i], "--errno=ENOSYS"))
			err = ENOSYS;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "seccomp-run: unknown option \"%s\"\n", argv[i]);
			usage();
			return 2;
		}
	}
	if (i >= argc) {
		usage();
		return 2;
	}
	struct sock_filter prog[] = {
		/* [0] another ABI: allow (its syscall numbers differ) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* [3] userfaultfd(2): denied */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		/* [6] ioctl(_, USERFAULTFD_IOC_NEW, _): denied (the low 32 bits
		 * of the command; the kernel truncates it to unsigned int) */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, USERFAULTFD_IOC_NEW, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = {.len = sizeof(prog) / sizeof(prog[0]), .filter = prog};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "seccomp-run: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
		return 1;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
		fprintf(stderr,
			"seccomp-run: installing the filter: %s (a kernel without "
			"CONFIG_SECCOMP_FILTER cannot run this)\n",
			strerror(errno));
		return 1;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "seccomp-run: %s: %s\n", argv[i], strerror(errno));
	return 127;
}
