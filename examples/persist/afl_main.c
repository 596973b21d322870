/* SPDX-License-Identifier: MIT */
/*
 * examples/persist/afl_main.c - AFL++ persistent-mode main for any
 * LLVMFuzzerTestOneInput harness: test cases arrive in shared memory
 * (__AFL_FUZZ_TESTCASE_BUF), __AFL_LOOP runs up to 10000 of them per child.
 * Built with afl-clang-fast (the __AFL_* macros are its own).  With
 * UFFDBOX_PERSIST=1 the harness's uffdbox_persist_auto() resets the whole
 * process between them (docs/persist.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

__AFL_FUZZ_INIT();

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	__AFL_INIT();
	const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;
	while (__AFL_LOOP(10000))
		LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
	return 0;
}
