/* SPDX-License-Identifier: MIT */
/* harness/report.c - stack capture (libunwind) and symbolization (libdw). */
#define UNW_LOCAL_ONLY
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libunwind.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

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
		char buf[1024];
		int n = snprintf(buf, sizeof(buf), "    #%u 0x%lx in %s", i, (unsigned long)pc,
				 fn ? fn : "??");
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
