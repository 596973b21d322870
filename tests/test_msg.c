/* SPDX-License-Identifier: MIT */
/*
 * tests/test_msg.c - the uffd message parser and encoder (core/msg).
 *
 * Records are built here byte by byte in the kernel's layout (struct
 * uffd_msg from <linux/userfaultfd.h>), independently of the parser.
 */
#include "test.h"

#include <uffdbox/msg.h>

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* A kernel record: event code, then the 24-byte union at offset 8. */
static void kmsg(uint8_t r[32], uint8_t event)
{
	memset(r, 0, 32);
	r[0] = event;
}

/* parse, check the status, and check that encoding gives the bytes back */
static int parse_rt(const uint8_t r[32], struct uffdbox_msg *m)
{
	uint8_t back[32];
	int ret = uffdbox_msg_parse(r, 32, m);
	ASSERT_EQ(uffdbox_msg_check(m, NULL), ret);
	ASSERT_EQ(uffdbox_msg_encode(m, back, sizeof(back)), 32);
	ASSERT_MEM_EQ(back, r, 32);
	return ret;
}

TEST_CASE(msg_layout_matches_kernel, TMEM_NONE, 0)
{
	struct uffd_msg k;
	uint8_t r[32];
	struct uffdbox_msg m;

	ASSERT_EQ(sizeof(k), UFFDBOX_MSG_SIZE);
	memset(&k, 0, sizeof(k));
	k.event = UFFD_EVENT_PAGEFAULT;
	k.arg.pagefault.flags = UFFD_PAGEFAULT_FLAG_WRITE;
	k.arg.pagefault.address = 0x7f1234567000ull;
	k.arg.pagefault.feat.ptid = 4242;
	memcpy(r, &k, 32);
	ASSERT_OK(parse_rt(r, &m));
	ASSERT_EQ(m.kind, UFFDBOX_MSG_PAGEFAULT);
	ASSERT_UEQ(m.u.pagefault.flags, UFFDBOX_MSG_PF_WRITE);
	ASSERT_UEQ(m.u.pagefault.address, 0x7f1234567000ull);
	ASSERT_EQ(m.u.pagefault.ptid, 4242);
	ASSERT_EQ(m.notes, 0);
}

TEST_CASE(msg_parse_pagefault, TMEM_NONE, 0)
{
	static const uint64_t flags[] = {
		0, UFFD_PAGEFAULT_FLAG_WRITE, UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP,
		UFFD_PAGEFAULT_FLAG_MINOR, UFFD_PAGEFAULT_FLAG_MINOR | UFFD_PAGEFAULT_FLAG_WRITE};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		uint8_t r[32];
		struct uffdbox_msg m;
		kmsg(r, UFFD_EVENT_PAGEFAULT);
		put64(r + 8, flags[i]);
		put64(r + 16, 0x1000 * (i + 1) + 0x123); /* EXACT_ADDRESS: unaligned */
		ASSERT_OK(parse_rt(r, &m));
		ASSERT_EQ(m.event, UFFD_EVENT_PAGEFAULT);
		ASSERT_UEQ(m.u.pagefault.flags, flags[i]);
		ASSERT_UEQ(m.u.pagefault.address, 0x1000 * (i + 1) + 0x123);
		ASSERT_EQ(m.notes, 0);
	}
}

TEST_CASE(msg_parse_fork_remap_remove_unmap, TMEM_NONE, 0)
{
	uint8_t r[32];
	struct uffdbox_msg m;

	kmsg(r, UFFD_EVENT_FORK);
	put32(r + 8, 17);
	ASSERT_OK(parse_rt(r, &m));
	ASSERT_EQ(m.kind, UFFDBOX_MSG_FORK);
	ASSERT_EQ(m.u.fork.fd, 17);

	kmsg(r, UFFD_EVENT_REMAP);
	put64(r + 8, 0x10000);
	put64(r + 16, 0x20000);
	put64(r + 24, 0x3000);
	ASSERT_OK(parse_rt(r, &m));
	ASSERT_EQ(m.kind, UFFDBOX_MSG_REMAP);
	ASSERT_UEQ(m.u.remap.from, 0x10000);
	ASSERT_UEQ(m.u.remap.to, 0x20000);
	ASSERT_UEQ(m.u.remap.len, 0x3000);

	kmsg(r, UFFD_EVENT_REMOVE);
	put64(r + 8, 0x4000);
	put64(r + 16, 0x6000);
	ASSERT_OK(parse_rt(r, &m));
	ASSERT_EQ(m.kind, UFFDBOX_MSG_REMOVE);
	ASSERT_UEQ(m.u.remove.start, 0x4000);
	ASSERT_UEQ(m.u.remove.end, 0x6000);

	r[0] = UFFD_EVENT_UNMAP;
	ASSERT_OK(parse_rt(r, &m));
	ASSERT_EQ(m.kind, UFFDBOX_MSG_UNMAP);
	ASSERT_UEQ(m.u.remove.end, 0x6000);

	/* an empty range is not an error */
	put64(r + 16, 0x4000);
	ASSERT_OK(parse_rt(r, &m));
}

TEST_CASE(msg_parse_short, TMEM_NONE, 0)
{
	uint8_t r[32] = {UFFD_EVENT_PAGEFAULT};
	struct uffdbox_msg m;

	for (size_t len = 0; len < 32; len++) {
		memset(&m, 0xee, sizeof(m));
		ASSERT_ERR(uffdbox_msg_parse(r, len, &m), -UFFDBOX_E_MSG_SHORT);
		ASSERT_EQ(m.kind, UFFDBOX_MSG_UNKNOWN);
		ASSERT_EQ(m.event, 0);
	}
	/* bytes after the first record are not read */
	uint8_t big[40] = {UFFD_EVENT_FORK};
	memset(big + 32, 0xff, 8);
	ASSERT_OK(uffdbox_msg_parse(big, sizeof(big), &m));
	ASSERT_EQ(m.kind, UFFDBOX_MSG_FORK);
}

TEST_CASE(msg_parse_unknown_event_kept_as_data, TMEM_NONE, 0)
{
	static const uint8_t codes[] = {0x00, 0x11, 0x17, 0x80, 0xff};
	for (size_t i = 0; i < sizeof(codes); i++) {
		uint8_t r[32];
		struct uffdbox_msg m;
		unsigned int notes;
		for (int k = 0; k < 32; k++)
			r[k] = (uint8_t)(k * 7 + 1);
		r[0] = codes[i];
		ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_UNKNOWN);
		ASSERT_EQ(m.kind, UFFDBOX_MSG_UNKNOWN);
		ASSERT_EQ(m.event, codes[i]);
		ASSERT_MEM_EQ(m.u.raw, r + 8, 24);
		ASSERT(m.notes & UFFDBOX_MSG_N_EVENT);
		ASSERT_ERR(uffdbox_msg_check(&m, &notes), -UFFDBOX_E_MSG_UNKNOWN);
		ASSERT_EQ(notes, m.notes);
	}
}

TEST_CASE(msg_parse_reserved_nonzero, TMEM_NONE, 0)
{
	static const int offs[] = {1, 2, 3, 4, 7};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint8_t r[32];
		struct uffdbox_msg m;
		kmsg(r, UFFD_EVENT_REMOVE);
		put64(r + 16, 0x1000);
		r[offs[i]] = 0x40;
		ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
		ASSERT_EQ(m.notes, UFFDBOX_MSG_N_RESERVED);
		/* the typed fields are still there */
		ASSERT_EQ(m.kind, UFFDBOX_MSG_REMOVE);
		ASSERT_UEQ(m.u.remove.end, 0x1000);
	}
}

TEST_CASE(msg_parse_union_tail_nonzero, TMEM_NONE, 0)
{
	uint8_t r[32];
	struct uffdbox_msg m;

	kmsg(r, UFFD_EVENT_PAGEFAULT);
	r[28] = 1; /* after ptid */
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_TAIL);

	kmsg(r, UFFD_EVENT_FORK);
	put32(r + 8, 3);
	r[31] = 1;
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_TAIL);

	kmsg(r, UFFD_EVENT_UNMAP);
	r[24] = 1;
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_TAIL);
}

TEST_CASE(msg_parse_unknown_flags_are_data, TMEM_NONE, 0)
{
	uint8_t r[32];
	struct uffdbox_msg m;

	kmsg(r, UFFD_EVENT_PAGEFAULT);
	put64(r + 8, UFFD_PAGEFAULT_FLAG_WRITE | (1ull << 3) | (1ull << 63));
	ASSERT_OK(parse_rt(r, &m)); /* the kernel keeps adding bits: not an error */
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_FLAGS);
	ASSERT_UEQ(m.u.pagefault.flags, UFFD_PAGEFAULT_FLAG_WRITE | (1ull << 3) | (1ull << 63));
}

TEST_CASE(msg_parse_contradictory_flags, TMEM_NONE, 0)
{
	uint8_t r[32];
	struct uffdbox_msg m;

	kmsg(r, UFFD_EVENT_PAGEFAULT);
	put64(r + 8,
	      UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_MINOR | UFFD_PAGEFAULT_FLAG_WRITE);
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_FLAGMIX);
	put64(r + 8, UFFD_PAGEFAULT_FLAG_WP); /* WP on a read */
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_FLAGMIX);
}

TEST_CASE(msg_parse_bad_ranges, TMEM_NONE, 0)
{
	uint8_t r[32];
	struct uffdbox_msg m;

	kmsg(r, UFFD_EVENT_REMOVE);
	put64(r + 8, 0x5000);
	put64(r + 16, 0x4000);
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_RANGE);

	kmsg(r, UFFD_EVENT_REMAP);
	put64(r + 8, UINT64_MAX - 0xfff);
	put64(r + 16, 0x1000);
	put64(r + 24, 0x1000); /* from + len == 2^64: wraps */
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_RANGE);
	put64(r + 24, 0xfff); /* ends at the very top: fine */
	ASSERT_OK(parse_rt(r, &m));
	put64(r + 8, 0x1000);
	put64(r + 16, UINT64_MAX);
	put64(r + 24, 1); /* to + len wraps */
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_RANGE);
}

TEST_CASE(msg_parse_negative_fd, TMEM_NONE, 0)
{
	uint8_t r[32];
	struct uffdbox_msg m;

	kmsg(r, UFFD_EVENT_FORK);
	put32(r + 8, 0xffffffffu);
	ASSERT_ERR(parse_rt(r, &m), -UFFDBOX_E_MSG_INVALID);
	ASSERT_EQ(m.notes, UFFDBOX_MSG_N_FD);
	ASSERT_EQ(m.u.fork.fd, -1);
}

TEST_CASE(msg_parse_unaligned_buffer, TMEM_NONE, 0)
{
	uint8_t buf[33], out[35];
	uint8_t *r = buf + 1;
	struct uffdbox_msg m;

	memset(buf, 0, sizeof(buf));
	r[0] = UFFD_EVENT_PAGEFAULT;
	put64(r + 16, 0xdeadbeef000ull);
	ASSERT_OK(uffdbox_msg_parse(r, 32, &m));
	ASSERT_UEQ(m.u.pagefault.address, 0xdeadbeef000ull);
	ASSERT_EQ(uffdbox_msg_encode(&m, out + 3, 32), 32);
	ASSERT_MEM_EQ(out + 3, r, 32);
}

TEST_CASE(msg_parse_all, TMEM_NONE, 0)
{
	uint8_t b[32 * 5 + 3];
	struct uffdbox_msg out[8];
	size_t n;

	memset(b, 0, sizeof(b));
	for (int i = 0; i < 5; i++) {
		b[32 * i] = (uint8_t)(UFFD_EVENT_PAGEFAULT + i);
		put64(b + 32 * i + 16, 0x1000ull * (i + 1));
	}
	ASSERT_OK(uffdbox_msg_parse_all(b, 32 * 5, out, 8, &n));
	ASSERT_EQ(n, 5);
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(out[i].kind, UFFDBOX_MSG_PAGEFAULT + i);
	ASSERT_UEQ(out[0].u.pagefault.address, 0x1000);
	ASSERT_UEQ(out[2].u.remap.to, 0x3000);

	ASSERT_ERR(uffdbox_msg_parse_all(b, 32 * 5, out, 3, &n), -ENOSPC);
	ASSERT_EQ(n, 3);
	ASSERT_ERR(uffdbox_msg_parse_all(b, 32 * 5 + 3, out, 8, &n), -UFFDBOX_E_MSG_SHORT);
	ASSERT_EQ(n, 5);
	ASSERT_ERR(uffdbox_msg_parse_all(b, 7, out, 8, &n), -UFFDBOX_E_MSG_SHORT);
	ASSERT_EQ(n, 0);
	ASSERT_OK(uffdbox_msg_parse_all(b, 0, out, 8, &n));
	ASSERT_EQ(n, 0);
}

TEST_CASE(msg_round_trip_every_byte, TMEM_NONE, 0)
{
	/* encode(parse(x)) == x for any record: each byte position takes
	 * several values, with each event code. */
	static const uint8_t codes[] = {0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x00};
	static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	for (size_t c = 0; c < sizeof(codes); c++)
		for (int pos = 1; pos < 32; pos++)
			for (size_t v = 0; v < sizeof(vals); v++) {
				uint8_t r[32], back[32];
				struct uffdbox_msg m;
				memset(r, 0, sizeof(r));
				r[0] = codes[c];
				r[pos] = vals[v];
				uffdbox_msg_parse(r, 32, &m);
				ASSERT_EQ(uffdbox_msg_encode(&m, back, 32), 32);
				ASSERT_MEM_EQ(back, r, 32);
			}
}

TEST_CASE(msg_encode_errors_and_init, TMEM_NONE, 0)
{
	struct uffdbox_msg m;
	uint8_t b[32];

	ASSERT_OK(uffdbox_msg_init(&m, UFFDBOX_MSG_REMAP));
	ASSERT_EQ(m.event, UFFD_EVENT_REMAP);
	m.u.remap.from = 0x1000;
	m.u.remap.to = 0x9000;
	m.u.remap.len = 0x2000;
	ASSERT_ERR(uffdbox_msg_encode(&m, b, 31), -UFFDBOX_E_MSG_SHORT);
	ASSERT_EQ(uffdbox_msg_encode(&m, b, 32), 32);
	ASSERT_EQ(b[0], UFFD_EVENT_REMAP);
	uint64_t len;
	memcpy(&len, b + 24, 8);
	ASSERT_UEQ(len, 0x2000);

	m.kind = UFFDBOX_MSG_KIND_END;
	ASSERT_ERR(uffdbox_msg_encode(&m, b, 32), -EINVAL);
	ASSERT_ERR(uffdbox_msg_check(&m, NULL), -EINVAL);
	m.kind = UFFDBOX_MSG_UNKNOWN;
	m.event = UFFD_EVENT_FORK; /* would parse back as FORK */
	ASSERT_ERR(uffdbox_msg_encode(&m, b, 32), -EINVAL);
	m.event = 0x42;
	ASSERT_EQ(uffdbox_msg_encode(&m, b, 32), 32);
	ASSERT_EQ(b[0], 0x42);
	ASSERT_ERR(uffdbox_msg_init(&m, 99), -EINVAL);
}

TEST_CASE(msg_names_and_codes, TMEM_NONE, 0)
{
	ASSERT_STR_EQ(uffdbox_msg_kind_name(UFFDBOX_MSG_PAGEFAULT), "pagefault");
	ASSERT_STR_EQ(uffdbox_msg_kind_name(UFFDBOX_MSG_UNMAP), "unmap");
	ASSERT_STR_EQ(uffdbox_msg_kind_name(1000), "unknown");
	ASSERT_EQ(uffdbox_msg_kind_code(UFFDBOX_MSG_FORK), UFFD_EVENT_FORK);
	ASSERT_EQ(uffdbox_msg_kind_code(UFFDBOX_MSG_UNKNOWN), 0);
	ASSERT_EQ(uffdbox_msg_kind_code(77), 0);
	for (unsigned int c = 0; c < 256; c++) {
		unsigned int k = uffdbox_msg_code_kind((uint8_t)c);
		if (c >= UFFD_EVENT_PAGEFAULT && c <= UFFD_EVENT_UNMAP)
			ASSERT_EQ(uffdbox_msg_kind_code(k), c);
		else
			ASSERT_EQ(k, UFFDBOX_MSG_UNKNOWN);
	}
}
