/* SPDX-License-Identifier: MIT */
/*
 * examples/fuzz_parser.c - fuzz a parser whose input arrives through
 * injected pages.
 *
 * The parser reads records straight from memory (as code that parses a
 * mapped file or a shared buffer does).  The harness puts that memory in a
 * sandbox region whose policy is the fuzz input: page k gets input bytes
 * [k*4096, (k+1)*4096), the tail zero.  Every page the parser touches is a
 * logged fault, and one byte past the region is a guard page, so an
 * out-of-bounds read stops right there instead of reading a neighbour.
 *
 * Built three ways from this one file:
 *   - with libFuzzer (fuzz preset): LLVMFuzzerTestOneInput is the target;
 *   - with AFL++ (afl preset): the same, via afl-clang-fast -fsanitize=fuzzer;
 *   - plainly: main() below runs a few inputs and prints their event logs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox.h>

#define REGION_PAGES 4

/*
 * A record stream: [u8 type][u16 len][len bytes], type 0 ends.  Type 1
 * records sum their bytes.  Bounds are checked against the region size.
 */
static unsigned int parse(const unsigned char *p, size_t size)
{
	unsigned int sum = 0;
	size_t off = 0;

	while (off + 3 <= size && p[off] != 0) {
		size_t len = (size_t)p[off + 1] | (size_t)p[off + 2] << 8;
		if (len > size - off - 3)
			break;
		if (p[off] == 1)
			for (size_t i = 0; i < len; i++)
				sum += p[off + 3 + i];
		off += 3 + len;
	}
	return sum;
}

static struct uffdbox_sandbox *sb;
static int input_region = -1;

/* Lazily, on the first input: AFL++'s fork server forks after
 * initialization, and a uffd must belong to the process that faults. */
static int setup(void)
{
	if (sb)
		return 0;
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	int rc = uffdbox_sandbox_new(&o, &sb);
	if (rc < 0)
		return rc;
	struct uffdbox_region_opts ro = {.sz = sizeof(ro), .pages = REGION_PAGES, .name = "input"};
	input_region = uffdbox_sandbox_add_region(sb, &ro, NULL);
	return input_region < 0 ? input_region : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (setup() < 0)
		abort();
	struct uffdbox_policy in = {
		.sz = sizeof(in), .source = UFFDBOX_SOURCE_BUFFER, .data = data, .data_len = size};
	/* Between inputs: new contents, pages dropped, log restarted. */
	uffdbox_sandbox_set_policy(sb, input_region, &in);
	uffdbox_sandbox_reset_region(sb, input_region, false);
	uffdbox_sandbox_log_reset(sb);
	struct uffdbox_region *r = uffdbox_sandbox_region(sb, input_region);
	volatile unsigned int sum = parse(uffdbox_region_addr(r), uffdbox_region_len(r));
	(void)sum;
	return 0;
}

#ifndef UFFDBOX_FUZZING_ENGINE
int main(void)
{
	static unsigned char input[2 * 4096 + 10];
	/* one record spanning a page boundary, then the end marker */
	input[0] = 1;
	input[1] = 0xff;
	input[2] = 0x0f; /* len 4095: ends at byte 4098, on page 1 */
	memset(input + 3, 2, 4095);
	input[4098] = 0;
	LLVMFuzzerTestOneInput(input, sizeof(input));
	printf("input of %zu bytes: %llu faults, log digest %016llx\n", sizeof(input),
	       (unsigned long long)uffdbox_sandbox_log_count(sb),
	       (unsigned long long)uffdbox_sandbox_log_digest(sb));
	uffdbox_sandbox_log_write(sb, stdout);
	uffdbox_sandbox_free(sb);
	return 0;
}
#endif
