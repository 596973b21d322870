/* SPDX-License-Identifier: MIT */
/* harness/report.c - stack capture (libunwind) and symbolization (libdw,
 * loaded at the first report: dwload.h). */
#define UNW_LOCAL_ONLY
#include <fcntl.h>
#include <stdlib.h>
#include <libunwind.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dwload.h"
#include "log.h"
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

/*
 * libdw's address lookup relies on .debug_aranges, which clang does not
 * emit: walk the compile units and ask each whether it holds the address.
 */
static const char *line_by_cu(const struct uffdbox__dw *D, Dwfl_Module *m, Dwarf_Addr pc, int *line)
{
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias;

	while ((cu = D->dwfl_module_nextcu(m, cu, &bias)) != NULL) {
		if (D->dwarf_haspc(cu, pc - bias) <= 0)
			continue;
		Dwarf_Line *l = D->dwarf_getsrc_die(cu, pc - bias);
		if (!l || D->dwarf_lineno(l, line) != 0)
			return NULL;
		return D->dwarf_linesrc(l, NULL, NULL);
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

/* What libdw knows of one program counter. */
struct sym {
	const char *fn, *file, *mod; /* NULL when unknown */
	int line;
	uintptr_t base;
};

/* The process's modules, or NULL (libdw not loadable: said once on @fd). */
static Dwfl *dwfl_self(int fd)
{
	const struct uffdbox__dw *D = uffdbox__dw();
	if (!D) {
		static bool said;
		if (!said && fd >= 0)
			uffdbox__say(fd, "    (no symbols: %s)\n", uffdbox__dw_error());
		said = true;
		return NULL;
	}
	/* static: the Dwfl keeps a pointer to it */
	static Dwfl_Callbacks callbacks;
	callbacks.find_elf = D->dwfl_linux_proc_find_elf;
	callbacks.find_debuginfo = D->dwfl_standard_find_debuginfo;
	Dwfl *dwfl = D->dwfl_begin(&callbacks);
	if (dwfl && (D->dwfl_linux_proc_report(dwfl, getpid()) != 0 ||
		     D->dwfl_report_end(dwfl, NULL, NULL) != 0)) {
		D->dwfl_end(dwfl);
		dwfl = NULL;
	}
	return dwfl;
}

static void dwfl_done(Dwfl *dwfl)
{
	if (dwfl)
		uffdbox__dw()->dwfl_end(dwfl);
}

/* Frame @i of a stack: return addresses (i > 0) point after the call, so
 * look up the call itself. */
static struct sym symbolize(Dwfl *dwfl, uintptr_t pc, uint32_t i)
{
	uintptr_t look = i ? pc - 1 : pc;
	struct sym y = {0};
	Dwarf_Addr base = 0;
	const struct uffdbox__dw *D = dwfl ? uffdbox__dw() : NULL;
	Dwfl_Module *m = D ? D->dwfl_addrmodule(dwfl, look) : NULL;

	if (!m)
		return y;
	y.fn = D->dwfl_module_addrname(m, look);
	y.mod = D->dwfl_module_info(m, NULL, &base, NULL, NULL, NULL, NULL, NULL);
	y.base = (uintptr_t)base;
	Dwfl_Line *l = D->dwfl_module_getsrc(m, look);
	if (l)
		y.file = D->dwfl_lineinfo(l, NULL, &y.line, NULL, NULL, NULL);
	else
		y.file = line_by_cu(D, m, look, &y.line);
	return y;
}

void uffdbox__stack_print(int fd, const struct uffdbox__stack *s)
{
	Dwfl *dwfl = dwfl_self(fd);
	if (!dwfl) {
		uffdbox__stack_print_raw(fd, s);
		return;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		uintptr_t pc = s->pc[i];
		struct sym y = symbolize(dwfl, pc, i);
		char buf[1024], *dm = demangle(y.fn);
		int n = snprintf(buf, sizeof(buf), "    #%u 0x%lx in %s", i, (unsigned long)pc,
				 dm	? dm
				 : y.fn ? y.fn
					: "??");
		free(dm);
		if (y.file && n < (int)sizeof(buf))
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %s:%d", y.file, y.line);
		if (y.mod && n < (int)sizeof(buf)) {
			const char *slash = strrchr(y.mod, '/');
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, " (%s+0x%lx)",
				      slash ? slash + 1 : y.mod, (unsigned long)(pc - y.base));
		}
		if (n >= (int)sizeof(buf))
			n = (int)sizeof(buf) - 1;
		buf[n++] = '\n';
		if (write(fd, buf, (size_t)n) < 0)
			break;
	}
	dwfl_done(dwfl);
}

/* Each frame's module (file name) and offset in it, from /proc/self/maps
 * with open/read only: async-signal-safe.  mod[i][0] == '\0': unknown. */
static void modules_of(const struct uffdbox__stack *s, char mod[][96], uintptr_t *modoff)
{
	char buf[4096], line[512];
	size_t ll = 0;
	ssize_t n;

	for (uint32_t i = 0; i < s->n; i++) {
		mod[i][0] = '\0';
		modoff[i] = s->pc[i];
	}
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
				if (len > 95)
					len = 95;
				memcpy(mod[i], slash ? slash + 1 : path, len);
				mod[i][len] = '\0';
				modoff[i] = s->pc[i] - a + off;
			}
		}
	}
	if (mfd >= 0)
		close(mfd);
}

void uffdbox__stack_print_raw(int fd, const struct uffdbox__stack *s)
{
	char mod[UFFDBOX_STACK_MAX][96];
	uintptr_t modoff[UFFDBOX_STACK_MAX];

	modules_of(s, mod, modoff);
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
	char buf[1024];
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
	const char *acc = r->exec ? "EXECUTE" : r->write ? "WRITE" : "READ";
	const char *bug = r->bug ? r->bug : "use-after-unmap";

	uffdbox__say(fd,
		     "=================================================================\n"
		     "==%d==ERROR: uffdbox: %s %s at 0x%lx by thread T%u (tid %d)\n",
		     getpid(), bug, acc, (unsigned long)r->addr, r->thread, r->tid);
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
	/* An address in the allocator's header before a heap block. */
	bool before = r->addr < r->start;
	uffdbox__say(fd,
		     "\n0x%lx is %lu bytes %s %s [0x%lx, 0x%lx) of %lu bytes\n"
		     "%s at event #%llu by thread T%u (tid %d):\n",
		     (unsigned long)r->addr,
		     (unsigned long)(before ? r->start - r->addr : r->addr - r->start),
		     before ? "before" : "inside", r->what, (unsigned long)r->start,
		     (unsigned long)r->end, (unsigned long)(r->end - r->start),
		     r->released ? r->released : "unmapped", (unsigned long long)r->unmap_seq,
		     r->unmap_thread, r->unmap_tid);
	print(fd, r->unmap);
	if (r->alloc) {
		uffdbox__say(fd, "\npreviously allocated by thread T%u (tid %d):\n",
			     r->alloc_thread, r->alloc_tid);
		print(fd, r->alloc);
	}
	uffdbox__say(fd, "\nSUMMARY: uffdbox: %s %s\n%s", bug, acc,
		     r->aborting ? "==ABORTING\n" : "");

	struct uffdbox__report_note n = {
		.bug = "use-after-unmap",
		.write = r->write,
		.offset = (int64_t)(r->addr - r->start),
		.thread = r->thread,
		.unmap_seq = (int64_t)r->unmap_seq,
		.unmap_thread = r->unmap_thread,
	};
	if (r->unmap)
		n.unmap = *r->unmap;
	if (r->access)
		n.access = *r->access;
	/* "region \"x\"" names a region; anything else is an unmapped range. */
	const char *q = strchr(r->what, '"');
	size_t len = q ? strcspn(q + 1, "\"") : 0;
	if (len >= sizeof(n.region))
		len = sizeof(n.region) - 1;
	memcpy(n.region, q ? q + 1 : "", len);
	snprintf(n.summary, sizeof(n.summary), "use-after-unmap %s", acc);
	uffdbox__report_note(&n);
}

/* --- reports in the event log ---------------------------------------------- */

#define NOTES_MAX 16
static struct uffdbox__report_note notes[NOTES_MAX];
static _Atomic unsigned int nnotes;

void uffdbox__report_note(const struct uffdbox__report_note *n)
{
	unsigned int i = atomic_fetch_add(&nnotes, 1);
	if (i < NOTES_MAX)
		notes[i] = *n;
}

void uffdbox__report_notes_reset(void)
{
	atomic_store(&nnotes, 0);
}

/* [{"fn":..,"file":..,"line":..,"module":..,"off":"0x.."},...]: no absolute
 * address, so the same program gives the same frames whatever ASLR did.
 * TSan builds keep to module+offset (no libdw in a signal handler there). */
static void frames_json(FILE *f, Dwfl *dwfl, const struct uffdbox__stack *s)
{
	char mod[UFFDBOX_STACK_MAX][96];
	uintptr_t off[UFFDBOX_STACK_MAX];

	modules_of(s, mod, off);
	fputc('[', f);
	for (uint32_t i = 0; i < s->n; i++) {
		struct sym y = symbolize(dwfl, s->pc[i], i);
		fputs(i ? ",{" : "{", f);
		if (y.fn) {
			char *dm = demangle(y.fn); /* as on stderr */
			fputs("\"fn\":", f);
			uffdbox__json_string(f, dm ? dm : y.fn);
			fputc(',', f);
			free(dm);
		}
		if (y.file) {
			const char *slash = strrchr(y.file, '/');
			fputs("\"file\":", f);
			uffdbox__json_string(f, slash ? slash + 1 : y.file);
			fprintf(f, ",\"line\":%d,", y.line);
		}
		fputs("\"module\":", f);
		uffdbox__json_string(f, mod[i][0] ? mod[i] : "?");
		fprintf(f, ",\"off\":\"0x%lx\"}", (unsigned long)off[i]);
	}
	fputc(']', f);
}

int uffdbox__report_notes_write(FILE *f)
{
	unsigned int n = atomic_load(&nnotes);
	if (n > NOTES_MAX)
		n = NOTES_MAX;
	if (!n)
		return 0;
	Dwfl *dwfl = UNDER_TSAN ? NULL : dwfl_self(-1);
	for (unsigned int i = 0; i < n; i++) {
		const struct uffdbox__report_note *r = &notes[i];
		fputs("{\"kind\":\"report\",\"bug\":", f);
		uffdbox__json_string(f, r->bug);
		fprintf(f, ",\"access\":\"%s\",\"region_name\":", r->write ? "write" : "read");
		uffdbox__json_string(f, r->region);
		if (r->where[0])
			fprintf(f, ",\"where\":\"%s\"", r->where);
		fprintf(f, ",\"offset\":%lld,\"thread\":%u", (long long)r->offset, r->thread);
		if (r->unmap.n)
			fprintf(f, ",\"unmap_seq\":%lld,\"unmap_thread\":%u",
				(long long)r->unmap_seq, r->unmap_thread);
		fputs(",\"summary\":", f);
		uffdbox__json_string(f, r->summary);
		fputs(",\"frames\":", f);
		frames_json(f, dwfl, &r->access);
		if (r->unmap.n) {
			fputs(",\"unmap_frames\":", f);
			frames_json(f, dwfl, &r->unmap);
		}
		fputs("}\n", f);
	}
	dwfl_done(dwfl);
	return (int)n;
}
