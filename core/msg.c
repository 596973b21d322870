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
#include <stdbool.h>
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

/* The event code of each kind; indexed by any value of the uint8_t kind
 * field, so that an out-of-range kind reads 0 (no code) without a test. */
static const uint8_t kind_code[256] = {
	[UFFDBOX_MSG_UNKNOWN] = 0,
	[UFFDBOX_MSG_PAGEFAULT] = UFFD_EVENT_PAGEFAULT,
	[UFFDBOX_MSG_FORK] = UFFD_EVENT_FORK,
	[UFFDBOX_MSG_REMAP] = UFFD_EVENT_REMAP,
	[UFFDBOX_MSG_REMOVE] = UFFD_EVENT_REMOVE,
	[UFFDBOX_MSG_UNMAP] = UFFD_EVENT_UNMAP,
};

/* The kind of each event code: a table, so that the parser's per-message
 * path has no branch and no compare for it. */
static const uint8_t code_kind[256] = {
	[UFFD_EVENT_PAGEFAULT] = UFFDBOX_MSG_PAGEFAULT, [UFFD_EVENT_FORK] = UFFDBOX_MSG_FORK,
	[UFFD_EVENT_REMAP] = UFFDBOX_MSG_REMAP,		[UFFD_EVENT_REMOVE] = UFFDBOX_MSG_REMOVE,
	[UFFD_EVENT_UNMAP] = UFFDBOX_MSG_UNMAP,
};

unsigned int uffdbox_msg_code_kind(uint8_t code)
{
	return code_kind[code];
}

uint8_t uffdbox_msg_kind_code(unsigned int kind)
{
	/* (out of range reads kind_code[UNKNOWN], which is 0: a mask, not a
	 * branch) */
	return kind_code[kind & -(unsigned int)(kind < UFFDBOX_MSG_KIND_END)];
}

const char *uffdbox_msg_kind_name(unsigned int kind)
{
	static const char *const names[UFFDBOX_MSG_KIND_END] = {
		[UFFDBOX_MSG_UNKNOWN] = "unknown", [UFFDBOX_MSG_PAGEFAULT] = "pagefault",
		[UFFDBOX_MSG_FORK] = "fork",	   [UFFDBOX_MSG_REMAP] = "remap",
		[UFFDBOX_MSG_REMOVE] = "remove",   [UFFDBOX_MSG_UNMAP] = "unmap",
	};
	return names[kind & -(unsigned int)(kind < UFFDBOX_MSG_KIND_END)];
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

/* N_FLAGMIX for each combination of the known page-fault flags.  The
 * kernel sets WP only from its write-protect path, which a read never
 * reaches, and gives a fault one reason (missing, WP or minor): WP without
 * WRITE, or WP with MINOR, cannot come from it. */
#define F_W UFFDBOX_MSG_PF_WRITE
#define F_P UFFDBOX_MSG_PF_WP
#define F_M UFFDBOX_MSG_PF_MINOR
static const uint8_t flagmix[UFFDBOX_MSG_PF_KNOWN + 1] = {
	[F_P] = UFFDBOX_MSG_N_FLAGMIX,
	[F_P | F_M] = UFFDBOX_MSG_N_FLAGMIX,
	[F_P | F_M | F_W] = UFFDBOX_MSG_N_FLAGMIX,
};
#undef F_W
#undef F_P
#undef F_M
_Static_assert(UFFDBOX_MSG_PF_KNOWN == 7, "the known flags are the three low bits");

/* @bit if @c, else 0, without a branch. */
static inline unsigned int note(bool c, unsigned int bit)
{
	return bit & -(unsigned int)c;
}

/*
 * The notes of a message whose kind and fields are set.  One branch per
 * kind; the findings within a kind are bit arithmetic, so that every
 * message of a kind runs the same instructions (a fuzzer has no hidden path
 * left to find there, and fewer coverage features to process per message).
 */
static unsigned int notes_of(const struct uffdbox_msg *m)
{
	unsigned int n =
		note((m->reserved1 | m->reserved2 | m->reserved3) != 0, UFFDBOX_MSG_N_RESERVED);

	switch (m->kind) {
	case UFFDBOX_MSG_PAGEFAULT: {
		uint64_t f = m->u.pagefault.flags;
		n |= note((f & ~UFFDBOX_MSG_PF_KNOWN) != 0, UFFDBOX_MSG_N_FLAGS);
		n |= flagmix[f & UFFDBOX_MSG_PF_KNOWN];
		n |= note(m->u.pagefault.tail != 0, UFFDBOX_MSG_N_TAIL);
		break;
	}
	case UFFDBOX_MSG_FORK:
		n |= note(m->u.fork.fd < 0, UFFDBOX_MSG_N_FD);
		n |= note(nonzero(m->u.fork.tail, sizeof(m->u.fork.tail)), UFFDBOX_MSG_N_TAIL);
		break;
	case UFFDBOX_MSG_REMAP: {
		uint64_t e;
		bool wraps = __builtin_add_overflow(m->u.remap.from, m->u.remap.len, &e);
		wraps |= __builtin_add_overflow(m->u.remap.to, m->u.remap.len, &e);
		n |= note(wraps, UFFDBOX_MSG_N_RANGE);
		break;
	}
	case UFFDBOX_MSG_REMOVE:
	case UFFDBOX_MSG_UNMAP:
		n |= note(m->u.remove.start > m->u.remove.end, UFFDBOX_MSG_N_RANGE);
		n |= note(m->u.remove.tail != 0, UFFDBOX_MSG_N_TAIL);
		break;
	default:
		n |= UFFDBOX_MSG_N_EVENT;
		break;
	}
	return n;
}

/* The status of a message with @notes: UNKNOWN over INVALID over 0, by
 * (unknown event, any invalid note). */
static int status_of(unsigned int notes)
{
	static const int status[2][2] = {
		{0, -UFFDBOX_E_MSG_INVALID},
		{-UFFDBOX_E_MSG_UNKNOWN, -UFFDBOX_E_MSG_UNKNOWN},
	};
	return status[notes & UFFDBOX_MSG_N_EVENT][(notes & UFFDBOX_MSG_N_INVALID) != 0];
}

/* One whole record at @p. */
static int parse_one(const uint8_t *p, struct uffdbox_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->event = p[OFF_EVENT];
	m->kind = (uint8_t)uffdbox_msg_code_kind(m->event);
	m->reserved1 = p[OFF_RESERVED1];
	memcpy(&m->reserved2, p + OFF_RESERVED2, sizeof(m->reserved2));
	memcpy(&m->reserved3, p + OFF_RESERVED3, sizeof(m->reserved3));
	memcpy(m->u.raw, p + OFF_ARG, sizeof(m->u.raw));
	m->notes = (uint8_t)notes_of(m);
	return status_of(m->notes);
}

int uffdbox_msg_parse(const void *buf, size_t len, struct uffdbox_msg *m)
{
	if (len < UFFDBOX_MSG_SIZE) {
		memset(m, 0, sizeof(*m));
		return -UFFDBOX_E_MSG_SHORT;
	}
	return parse_one(buf, m);
}

int uffdbox_msg_parse_all(const void *buf, size_t len, struct uffdbox_msg *out, size_t max,
			  size_t *n)
{
	/* status[fragment][more than max] */
	static const int status[2][2] = {{0, -ENOSPC},
					 {-UFFDBOX_E_MSG_SHORT, -UFFDBOX_E_MSG_SHORT}};
	const uint8_t *p = buf;
	size_t whole = len / UFFDBOX_MSG_SIZE, i;

	for (i = 0; i < whole && i < max; i++)
		parse_one(p + i * UFFDBOX_MSG_SIZE, &out[i]);
	*n = i;
	return status[len % UFFDBOX_MSG_SIZE != 0][whole > max];
}

/* Whether @m's bytes parse back to its kind, and *@code, the event code it
 * encodes to: a known kind's own code; for UNKNOWN the raw code, which no
 * kind may have; an out-of-range kind has none.  No branch: encode and check
 * run on every message a fuzzer makes, and each branch taken is one more
 * coverage feature per execution for it to process. */
static bool encodable(const struct uffdbox_msg *m, uint8_t *code)
{
	/* which kinds encode their raw code: UNKNOWN only */
	static const uint8_t raw_code[256] = {[UFFDBOX_MSG_UNKNOWN] = 0xff};
	unsigned int k = m->kind, c = kind_code[k] | (m->event & raw_code[k]);

	*code = (uint8_t)c;
	return code_kind[c] == k;
}

int uffdbox_msg_check(const struct uffdbox_msg *m, unsigned int *notes)
{
	uint8_t code;
	unsigned int n = 0;
	int ret = -EINVAL;

	if (encodable(m, &code)) {
		n = notes_of(m);
		ret = status_of(n);
	}
	if (notes)
		*notes = n;
	return ret;
}

int uffdbox_msg_encode(const struct uffdbox_msg *m, void *buf, size_t len)
{
	uint8_t *p = buf, code;

	if (!encodable(m, &code))
		return -EINVAL;
	if (len < UFFDBOX_MSG_SIZE)
		return -UFFDBOX_E_MSG_SHORT;
	p[OFF_EVENT] = code;
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
