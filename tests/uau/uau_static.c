/* SPDX-License-Identifier: MIT */
/* tests/uau/uau_static.c - linked statically: LD_PRELOAD cannot reach it. */
#include <stdio.h>

int main(void)
{
	puts("static program ran");
	return 0;
}
