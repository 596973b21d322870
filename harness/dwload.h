/* SPDX-License-Identifier: MIT */
/*
 * harness/dwload.h - libdw, the symbolizer, loaded when a report first needs
 * it rather than with every process that links uffdbox.
 *
 * libdw.so.1 is dlopen()ed at the first report.  Not loading it at start
 * keeps libdw, libelf, zlib and libbz2 out of every target: four libraries'
 * mappings fewer for the whole-target reset to walk past at each restore,
 * and a faster start.  Built with -DUFFDBOX_LIBDW=link (CMake), libdw is
 * linked instead: for static builds run where no libdw.so.1 is installed
 * (OSS-Fuzz's runners).
 */
#ifndef UFFDBOX_HARNESS_DWLOAD_H
#define UFFDBOX_HARNESS_DWLOAD_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdbool.h>

/* X(name): every libdw function report.c calls. */
#define UFFDBOX__DW_FUNCS(X)            \
	X(dwfl_begin)                   \
	X(dwfl_end)                     \
	X(dwfl_linux_proc_report)       \
	X(dwfl_report_end)              \
	X(dwfl_linux_proc_find_elf)     \
	X(dwfl_standard_find_debuginfo) \
	X(dwfl_addrmodule)              \
	X(dwfl_module_addrname)         \
	X(dwfl_module_info)             \
	X(dwfl_module_getsrc)           \
	X(dwfl_lineinfo)                \
	X(dwfl_module_nextcu)           \
	X(dwarf_haspc)                  \
	X(dwarf_getsrc_die)             \
	X(dwarf_lineno)                 \
	X(dwarf_linesrc)

struct uffdbox__dw {
#define UFFDBOX__DW_FIELD(f) __typeof__(f) *f;
	UFFDBOX__DW_FUNCS(UFFDBOX__DW_FIELD)
#undef UFFDBOX__DW_FIELD
};

/* libdw's functions, or NULL when it cannot be loaded (uffdbox__dw_error()
 * says why).  Loads at most once; not async-signal-safe (dlopen), so only on
 * the way to abort() or out of signal context, like the symbolizing itself. */
const struct uffdbox__dw *uffdbox__dw(void);
const char *uffdbox__dw_error(void);
/* Built with -DUFFDBOX_LIBDW=link? */
bool uffdbox__dw_linked(void);

#endif
