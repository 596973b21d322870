/* SPDX-License-Identifier: MIT */
/*
 * examples/planted/target.c - a small message processor with three planted
 * bugs, the kind uffdbox exists to find.  It knows nothing of uffdbox: the
 * harness (fuzz.c) hands it memory and two hooks.
 *
 * A message is a sequence of commands: [op][arg...]
 *   'S' n          sum the next n bytes (bounds-checked)
 *   'O' lo hi      copy a 16-bit length from the message... and read that
 *                  many bytes: BUG 1, an out-of-bounds read past the input
 *   'C'            release the scratch cache (the harness's hook unmaps it)
 *   'R' k          read cache byte k: BUG 2 after 'C', a use-after-unmap
 *   'D'            process the shared header: BUG 3, a double fetch of its
 *                  length field - checked, then used again after touching
 *                  the work area, when another party may have changed it
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "target.h"

static unsigned int sum(const unsigned char *p, size_t n)
{
	unsigned int s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

unsigned int planted_process(struct planted_ctx *c, const unsigned char *msg, size_t len)
{
	unsigned int acc = 0;
	size_t i = 0;

	while (i < len) {
		unsigned char op = msg[i++];
		switch (op) {
		case 'S': {
			size_t n = i < len ? msg[i++] : 0;
			if (n > len - i)
				n = len - i;
			acc += sum(msg + i, n);
			i += n;
			break;
		}
		case 'O': {
			if (len - i < 2)
				return acc;
			size_t n = (size_t)msg[i] | (size_t)msg[i + 1] << 8;
			i += 2;
			/* BUG 1: n is not checked against what is left. */
			acc += sum(msg + i, n);
			i = n < len - i ? i + n : len;
			break;
		}
		case 'C':
			if (c->cache) {
				c->release_cache(c);
				/* BUG 2 (half of it): the pointer is kept. */
			}
			break;
		case 'R': {
			size_t k = i < len ? msg[i++] : 0;
			acc += (unsigned char)c->cache_ptr[k];
			break;
		}
		case 'D': {
			/* BUG 3: hdr->len is fetched twice. */
			uint32_t n = c->shared->len;
			if (n > sizeof(c->out->data))
				break;
			c->out->seq++; /* touches the work page: the other party runs */
			memcpy(c->out->data, c->shared->data, c->shared->len);
			acc += c->out->data[0];
			break;
		}
		default:
			break;
		}
	}
	return acc;
}
