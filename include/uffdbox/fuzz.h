/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/fuzz.h - fuzz any library through uffdbox in one line.
 *
 *   int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
 *   {
 *           data = uffdbox_fuzz_input(data, size);
 *           parse(data, size);
 *           return 0;
 *   }
 *
 * The input is copied into a guarded region so that the first byte past it
 * is a guard page: a one-byte over-read is reported ("uffdbox: guard hit:
 * READ ... 1 bytes past the end of region \"fuzz-input\"") with no
 * sanitizer, and the engine's crash file reproduces it when run once.
 *
 * Environment (read once, when the sandbox is created):
 *
 *   UFFDBOX_FUZZ_ALIGN=right  (default) the input ends at the guard page
 *                             after the region: over-reads are caught.
 *   UFFDBOX_FUZZ_ALIGN=left   the input starts at the guard page before the
 *                             region: under-reads (data[-1]) are caught.
 *   UFFDBOX_FUZZ_EVENTS=1     every page of the input is mapped by a fault
 *                             of its own, logged (missing, page, offset):
 *                             the event log shows which pages the target
 *                             read, at the cost of a drop and a fault per
 *                             page per input.  Default: off (no syscall per
 *                             input in steady state).
 *   UFFDBOX_LOG=FILE          on a crash (a uffdbox report, a sanitizer
 *                             report, a fatal signal, a libFuzzer timeout),
 *                             the event log of the input being run is
 *                             written to FILE (JSON Lines,
 *                             docs/event-log.md).
 *   UFFDBOX_PERSIST=1         whole-target reset (uffdbox/persist.h): the
 *                             first call snapshots the process, every
 *                             later one puts it back before placing the
 *                             input - no other call in the harness.  The
 *                             input region is made before the snapshot,
 *                             for inputs up to UFFDBOX_FUZZ_MAX_LEN bytes
 *                             (default 1 MiB, AFL++'s largest); a larger
 *                             input aborts with that knob named.
 *
 * See docs/fuzz-your-library.md and docs/persist.md.
 */
#ifndef UFFDBOX_FUZZ_H
#define UFFDBOX_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * uffdbox_fuzz_input - a guarded copy of @data[0..@size), to use instead of
 * @data for this input.
 *
 * The first call in a process creates a sandbox (SYNC transport, guard-hit
 * reports, crash evidence per UFFDBOX_LOG); a call in a child forked after
 * that (AFL++'s fork server) creates the child's own.  Each call starts a
 * new input: the previous input's bytes are gone and its log forgotten.  An
 * input larger than the region makes a larger one (the old one goes into
 * quarantine: a stale pointer into it is a use-after-unmap).  The copy
 * stays valid until the next call.
 *
 * Returns the copy, never NULL.  Where userfaultfd is denied (a container's
 * seccomp profile) the sandbox runs on the signal backend, with the same
 * guard pages and reports (docs/backends.md).  A sandbox that cannot be
 * created at all (UFFDBOX_BACKEND=uffd and no userfaultfd: see the printed
 * cause and fix), data NULL with a non-zero size, or a size over 1 GiB
 * ends the process with abort(), as a fuzz harness cannot go on.  Not
 * thread-safe: call it from the thread that runs the inputs.
 */
UFFDBOX_API const uint8_t *uffdbox_fuzz_input(const uint8_t *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_FUZZ_H */
