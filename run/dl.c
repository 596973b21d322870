/* SPDX-License-Identifier: MIT */
/*
 * run/dl.c - unloaded libraries in quarantine.
 *
 * dlclose() unloads an object (and the dependencies only it held) through
 * ld.so's internal munmap of the object's whole span [l_map_start,
 * l_map_end): no interposer sees it.  So dlclose is interposed: the loaded
 * objects are listed (dl_iterate_phdr) before and after the real call;
 * each one that is gone had its span unmapped, which is taken back at once
 * with MAP_FIXED_NOREPLACE, readable, writable and executable, and
 * quarantined (uffdbox__run_reserve).  A later read, write or call through a
 * stale function pointer there is reported as a use-after-unmap naming the
 * library and the dlclose stack.
 *
 * The window: between ld.so's munmap and our mmap, another thread's mmap
 * may take the addresses; then that library is not reserved (a miss, never
 * a false report).  Single-threaded programs have no window.
 */
#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "preload.h"

#define EXPORT	__attribute__((visibility("default")))
#define OBJ_MAX 1024

struct obj {
	uintptr_t lo, hi;
	char path[256];
};

struct list {
	struct obj *o;
	size_t n;
	bool names;
};

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct list *l = arg;
	if (!info->dlpi_name || !info->dlpi_name[0] || l->n == OBJ_MAX)
		return 0; /* the program itself: never unloaded */
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t s = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)4095;
		uintptr_t e =
			(info->dlpi_addr + ph->p_vaddr + ph->p_memsz + 4095) & ~(uintptr_t)4095;
		lo = s < lo ? s : lo;
		hi = e > hi ? e : hi;
	}
	if (lo >= hi)
		return 0;
	struct obj *o = &l->o[l->n++];
	o->lo = lo;
	o->hi = hi;
	if (l->names) {
		size_t n = strnlen(info->dlpi_name, sizeof(o->path) - 1);
		memcpy(o->path, info->dlpi_name, n);
		o->path[n] = '\0';
	}
	return 0;
}

/* This thread's two lists, mapped at its first dlclose and kept (a thread
 * that calls dlclose once will call it again; 280 KiB of address space,
 * touched as far as it has objects). */
static UFFDBOX__TLS struct obj *tl_before, *tl_after;
static UFFDBOX__TLS int depth;

static bool buffers(void)
{
	if (tl_before)
		return true;
	void *p = (void *)syscall(SYS_mmap, NULL, 2 * OBJ_MAX * sizeof(struct obj),
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return false;
	tl_before = p;
	tl_after = tl_before + OBJ_MAX;
	return true;
}

EXPORT int dlclose(void *handle)
{
	static int (*real)(void *);
	if (!real) {
		void *p = dlsym(RTLD_NEXT, "dlclose");
		memcpy(&real, &p, sizeof(p));
	}
	/* A dlclose from a destructor the outer one runs is seen by the
	 * outer call's comparison. */
	if (!uffdbox__run_active() || depth || !buffers())
		return real(handle);

	struct list before = {.o = tl_before, .names = true},
		    after = {.o = tl_after, .names = false};
	struct uffdbox__stack st;
	uffdbox__run_caller_stack(&st);
	dl_iterate_phdr(collect, &before);
	depth++;
	int rc = real(handle);
	depth--;
	if (rc == 0)
		dl_iterate_phdr(collect, &after);
	for (size_t i = 0; rc == 0 && i < before.n; i++) {
		bool gone = true;
		for (size_t k = 0; k < after.n && gone; k++)
			gone = after.o[k].lo != before.o[i].lo;
		if (!gone)
			continue;
		struct uffdbox__qinfo qi = {
			.kind = UFFDBOX__Q_DL,
			.release = &st,
			.path = before.o[i].path,
		};
		uffdbox__run_reserve(before.o[i].lo, before.o[i].hi, &qi);
	}
	return rc;
}
