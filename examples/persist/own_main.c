/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/own_main.c - an engine of one's own whose input buffer
 * is in its .bss, not kept out of the whole-target snapshot: with
 * UFFDBOX_PERSIST=1 every later input would read the first one's bytes.
 * uffdbox_fuzz_input() stops at the first input, naming the fix.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <uffdbox/uffd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[64];

int main(void)
{
	struct uffdbox_uffd *u = NULL;
	struct uffdbox_uffd_opts uo = {.sz = sizeof(uo)};
	int rc = uffdbox_uffd_open(&uo, &u);
	enum uffdbox_backend b = rc < 0 ? UFFDBOX_BACKEND_SIGNAL : uffdbox_uffd_backend(u);
	uffdbox_uffd_close(u);
	if (b != UFFDBOX_BACKEND_UFFD) { /* the reset needs one (docs/persist.md) */
		printf("own_main: skipped: no userfaultfd here\n");
		return 77;
	}
	for (int i = 0; i < 3; i++) {
		snprintf((char *)buf, sizeof(buf), "input %d", i);
		LLVMFuzzerTestOneInput(buf, strlen((char *)buf));
	}
	printf("own_main: 3 inputs ran\n");
	return 0;
}
