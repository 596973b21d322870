/* SPDX-License-Identifier: MIT */
/*
 * tests/uau/uau_lib.c - a library for uau_target to dlopen and dlclose:
 * some data and a function to keep pointers to.
 */
#define _GNU_SOURCE
#define EXPORT __attribute__((visibility("default")))

EXPORT char uau_lib_data[8192] = "abcdefgh";

EXPORT int uau_lib_fn(int x);
int uau_lib_fn(int x)
{
	return x + 1;
}
