/* SPDX-License-Identifier: MIT */
/* harness/report.c - stack capture (libunwind) and symbolization (libdw). */
#define UNW_LOCAL_ONLY
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdlib.h>
#include <elfutils/libdwfl.h>
#include <libunwind.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "text.h"

void uffdbox__stack_here(struct uffdbox__stack *s, unsigned int skip)
{
	void *pcs[UFFDBOX_STACK_MAX + 8];
	int n = unw_backtrace(pcs, (int)(sizeof(pcs) / sizeof(pcs[0])));

	s->n = 0;
	for (int i = (int)skip + 1; i < n && s->n < UFFDBOX_STACK_MAX; i++)
		s->pc[s->n++] = (uintptr_t)pcs[i];
}

void uffdbox__stack_from_signal(struct uffdbox__stack *s, ucontext_t *uc)
{
	unw_cursor_t cur;
	unw_word_t ip;

	s->n = 0;
	/* Unwind the interrupted code, not the handler: start from the
	 * signal's saved registers, marked as a signal frame so that frame 0
	 * is the faulting instruction itself (no "return address - 1"). */
	if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0)
		return;
	do {
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		s->pc[s->n++] = (uintptr_t)ip;
	} while (s->n < UFFDBOX_STACK_MAX && unw_step(&cur) > 0);
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

/*
 * libdw's address lookup relies on .debug_aranges, which clang does not
 * emit: walk the compile units and ask each whether it holds the address.
 */
static const char *line_by_cu(Dwfl_Module *m, Dwarf_Addr pc, int *line)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;

	while ((cu = dwfl_module_nextcu(m, cu, &bias)) != NULL) {
		if (dwarf_haspc(cu, pc - bias) <= 0)
			continue;
		Dwarf_Line *l = dwarf_getsrc_die(cu, pc - bias);
		if (!l || dwarf_lineno(l, line) != 0)
			return NULL;
		return dwarf_linesrc(l, NULL, NULL);
	}
	return NULL;
}

/* The C++ runtime's demangler, when the program has one (a C++ program
 * links libstdc++ or libc++abi); C programs have no C++ frames to name. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status)
	__attribute__((weak));

/* @fn demangled into @out (malloc'ed, freed by the caller), or NULL. */
static char *demangle(const char *fn)
{
	int status = -1;
	if (!fn || !__cxa_demangle || strncmp(fn, "_Z", 2) != 0)
		return NULL;
	char *d = __cxa_demangle(fn, NULL, NULL, &status);
	if (status != 0) {
		free(d);
		return NULL;
	}
	return d;
}

void uffdbox__stack_print(int fd, const struct uffdbox__stack *s)
{
	Dwfl *dwfl = dwfl_begin(&callbacks);
	if (dwfl) {
		if (dwfl_linux_proc_report(dwfl, getpid()) != 0 ||
		    dwfl_report_end(dwfl, NULL, NULL) != 0) {
			dwfl_end(dwfl);
			dwfl = NULL;
		}
	}
	for (uint32_t i = 0; i < s->n; i++) {
		/* Return addresses point after the call: look up the call. */
		uintptr_t pc = s->pc[i], look = i ? pc - 1 : pc;
		const char *fn = NULL, *file = NULL, *mod = NULL;
		int line = 0;
		Dwarf_Addr base = 0;
		Dwfl_Module *m = dwfl ? dwfl_addrmodule(dwfl, look) : NULL;
		if (m) {
			fn = dwfl_module_addrname(m, look);
			mod = dwfl_module_info(m, NULL, &base, NULL, NULL, NULL, NULL, NULL);
			Dwfl_Line *l = dwfl_module_getsrc(m, look);
			if (l)
				file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
			else
				file = line_by_cu(m, look, &line);
		}
		char buf[1024], *dm = demangle(fn);
		int n = snprintf(buf, sizeof(buf), "    #%u 0x%lx in %s", i, (unsigned long)pc,
				 dm   ? dm
				 : fn ? fn
				      : "??");
		free(dm);
		if (file && n < (int)sizeof(buf))
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %s:%d", file, line);
		if (mod && n < (int)sizeof(buf)) {
			const char *slash = strrchr(mod, '/');
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " (%s+0x%lx)",
				      slash ? slash + 1 : mod, (unsigned long)(pc - base));
		}
		if (n >= (int)sizeof(buf))
			n = (int)sizeof(buf) - 1;
		buf[n++] = '\n';
		if (write(fd, buf, (size_t)n) < 0)
			break;
	}
	if (dwfl)
		dwfl_end(dwfl);
}

void uffdbox__stack_print_raw(int fd, const struct uffdbox__stack *s)
{
	char mod[UFFDBOX_STACK_MAX][96];
	uintptr_t modoff[UFFDBOX_STACK_MAX];
	char buf[4096], line[512];
	size_t ll = 0;
	ssize_t n;

	for (uint32_t i = 0; i < s->n; i++)
		mod[i][0] = '\0';
	int mfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	while (mfd >= 0 && (n = read(mfd, buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[k];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			struct uffdbox__maps_line ml;
			if (!uffdbox__parse_maps_line(line, &ml))
				continue;
			uintptr_t a = ml.start, b = ml.end, off = ml.offset;
			const char *path = ml.path;
			for (uint32_t i = 0; i < s->n; i++) {
				if (s->pc[i] < a || s->pc[i] >= b)
					continue;
				const char *slash = strrchr(path, '/');
				size_t len = strlen(slash ? slash + 1 : path);
				if (len > sizeof(mod[i]) - 1)
					len = sizeof(mod[i]) - 1;
				memcpy(mod[i], slash ? slash + 1 : path, len);
				mod[i][len] = '\0';
				modoff[i] = s->pc[i] - a + off;
			}
		}
	}
	if (mfd >= 0)
		close(mfd);
	for (uint32_t i = 0; i < s->n; i++) {
		char out[192];
		int w = mod[i][0] ? snprintf(out, sizeof(out), "    #%u 0x%lx (%s+0x%lx)\n", i,
					     (unsigned long)s->pc[i], mod[i],
					     (unsigned long)modoff[i])
				  : snprintf(out, sizeof(out), "    #%u 0x%lx\n", i,
					     (unsigned long)s->pc[i]);
		if (w > 0 && write(fd, out, (size_t)w) < 0)
			return;
	}
}

/* TSan intercepts malloc in a synchronous signal handler and can deadlock
 * in its own runtime there: TSan builds print raw frames even when aborting. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

void uffdbox__say(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (n > 0 && write(fd, buf, (size_t)n) < 0)
		return;
}

void uffdbox__stack_print_fatal(int fd, const struct uffdbox__stack *s)
{
	if (UNDER_TSAN)
		uffdbox__stack_print_raw(fd, s);
	else
		uffdbox__stack_print(fd, s);
}

void uffdbox__uau_report(int fd, const struct uffdbox__uau *r)
{
	const char *acc = r->write ? "WRITE" : "READ";

	uffdbox__say(fd,
		     "=================================================================\n"
		     "==%d==ERROR: uffdbox: use-after-unmap %s at 0x%lx by thread T%u (tid %d)\n",
		     getpid(), acc, (unsigned long)r->addr, r->thread, r->tid);
	/* Symbols need libdw, which allocates: only on the way to abort().
	 * A program that goes on gets raw frames, printed async-signal-safely. */
	void (*print)(int, const struct uffdbox__stack *) =
		r->aborting ? uffdbox__stack_print_fatal : uffdbox__stack_print_raw;
	if (r->access)
		print(fd, r->access);
	else
		uffdbox__say(
			fd,
			"    (the access's stack is not available with the SERVED transport; the "
			"SYNC transport captures it)\n");
	uffdbox__say(fd,
		     "\n0x%lx is %lu bytes inside %s [0x%lx, 0x%lx) of %lu bytes\n"
		     "unmapped at event #%llu by thread T%u (tid %d):\n",
		     (unsigned long)r->addr, (unsigned long)(r->addr - r->start), r->what,
		     (unsigned long)r->start, (unsigned long)r->end,
		     (unsigned long)(r->end - r->start), (unsigned long long)r->unmap_seq,
		     r->unmap_thread, r->unmap_tid);
	print(fd, r->unmap);
	uffdbox__say(fd, "\nSUMMARY: uffdbox: use-after-unmap %s\n%s", acc,
		     r->aborting ? "==ABORTING\n" : "");
}
