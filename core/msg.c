/* SPDX-License-Identifier: MIT */
/*
 * core/msg.c - userfaultfd message parser and encoder.
 *
 * Pure: no system calls, no globals written, no allocation.  Every field is
 * read with memcpy at its ABI offset, so the buffer may have any alignment
 * and no byte past the first 32 is touched.  The layout is checked against
 * the kernel's struct uffd_msg at compile time below.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <uffdbox/common.h>
#include <uffdbox/compat.h>
#include <uffdbox/msg.h>

/* Offsets in struct uffd_msg (kernel uAPI). */
enum {
	OFF_EVENT = 0,
	OFF_RESERVED1 = 1,
	OFF_RESERVED2 = 2,
	OFF_RESERVED3 = 4,
	OFF_ARG = 8,
};

_Static_assert(sizeof(struct uffd_msg) == UFFDBOX_MSG_SIZE, "uffd_msg is 32 bytes");
_Static_assert(offsetof(struct uffd_msg, arg) == OFF_ARG, "union at offset 8");
_Static_assert(offsetof(struct uffd_msg, arg.pagefault.flags) == OFF_ARG + 0, "pf.flags");
_Static_assert(offsetof(struct uffd_msg, arg.pagefault.address) == OFF_ARG + 8, "pf.address");
_Static_assert(offsetof(struct uffd_msg, arg.pagefault.feat.ptid) == OFF_ARG + 16, "pf.ptid");
_Static_assert(offsetof(struct uffd_msg, arg.fork.ufd) == OFF_ARG + 0, "fork.ufd");
_Static_assert(offsetof(struct uffd_msg, arg.remap.len) == OFF_ARG + 16, "remap.len");
_Static_assert(offsetof(struct uffd_msg, arg.remove.end) == OFF_ARG + 8, "remove.end");
_Static_assert(sizeof(((struct uffdbox_msg *)0)->u) == 24, "typed union is 24 bytes");
_Static_assert(offsetof(struct uffdbox_msg, u.pagefault.ptid) - offsetof(struct uffdbox_msg, u) ==
		       16,
	       "typed pagefault view matches the kernel's");
_Static_assert(offsetof(struct uffdbox_msg, u.remap.len) - offsetof(struct uffdbox_msg, u) == 16,
	       "typed remap view matches the kernel's");
_Static_assert(UFFDBOX_MSG_PF_WRITE == UFFD_PAGEFAULT_FLAG_WRITE &&
		       UFFDBOX_MSG_PF_WP == UFFD_PAGEFAULT_FLAG_WP &&
		       UFFDBOX_MSG_PF_MINOR == UFFD_PAGEFAULT_FLAG_MINOR,
	       "page-fault flags");

static const uint8_t kind_code[UFFDBOX_MSG_KIND_END] = {
	[UFFDBOX_MSG_UNKNOWN] = 0,
	[UFFDBOX_MSG_PAGEFAULT] = UFFD_EVENT_PAGEFAULT,
	[UFFDBOX_MSG_FORK] = UFFD_EVENT_FORK,
	[UFFDBOX_MSG_REMAP] = UFFD_EVENT_REMAP,
	[UFFDBOX_MSG_REMOVE] = UFFD_EVENT_REMOVE,
	[UFFDBOX_MSG_UNMAP] = UFFD_EVENT_UNMAP,
};

unsigned int uffdbox_msg_code_kind(uint8_t code)
{
	/* The kernel's codes are consecutive, 0x12..0x16, in our kinds' order
	 * (checked below); one compare instead of a switch keeps the parser's
	 * per-message path short. */
	unsigned int d = (unsigned int)code - UFFD_EVENT_PAGEFAULT;
	return d <= UFFD_EVENT_UNMAP - UFFD_EVENT_PAGEFAULT ? d + UFFDBOX_MSG_PAGEFAULT
							    : UFFDBOX_MSG_UNKNOWN;
}

_Static_assert(UFFD_EVENT_FORK == UFFD_EVENT_PAGEFAULT + UFFDBOX_MSG_FORK - 1 &&
		       UFFD_EVENT_REMAP == UFFD_EVENT_PAGEFAULT + UFFDBOX_MSG_REMAP - 1 &&
		       UFFD_EVENT_REMOVE == UFFD_EVENT_PAGEFAULT + UFFDBOX_MSG_REMOVE - 1 &&
		       UFFD_EVENT_UNMAP == UFFD_EVENT_PAGEFAULT + UFFDBOX_MSG_UNMAP - 1,
	       "event codes are consecutive");

uint8_t uffdbox_msg_kind_code(unsigned int kind)
{
	return kind < UFFDBOX_MSG_KIND_END ? kind_code[kind] : 0;
}

const char *uffdbox_msg_kind_name(unsigned int kind)
{
	switch (kind) {
	case UFFDBOX_MSG_PAGEFAULT:
		return "pagefault";
	case UFFDBOX_MSG_FORK:
		return "fork";
	case UFFDBOX_MSG_REMAP:
		return "remap";
	case UFFDBOX_MSG_REMOVE:
		return "remove";
	case UFFDBOX_MSG_UNMAP:
		return "unmap";
	default:
		return "unknown";
	}
}

/* Any non-zero byte in @n (a multiple of 4) bytes?  Word-wise: this runs on
 * every message, and under a fuzzer every byte compare is traced. */
static int nonzero(const uint8_t *p, size_t n)
{
	uint32_t acc = 0, w;
	for (size_t i = 0; i < n; i += 4) {
		memcpy(&w, p + i, 4);
		acc |= w;
	}
	return acc != 0;
}

/* The notes of a message whose kind and fields are set. */
static unsigned int notes_of(const struct uffdbox_msg *m)
{
	unsigned int n = 0;

	if ((m->reserved1 | m->reserved2 | m->reserved3) != 0)
		n |= UFFDBOX_MSG_N_RESERVED;

	switch (m->kind) {
	case UFFDBOX_MSG_PAGEFAULT: {
		uint64_t f = m->u.pagefault.flags;
		if (f & ~UFFDBOX_MSG_PF_KNOWN)
			n |= UFFDBOX_MSG_N_FLAGS;
		/* The kernel sets WP only from its write-protect path, which a
		 * read never reaches, and gives a fault one reason (missing, WP
		 * or minor). */
		if ((f & UFFDBOX_MSG_PF_WP) &&
		    ((f & UFFDBOX_MSG_PF_MINOR) || !(f & UFFDBOX_MSG_PF_WRITE)))
			n |= UFFDBOX_MSG_N_FLAGMIX;
		if (m->u.pagefault.tail)
			n |= UFFDBOX_MSG_N_TAIL;
		break;
	}
	case UFFDBOX_MSG_FORK:
		if (m->u.fork.fd < 0)
			n |= UFFDBOX_MSG_N_FD;
		if (nonzero(m->u.fork.tail, sizeof(m->u.fork.tail)))
			n |= UFFDBOX_MSG_N_TAIL;
		break;
	case UFFDBOX_MSG_REMAP: {
		uint64_t e;
		if (__builtin_add_overflow(m->u.remap.from, m->u.remap.len, &e) ||
		    __builtin_add_overflow(m->u.remap.to, m->u.remap.len, &e))
			n |= UFFDBOX_MSG_N_RANGE;
		break;
	}
	case UFFDBOX_MSG_REMOVE:
	case UFFDBOX_MSG_UNMAP:
		if (m->u.remove.start > m->u.remove.end)
			n |= UFFDBOX_MSG_N_RANGE;
		if (m->u.remove.tail)
			n |= UFFDBOX_MSG_N_TAIL;
		break;
	default:
		n |= UFFDBOX_MSG_N_EVENT;
		break;
	}
	return n;
}

static int status_of(unsigned int notes)
{
	if (notes & UFFDBOX_MSG_N_EVENT)
		return -UFFDBOX_E_MSG_UNKNOWN;
	if (notes & UFFDBOX_MSG_N_INVALID)
		return -UFFDBOX_E_MSG_INVALID;
	return 0;
}

int uffdbox_msg_parse(const void *buf, size_t len, struct uffdbox_msg *m)
{
	const uint8_t *p = buf;

	memset(m, 0, sizeof(*m));
	if (len < UFFDBOX_MSG_SIZE)
		return -UFFDBOX_E_MSG_SHORT;

	m->event = p[OFF_EVENT];
	m->kind = (uint8_t)uffdbox_msg_code_kind(m->event);
	m->reserved1 = p[OFF_RESERVED1];
	memcpy(&m->reserved2, p + OFF_RESERVED2, sizeof(m->reserved2));
	memcpy(&m->reserved3, p + OFF_RESERVED3, sizeof(m->reserved3));
	memcpy(m->u.raw, p + OFF_ARG, sizeof(m->u.raw));
	m->notes = (uint8_t)notes_of(m);
	return status_of(m->notes);
}

int uffdbox_msg_parse_all(const void *buf, size_t len, struct uffdbox_msg *out, size_t max,
			  size_t *n)
{
	const uint8_t *p = buf;
	size_t whole = len / UFFDBOX_MSG_SIZE, k = whole < max ? whole : max;

	for (size_t i = 0; i < k; i++)
		uffdbox_msg_parse(p + i * UFFDBOX_MSG_SIZE, UFFDBOX_MSG_SIZE, &out[i]);
	*n = k;
	if (len % UFFDBOX_MSG_SIZE)
		return -UFFDBOX_E_MSG_SHORT;
	if (whole > max)
		return -ENOSPC;
	return 0;
}

/* 0 when @m encodes to bytes that parse back to the same kind. */
static int encodable(const struct uffdbox_msg *m)
{
	if (m->kind >= UFFDBOX_MSG_KIND_END)
		return -EINVAL;
	if (m->kind == UFFDBOX_MSG_UNKNOWN &&
	    uffdbox_msg_code_kind(m->event) != UFFDBOX_MSG_UNKNOWN)
		return -EINVAL;
	return 0;
}

int uffdbox_msg_check(const struct uffdbox_msg *m, unsigned int *notes)
{
	int err = encodable(m);
	unsigned int n = err ? 0 : notes_of(m);

	if (notes)
		*notes = n;
	return err ? err : status_of(n);
}

int uffdbox_msg_encode(const struct uffdbox_msg *m, void *buf, size_t len)
{
	uint8_t *p = buf;
	int err = encodable(m);

	if (err)
		return err;
	if (len < UFFDBOX_MSG_SIZE)
		return -UFFDBOX_E_MSG_SHORT;
	p[OFF_EVENT] = m->kind == UFFDBOX_MSG_UNKNOWN ? m->event : kind_code[m->kind];
	p[OFF_RESERVED1] = m->reserved1;
	memcpy(p + OFF_RESERVED2, &m->reserved2, sizeof(m->reserved2));
	memcpy(p + OFF_RESERVED3, &m->reserved3, sizeof(m->reserved3));
	memcpy(p + OFF_ARG, m->u.raw, sizeof(m->u.raw));
	return UFFDBOX_MSG_SIZE;
}

int uffdbox_msg_init(struct uffdbox_msg *m, unsigned int kind)
{
	if (kind >= UFFDBOX_MSG_KIND_END)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->kind = (uint8_t)kind;
	m->event = kind_code[kind];
	return 0;
}
