/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/stateful.c - a target whose state leaks from one input
 * into the next, in every way docs/persist.md says a reset undoes: a global
 * counter, a heap list growing per input, a block freed and one allocated
 * large enough to be a mapping of its own, a mapping left mapped, a
 * descriptor left open.  Its "bug" shows only with leaked state: an input
 * that finds an earlier input's traces aborts.  Run once per process (or
 * with the reset, UFFDBOX_PERSIST=1) it never does.  It has one real bug
 * too, an input starting with "BUG!", which crashes wherever it runs.
 *
 * Built twice: calling uffdbox_persist_auto() itself (persist_stateful),
 * and with -DVIA_FUZZ_INPUT calling only uffdbox_fuzz_input()
 * (persist_stateful_fuzzh), whose switch turns the reset on; with
 * -DALSO_AUTO too, the double call that it refuses.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef VIA_FUZZ_INPUT
#include <uffdbox/fuzz.h>
#include <uffdbox/persist.h>
#else
#include <uffdbox/persist.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct node {
	struct node *next;
	uint8_t first;
};

static int seen;	  /* inputs run since the setup */
static struct node *list; /* one node per input */
static char *setup_block; /* allocated once, freed by each input */
static void *left_mapped; /* a mapping an input left behind */

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup_block = malloc(300);
	if (!setup_block)
		abort();
	memset(setup_block, 's', 300);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef VIA_FUZZ_INPUT
#ifdef ALSO_AUTO /* the mistake uffdbox_fuzz_input() stops with its cause */
	uffdbox_persist_auto();
#endif
	data = uffdbox_fuzz_input(data, size);
#else
	uffdbox_persist_auto();
#endif

	if (seen || list || left_mapped || !setup_block || setup_block[299] != 's') {
		fprintf(stderr, "stateful: state leaked from an earlier input (seen=%d)\n", seen);
		abort();
	}
	int fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd > 64) { /* earlier inputs' descriptors pile up */
		fprintf(stderr, "stateful: descriptor %d: earlier inputs left theirs open\n", fd);
		abort();
	}
	seen++;
	/* a libc function first called after the snapshot: bound lazily then
	 * (this example is not linked -z now); verify must not see its slot */
	char word[16]; /* (data is not a string: uffdbox_fuzz_input() puts a
			* guard page right after it) */
	size_t wn = size < sizeof(word) - 1 ? size : sizeof(word) - 1;
	memcpy(word, data, wn);
	word[wn] = 0;
	if (strverscmp("input", word) > 1000)
		abort();
	struct node *n = malloc(sizeof(*n));
	if (!n)
		abort();
	n->next = list;
	n->first = size ? data[0] : 0;
	list = n;
	free(setup_block);
	setup_block = NULL;
	char *big = malloc(1 << 20); /* a mapping of glibc's own */
	if (big)
		memset(big, size ? data[0] : 0, 1 << 20);
	left_mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (size >= 4 && memcmp(data, "BUG!", 4) == 0) {
		fprintf(stderr, "stateful: the real bug\n");
		abort();
	}
	return 0;
}
