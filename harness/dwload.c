/* SPDX-License-Identifier: MIT */
/* harness/dwload.c - libdw, loaded at the first report (see dwload.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "dwload.h"

static struct uffdbox__dw dw;
static const struct uffdbox__dw *loaded;
static char why[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

#ifdef UFFDBOX_LIBDW_LINKED
/* -DUFFDBOX_LIBDW=link: linked like any library (static builds whose
 * runners have no libdw.so.1, as OSS-Fuzz's). */
static void load(void)
{
#define UFFDBOX__DW_DIRECT(f) dw.f = f;
	UFFDBOX__DW_FUNCS(UFFDBOX__DW_DIRECT)
	loaded = &dw;
}
#else
static void load(void)
{
	/* RTLD_LOCAL: its symbols stay out of the program's namespace.  A
	 * program that links libdw itself gets its own copy back. */
	void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		snprintf(why, sizeof(why), "%s (install libdw1)", e ? e : "libdw.so.1 not found");
		return;
	}
#define UFFDBOX__DW_SYM(f)                                              \
	if (!(*(void **)&dw.f = dlsym(h, #f))) {                        \
		snprintf(why, sizeof(why), "libdw.so.1 has no %s", #f); \
		return;                                                 \
	}
	UFFDBOX__DW_FUNCS(UFFDBOX__DW_SYM)
	loaded = &dw;
}
#endif

const struct uffdbox__dw *uffdbox__dw(void)
{
	pthread_once(&once, load);
	return loaded;
}

const char *uffdbox__dw_error(void)
{
	return loaded ? NULL : why;
}

bool uffdbox__dw_linked(void)
{
#ifdef UFFDBOX_LIBDW_LINKED
	return true;
#else
	return false;
#endif
}
