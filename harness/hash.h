/* SPDX-License-Identifier: MIT */
/*
 * harness/hash.h - a fast 64-bit hash for page digests and log records.
 *
 * Not cryptographic: it only has to make unequal logs and unequal page
 * contents show up as unequal digests.  Four independent lanes of 8 bytes
 * keep a 4 KiB page well under a microsecond, which matters on the fault
 * path.  Pure, async-signal-safe.
 */
#ifndef UFFDBOX_HARNESS_HASH_H
#define UFFDBOX_HARNESS_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UFFDBOX_HASH_K1 0x9e3779b97f4a7c15ULL
#define UFFDBOX_HASH_K2 0xbf58476d1ce4e5b9ULL
#define UFFDBOX_HASH_K3 0x94d049bb133111ebULL

static inline uint64_t uffdbox__rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t uffdbox__lane(uint64_t h, uint64_t v)
{
	return uffdbox__rotl(h ^ (v * UFFDBOX_HASH_K1), 29) * UFFDBOX_HASH_K2;
}

/* The splitmix64 finalizer: every input bit affects every output bit. */
static inline uint64_t uffdbox__final(uint64_t h)
{
	h ^= h >> 30;
	h *= UFFDBOX_HASH_K2;
	h ^= h >> 27;
	h *= UFFDBOX_HASH_K3;
	h ^= h >> 31;
	return h;
}

static inline uint64_t uffdbox__hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t a = seed ^ UFFDBOX_HASH_K1, b = seed ^ UFFDBOX_HASH_K2, c = seed + UFFDBOX_HASH_K3,
		 d = ~seed, w[4];
	size_t n = len;

	for (; n >= 32; n -= 32, p += 32) {
		memcpy(w, p, 32);
		a = uffdbox__lane(a, w[0]);
		b = uffdbox__lane(b, w[1]);
		c = uffdbox__lane(c, w[2]);
		d = uffdbox__lane(d, w[3]);
	}
	uint64_t h = uffdbox__rotl(a, 1) + uffdbox__rotl(b, 7) + uffdbox__rotl(c, 12) +
		     uffdbox__rotl(d, 18) + (uint64_t)len;
	for (; n >= 8; n -= 8, p += 8) {
		memcpy(w, p, 8);
		h = uffdbox__lane(h, w[0]);
	}
	if (n) {
		uint64_t t = 0;
		memcpy(&t, p, n);
		h = uffdbox__lane(h, t ^ ((uint64_t)n << 56));
	}
	return uffdbox__final(h);
}

#endif /* UFFDBOX_HARNESS_HASH_H */
