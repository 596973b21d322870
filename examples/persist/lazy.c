/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/lazy.c - a program bound lazily (not linked -z now)
 * calls a libc function for the first time after the snapshot: ld.so
 * writes its .got.plt slot then.  The reset keeps every object's .got.plt
 * (docs/persist.md): after a restore the slot is still bound, the next call
 * writes nothing and verify finds no difference.  Restored, the slot would
 * be bound again - written - at every first call of every input.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <uffdbox/persist.h>

int main(void)
{
	char err[512] = "";
	struct uffdbox_persist_opts o = {.sz = sizeof(o), .errbuf = err, .errbuf_len = sizeof(err)};
	int rc = uffdbox_persist_take(&o);
	if (rc == -ENOTSUP || rc == -UFFDBOX_E_NOFEATURE) {
		printf("persist_lazy: skipped: %s\n", err);
		return 77;
	}
	if (rc < 0) {
		fprintf(stderr, "persist_lazy: take: %s: %s\n", uffdbox_strerror(rc), err);
		return 1;
	}
	volatile int r = strverscmp("a1", "a2"); /* its first call: bound now */
	/* (ld.so counts the binding in its own data: put back here, and no
	 * binding happens again to count) */
	ssize_t n = uffdbox_persist_restore();
	if (n < 0) {
		fprintf(stderr, "persist_lazy: restore: %s\n", uffdbox_strerror((int)n));
		return 1;
	}
	r = strverscmp("a2", "a1"); /* bound still: nothing written */
	(void)r;
	int bad = uffdbox_persist_verify();
	printf("persist_lazy: %d differing ranges\n", bad);
	return bad != 0;
}
