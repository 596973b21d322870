/* SPDX-License-Identifier: MIT */
/*
 * run/progcheck.c - can libuffdbox-run.so be loaded into PROGRAM at all?
 *
 * LD_PRELOAD is honoured by the dynamic loader only: a statically linked
 * program (no PT_INTERP program header: static, static-pie) never loads
 * it, and a 32-bit program's loader skips a 64-bit library with a warning.
 * Either would run with detection silently off; `uffdbox run` refuses them
 * instead.  Scripts (#!) and other non-ELF files pass: their interpreter is
 * what runs.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progcheck.h"

/* PROGRAM as execvp() would find it. */
static int find_program(const char *prog, char *out, size_t len)
{
	if (strchr(prog, '/')) {
		snprintf(out, len, "%s", prog);
		return 0;
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		snprintf(out, len, "%.*s%s%s", (int)n, n ? path : ".", "/", prog);
		if (access(out, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return -ENOENT;
}

int uffdbox__prog_check(const char *prog, char *why, size_t len)
{
	char path[PATH_MAX];
	if (find_program(prog, path, sizeof(path)) < 0)
		return 0; /* execvp will say why */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	ssize_t n = pread(fd, &eh, sizeof(eh), 0);
	int rc = 0;
	if (n < (ssize_t)EI_NIDENT || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		goto out; /* a script, or not an executable at all */
	if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
		snprintf(why, len,
			 "%s is a 32-bit program: the dynamic loader cannot load the 64-bit "
			 "libuffdbox-run.so into it, so nothing would be detected; build it for "
			 "x86-64",
			 path);
		rc = -ENOEXEC;
		goto out;
	}
	if (n != (ssize_t)sizeof(eh) || eh.e_phentsize != sizeof(Elf64_Phdr))
		goto out;
	bool interp = false;
	for (unsigned int i = 0; i < eh.e_phnum && !interp; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			goto out;
		interp = ph.p_type == PT_INTERP;
	}
	if (!interp) {
		snprintf(why, len,
			 "%s is statically linked (no PT_INTERP): LD_PRELOAD never loads "
			 "libuffdbox-run.so into it, so nothing would be detected; link it "
			 "dynamically (without -static) to run it under uffdbox",
			 path);
		rc = -ENOEXEC;
	}
out:
	close(fd);
	return rc;
}
