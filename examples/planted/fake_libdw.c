/* SPDX-License-Identifier: MIT */
/* examples/planted/fake_libdw.c - a libdw.so.1 without libdw's functions,
 * for the test of a report whose symbolizer cannot be loaded. */
int uffdbox_fake_libdw = 1;
