/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_fuzz_exec.h - executions per second of a fuzz target, without
 * an engine: the inputs of a corpus directory replayed round-robin.
 */
#ifndef UFFDBOX_BENCH_FUZZ_EXEC_H
#define UFFDBOX_BENCH_FUZZ_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef int (*uffdbox_fuzz_one_fn)(const uint8_t *data, size_t size);

/* The targets this program holds, under their own names. */
int uffdbox__fuzz_msg_one(const uint8_t *data, size_t size);
int uffdbox__fuzz_fsm_one(const uint8_t *data, size_t size);

/*
 * uffdbox_bench_fuzz_exec - replay every regular file of @corpus_dir through
 * @fn for about @secs seconds (each input in its own exact-size buffer) and
 * print one line to @out:
 *     <name>: execs=N secs=S exec_per_s=X
 * Returns 0, or -errno when the directory cannot be read or is empty.
 */
int uffdbox_bench_fuzz_exec(const char *name, uffdbox_fuzz_one_fn fn, const char *corpus_dir,
			    double secs, FILE *out);

#endif /* UFFDBOX_BENCH_FUZZ_EXEC_H */
