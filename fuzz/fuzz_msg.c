/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz_msg.c - the message parser on arbitrary bytes.
 *
 * The input is parsed as a read(2) batch (up to MAX_RECORDS records), and
 * its first record, aligned and at an odd offset, in depth:
 *   - encode(parse(x)) == x, byte for byte;
 *   - each typed field equals the bytes at its ABI offset, read here
 *     independently;
 *   - the notes and the return value agree with an independent
 *     re-derivation from those bytes, and with uffdbox_msg_check();
 *   - parse_all agrees with record-by-record parsing (count, fragment,
 *     -ENOSPC);
 *   - a message built field by field from the input encodes and parses
 *     back to the same fields.
 * Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uffdbox/common.h>
#include <uffdbox/msg.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Records of a batch parsed per input: a read(2) batch is a few records. */
#define MAX_RECORDS 4

#define FUZZ_NAME   "fuzz_msg"
#include "fuzz_util.h"

NO_COV static uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

NO_COV static uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

NO_COV static int any(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc != 0;
}

/* The expected notes of a 32-byte record, derived from the bytes alone. */
NO_COV static unsigned int expected_notes(const uint8_t *r)
{
	unsigned int n = 0;
	const uint8_t *a = r + 8;

	if (any(r + 1, 7))
		n |= UFFDBOX_MSG_N_RESERVED;
	switch (r[0]) {
	case 0x12: { /* PAGEFAULT */
		uint64_t fl = ld64(a);
		if (fl & ~7ull)
			n |= UFFDBOX_MSG_N_FLAGS;
		if ((fl & 2) && ((fl & 4) || !(fl & 1)))
			n |= UFFDBOX_MSG_N_FLAGMIX;
		if (any(a + 20, 4))
			n |= UFFDBOX_MSG_N_TAIL;
		break;
	}
	case 0x13: /* FORK */
		if (ld32(a) & 0x80000000u)
			n |= UFFDBOX_MSG_N_FD;
		if (any(a + 4, 20))
			n |= UFFDBOX_MSG_N_TAIL;
		break;
	case 0x14: { /* REMAP */
		unsigned __int128 f = ld64(a), t = ld64(a + 8), l = ld64(a + 16);
		if (f + l > UINT64_MAX || t + l > UINT64_MAX)
			n |= UFFDBOX_MSG_N_RANGE;
		break;
	}
	case 0x15: /* REMOVE */
	case 0x16: /* UNMAP */
		if (ld64(a) > ld64(a + 8))
			n |= UFFDBOX_MSG_N_RANGE;
		if (any(a + 16, 8))
			n |= UFFDBOX_MSG_N_TAIL;
		break;
	default:
		n |= UFFDBOX_MSG_N_EVENT;
		break;
	}
	return n;
}

/* @mp and @ret: what uffdbox_msg_parse(@r, 32, ...) gave. */
NO_COV static void check_parsed(const uint8_t *r, const struct uffdbox_msg *mp, int ret)
{
	struct uffdbox_msg m = *mp;
	uint8_t back[UFFDBOX_MSG_SIZE];
	unsigned int notes = 0;
	unsigned int want = expected_notes(r);
	int want_ret = (want & UFFDBOX_MSG_N_EVENT)	? -UFFDBOX_E_MSG_UNKNOWN
		       : (want & UFFDBOX_MSG_N_INVALID) ? -UFFDBOX_E_MSG_INVALID
							: 0;

	FUZZ_CHECK(m.notes == want);
	FUZZ_CHECK(ret == want_ret);
	FUZZ_CHECK(uffdbox_msg_check(&m, &notes) == ret && notes == want);

	/* kind/event consistency */
	FUZZ_CHECK(m.event == r[0]);
	FUZZ_CHECK(m.kind < UFFDBOX_MSG_KIND_END);
	FUZZ_CHECK(m.kind == uffdbox_msg_code_kind(r[0]));
	if (m.kind != UFFDBOX_MSG_UNKNOWN)
		FUZZ_CHECK(uffdbox_msg_kind_code(m.kind) == r[0]);
	FUZZ_CHECK(uffdbox_msg_kind_name(m.kind)[0] != '\0');

	/* every field at its ABI offset */
	FUZZ_CHECK(m.reserved1 == r[1]);
	FUZZ_CHECK(fuzz_same(&m.reserved2, r + 2, 2));
	FUZZ_CHECK(fuzz_same(&m.reserved3, r + 4, 4));
	FUZZ_CHECK(fuzz_same(m.u.raw, r + 8, 24));
	switch (m.kind) {
	case UFFDBOX_MSG_PAGEFAULT:
		FUZZ_CHECK(m.u.pagefault.flags == ld64(r + 8));
		FUZZ_CHECK(m.u.pagefault.address == ld64(r + 16));
		FUZZ_CHECK(m.u.pagefault.ptid == ld32(r + 24));
		FUZZ_CHECK(m.u.pagefault.tail == ld32(r + 28));
		break;
	case UFFDBOX_MSG_FORK:
		FUZZ_CHECK((uint32_t)m.u.fork.fd == ld32(r + 8));
		FUZZ_CHECK((m.u.fork.fd < 0) == !!(m.notes & UFFDBOX_MSG_N_FD));
		break;
	case UFFDBOX_MSG_REMAP:
		FUZZ_CHECK(m.u.remap.from == ld64(r + 8));
		FUZZ_CHECK(m.u.remap.to == ld64(r + 16));
		FUZZ_CHECK(m.u.remap.len == ld64(r + 24));
		break;
	case UFFDBOX_MSG_REMOVE:
	case UFFDBOX_MSG_UNMAP:
		FUZZ_CHECK(m.u.remove.start == ld64(r + 8));
		FUZZ_CHECK(m.u.remove.end == ld64(r + 16));
		FUZZ_CHECK(m.u.remove.tail == ld64(r + 24));
		break;
	default:
		break;
	}

	/* round trip, and the too-short destination */
	memset(back, 0xa5, sizeof(back));
	FUZZ_CHECK(uffdbox_msg_encode(&m, back, sizeof(back) - 1) == -UFFDBOX_E_MSG_SHORT);
	FUZZ_CHECK(back[0] == 0xa5);
	FUZZ_CHECK(uffdbox_msg_encode(&m, back, sizeof(back)) == UFFDBOX_MSG_SIZE);
	FUZZ_CHECK(fuzz_same(back, r, UFFDBOX_MSG_SIZE));
}

NO_COV static void check_record(const uint8_t *r)
{
	struct uffdbox_msg m;
	int ret = uffdbox_msg_parse(r, UFFDBOX_MSG_SIZE, &m);

	check_parsed(r, &m, ret);
}

/* Build a message of a known kind from input bytes, field by field. */
NO_COV static void check_built(const uint8_t *r)
{
	struct uffdbox_msg m, p;
	uint8_t buf[UFFDBOX_MSG_SIZE];
	unsigned int kind = 1 + r[0] % (UFFDBOX_MSG_KIND_END - 1), notes = 99;

	FUZZ_CHECK(uffdbox_msg_init(&m, kind) == 0);
	FUZZ_CHECK(m.event == uffdbox_msg_kind_code(kind));
	/* a fresh message is well-formed, without a note */
	FUZZ_CHECK(uffdbox_msg_check(&m, &notes) == 0 && notes == 0);
	switch (kind) {
	case UFFDBOX_MSG_PAGEFAULT:
		m.u.pagefault.flags = ld64(r + 8) & 7;
		m.u.pagefault.address = ld64(r + 16);
		m.u.pagefault.ptid = ld32(r + 24);
		break;
	case UFFDBOX_MSG_FORK:
		m.u.fork.fd = (int32_t)(ld32(r + 8) & 0x7fffffff);
		break;
	case UFFDBOX_MSG_REMAP:
		m.u.remap.from = ld64(r + 8) >> 1;
		m.u.remap.to = ld64(r + 16) >> 1;
		m.u.remap.len = ld64(r + 24) >> 2;
		break;
	default: {
		uint64_t a = ld64(r + 8), b = ld64(r + 16);
		m.u.remove.start = a < b ? a : b;
		m.u.remove.end = a < b ? b : a;
		break;
	}
	}
	int st = uffdbox_msg_check(&m, &notes);
	FUZZ_CHECK(uffdbox_msg_encode(&m, buf, sizeof(buf)) == UFFDBOX_MSG_SIZE);
	FUZZ_CHECK(uffdbox_msg_parse(buf, sizeof(buf), &p) == st);
	FUZZ_CHECK(p.kind == kind && p.notes == notes);
	FUZZ_CHECK(fuzz_same(p.u.raw, m.u.raw, sizeof(p.u.raw)));
	/* Only flag mixes can make these invalid (WP without WRITE...). */
	if (st)
		FUZZ_CHECK(kind == UFFDBOX_MSG_PAGEFAULT && p.notes == UFFDBOX_MSG_N_FLAGMIX);

	/* An UNKNOWN that names a known code cannot be encoded. */
	m.kind = UFFDBOX_MSG_UNKNOWN;
	FUZZ_CHECK(uffdbox_msg_encode(&m, buf, sizeof(buf)) == -EINVAL);
	m.kind = UFFDBOX_MSG_KIND_END + (r[1] & 7);
	FUZZ_CHECK(uffdbox_msg_encode(&m, buf, sizeof(buf)) == -EINVAL);
}

NO_COV int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uffdbox_msg batch[MAX_RECORDS], m;
	size_t n = 99, whole = size / UFFDBOX_MSG_SIZE;
	int ret;

	/* short buffers */
	if (size < UFFDBOX_MSG_SIZE) {
		memset(&m, 0x5a, sizeof(m));
		FUZZ_CHECK(uffdbox_msg_parse(data, size, &m) == -UFFDBOX_E_MSG_SHORT);
		FUZZ_CHECK(m.kind == UFFDBOX_MSG_UNKNOWN && m.event == 0 && m.notes == 0);
	}

	/* the batch parser */
	ret = uffdbox_msg_parse_all(data, size, batch, MAX_RECORDS, &n);
	FUZZ_CHECK(n == (whole < MAX_RECORDS ? whole : MAX_RECORDS));
	if (size % UFFDBOX_MSG_SIZE)
		FUZZ_CHECK(ret == -UFFDBOX_E_MSG_SHORT);
	else if (whole > MAX_RECORDS)
		FUZZ_CHECK(ret == -ENOSPC);
	else
		FUZZ_CHECK(ret == 0);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *r = data + i * UFFDBOX_MSG_SIZE;
		uint8_t back[UFFDBOX_MSG_SIZE];
		int one = uffdbox_msg_parse(r, UFFDBOX_MSG_SIZE, &m);
		FUZZ_CHECK(fuzz_same(&m, &batch[i], sizeof(m)));
		if (i == 0) {
			/* The first record in depth: check_parsed() also
			 * compares uffdbox_msg_check() with the status and
			 * encodes back (batch[0] is m, byte for byte, so
			 * doing it for batch[0] too would repeat the same
			 * pure calls on the same bytes). */
			check_parsed(r, &m, one);
			continue;
		}
		FUZZ_CHECK(one == uffdbox_msg_check(&batch[i], NULL));
		FUZZ_CHECK(uffdbox_msg_encode(&batch[i], back, sizeof(back)) == UFFDBOX_MSG_SIZE);
		FUZZ_CHECK(fuzz_same(back, r, UFFDBOX_MSG_SIZE));
	}

	/* The first record in depth (above; the others went through the same
	 * code in the batch), a message built from it, and the input read at
	 * an odd offset.  One record is what the fuzzer varies best: more per
	 * input only grows the corpus with loop-count variants and slows
	 * every execution. */
	if (size >= UFFDBOX_MSG_SIZE)
		check_built(data);
	if (size > UFFDBOX_MSG_SIZE)
		check_record(data + 1);
	return 0;
}
