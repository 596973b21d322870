/* SPDX-License-Identifier: MIT */
/* examples/planted/target.h - the planted-bug target's interface. */
#ifndef PLANTED_TARGET_H
#define PLANTED_TARGET_H

#include <stddef.h>
#include <stdint.h>

struct planted_shared {
	volatile uint32_t len;
	unsigned char data[4092];
};

struct planted_out {
	volatile uint32_t seq; /* volatile: touched before the second fetch, in order */
	unsigned char data[256];
};

struct planted_ctx {
	char *cache;	 /* scratch cache, released by 'C' */
	char *cache_ptr; /* where the code keeps pointing into it */
	void (*release_cache)(struct planted_ctx *c);
	struct planted_shared *shared; /* shared with another party */
	struct planted_out *out;       /* the work area */
	void *harness;
};

unsigned int planted_process(struct planted_ctx *c, const unsigned char *msg, size_t len);

#endif
