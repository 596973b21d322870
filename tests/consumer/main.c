/* SPDX-License-Identifier: MIT */
/* tests/consumer/main.c - run each argument (a string) as one input. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		LLVMFuzzerTestOneInput((const uint8_t *)argv[i], strlen(argv[i]));
	printf("consumer: %d inputs ran\n", argc - 1);
	return 0;
}
