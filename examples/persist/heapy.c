/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/heapy.c - the target heap (harness/theap.c) under
 * libFuzzer: every call of the malloc family and mmap, state set up in
 * LLVMFuzzerInitialize and changed by every input.  Each input checks that
 * it starts from the setup's state (so, run twice in one process without
 * the reset, the second input aborts), that blocks are aligned and sized
 * as asked, that contents survive realloc, and that a failing mmap, munmap
 * or mremap leaves the kernel's errno.  And one page mapped right
 * after the program's .bss, where ld.so keeps its link maps in some
 * processes: not the program's memory, so not put back - the count of
 * inputs it keeps is printed at exit.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uffdbox/persist.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *greeting; /* strdup()ed at setup, replaced by each input */
static void **table;   /* grown by each input */
static size_t ntable;
static unsigned char *page;   /* a mapping an input makes and leaves */
static unsigned long *beyond; /* the page after .bss, if it was free */
extern char _end[];

static void say_beyond(void)
{
	if (beyond)
		fprintf(stderr, "heapy: %lu inputs counted past the program's .bss\n", *beyond);
}

#define FAIL(...)                                       \
	do {                                            \
		fprintf(stderr, "heapy: " __VA_ARGS__); \
		abort();                                \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	uintptr_t after = ((uintptr_t)_end + 4095) & ~(uintptr_t)4095;
	void *b = mmap((void *)after, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (b == (void *)after) {
		beyond = b;
		atexit(say_beyond);
	}
	greeting = strdup("hello from the setup");
	table = calloc(4, sizeof(*table));
	if (!greeting || !table)
		abort();
	return 0;
}

static void *sleeper(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static void check_aligned(void *p, size_t align, const char *how)
{
	if (!p || (uintptr_t)p % align)
		FAIL("%s gave %p, not aligned to %zu\n", how, p, align);
}

/* A failing mmap/munmap/mremap leaves the kernel's errno, not another. */
static void check_errno(void)
{
	errno = 0;
	if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) != MAP_FAILED || errno != EBADF)
		FAIL("mmap with no descriptor: errno %d (%s), expected EBADF\n", errno,
		     strerror(errno));
	errno = 0;
	if (munmap((void *)1, 4096) != -1 || errno != EINVAL)
		FAIL("munmap of an unaligned address: errno %d (%s), expected EINVAL\n", errno,
		     strerror(errno));
	errno = 0;
	if (mremap((void *)1, 4096, 8192, 0) != MAP_FAILED || errno != EINVAL)
		FAIL("mremap of an unaligned address: errno %d (%s), expected EINVAL\n", errno,
		     strerror(errno));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uffdbox_persist_auto();
	check_errno();
	if (!greeting || strcmp(greeting, "hello from the setup") != 0 || ntable || page)
		FAIL("state leaked from an earlier input (greeting \"%s\", %zu entries)\n",
		     greeting ? greeting : "(null)", ntable);
	if (beyond)
		++*beyond;
	free(greeting);
	greeting = strdup("changed by an input");
	size_t seed = size ? data[0] : 7;
	for (size_t i = 0; i < 64 + seed; i++) {
		size_t n = (i * 131 + seed * 17) % (i % 8 == 7 ? 3u << 20 : 3000) + 1;
		unsigned char *b;
		switch (i % 6) {
		case 0:
			b = malloc(n);
			break;
		case 1:
			b = calloc(n, 1);
			for (size_t k = 0; b && k < n; k++)
				if (b[k])
					FAIL("calloc(%zu) byte %zu is %u\n", n, k, b[k]);
			break;
		case 2: {
			void *p = NULL;
			if (posix_memalign(&p, 256, n))
				FAIL("posix_memalign: %s\n", strerror(errno));
			b = p;
			check_aligned(b, 256, "posix_memalign(256)");
			break;
		}
		case 3:
			b = aligned_alloc(64, (n + 63) & ~(size_t)63);
			check_aligned(b, 64, "aligned_alloc(64)");
			break;
		case 4:
			b = memalign(4096, n);
			check_aligned(b, 4096, "memalign(4096)");
			break;
		default:
			b = valloc(n);
			check_aligned(b, 4096, "valloc");
			break;
		}
		if (!b)
			FAIL("allocation %zu of %zu bytes failed\n", i, n);
		if (malloc_usable_size(b) < n)
			FAIL("malloc_usable_size %zu < %zu\n", malloc_usable_size(b), n);
		memset(b, (int)(i & 0xff), n);
		unsigned char *r = realloc(b, n * 2);
		if (!r)
			FAIL("realloc to %zu failed\n", n * 2);
		for (size_t k = 0; k < n; k += 97)
			if (r[k] != (unsigned char)(i & 0xff))
				FAIL("realloc lost byte %zu\n", k);
		if (i % 3 == 0) {
			void **t = reallocarray(table, ntable + 1, sizeof(*t));
			if (!t)
				FAIL("reallocarray failed\n");
			table = t;
			table[ntable++] = r; /* kept: the reset frees it */
		} else {
			free(r);
		}
	}
	page = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		FAIL("mmap: %s\n", strerror(errno));
	page[0] = 1;
	/* HEAPY_THREAD=1: an input starting with 'T' leaves a thread running */
	if (size && data[0] == 'T' && getenv("HEAPY_THREAD")) {
		pthread_t t;
		if (pthread_create(&t, NULL, sleeper, NULL) == 0)
			pthread_detach(t);
	}
	return 0;
}
