/* SPDX-License-Identifier: MIT */
/*
 * uffdbox/msg.h - the userfaultfd message parser and encoder (pure).
 *
 * A read(2) on a userfaultfd returns whole 32-byte `struct uffd_msg`
 * records.  uffdbox_msg_parse() turns one record into a struct uffdbox_msg
 * and uffdbox_msg_encode() turns it back into the same 32 bytes.  Nothing
 * here makes a system call, touches a global, allocates or reads past the
 * length it is given: every function is thread-safe, async-signal-safe and
 * deterministic, and any byte sequence is valid input.
 *
 * What the typed message keeps: every one of the 32 bytes.  The event code
 * is kept raw (`event`) beside the derived `kind` (never a cast of it); the
 * header's reserved fields are kept; the 24-byte union is kept whole in
 * `u.raw`, which the typed views (`u.pagefault`, `u.fork`...) alias byte for
 * byte in the kernel's layout.  So encode(parse(x)) == x for *every* 32-byte
 * x, well-formed or not, and an event code this version does not know is
 * data (kind UFFDBOX_MSG_UNKNOWN), not an error to recover from.
 *
 * What "well-formed" means is reported separately, in `notes` (one bit per
 * finding) and in parse's return value; see docs/msg.md.
 */
#ifndef UFFDBOX_MSG_H
#define UFFDBOX_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size of one kernel record (sizeof(struct uffd_msg)). */
#define UFFDBOX_MSG_SIZE 32

/* The event, derived from the raw code; values are uffdbox's, not the
 * kernel's (UFFD_EVENT_PAGEFAULT is 0x12, UFFDBOX_MSG_PAGEFAULT is 1). */
enum uffdbox_msg_kind {
	UFFDBOX_MSG_UNKNOWN = 0, /* a code this version does not know: u.raw */
	UFFDBOX_MSG_PAGEFAULT = 1,
	UFFDBOX_MSG_FORK = 2,
	UFFDBOX_MSG_REMAP = 3,
	UFFDBOX_MSG_REMOVE = 4,
	UFFDBOX_MSG_UNMAP = 5, /* same layout as REMOVE */
	UFFDBOX_MSG_KIND_END,
};

/* Findings, one bit each, in uffdbox_msg.notes. */
enum uffdbox_msg_note {
	/* The event code is unknown (kind UNKNOWN).  -UFFDBOX_E_MSG_UNKNOWN. */
	UFFDBOX_MSG_N_EVENT = 1u << 0,
	/* reserved1/2/3 of the header are not zero (the kernel zeroes the whole
	 * record before filling it).  -UFFDBOX_E_MSG_INVALID. */
	UFFDBOX_MSG_N_RESERVED = 1u << 1,
	/* Bytes of the union the event does not use are not zero.
	 * -UFFDBOX_E_MSG_INVALID. */
	UFFDBOX_MSG_N_TAIL = 1u << 2,
	/* Page-fault flag bits this version does not know (the kernel keeps
	 * adding them).  Kept in u.pagefault.flags.  Informational: not an
	 * error. */
	UFFDBOX_MSG_N_FLAGS = 1u << 3,
	/* Page-fault flags that contradict each other: WP with MINOR (a fault
	 * has one reason), or WP without WRITE (only a write reaches the WP
	 * path).  -UFFDBOX_E_MSG_INVALID. */
	UFFDBOX_MSG_N_FLAGMIX = 1u << 4,
	/* An inverted range (REMOVE/UNMAP start > end) or one that wraps past
	 * 2^64 (REMAP from + len or to + len).  -UFFDBOX_E_MSG_INVALID. */
	UFFDBOX_MSG_N_RANGE = 1u << 5,
	/* A FORK whose fd is negative as an int.  -UFFDBOX_E_MSG_INVALID. */
	UFFDBOX_MSG_N_FD = 1u << 6,
};

/* Notes that make a message invalid (everything but N_EVENT and N_FLAGS). */
#define UFFDBOX_MSG_N_INVALID                                                  \
	(UFFDBOX_MSG_N_RESERVED | UFFDBOX_MSG_N_TAIL | UFFDBOX_MSG_N_FLAGMIX | \
	 UFFDBOX_MSG_N_RANGE | UFFDBOX_MSG_N_FD)

/* Page-fault flags of the kernel ABI (UFFD_PAGEFAULT_FLAG_*). */
#define UFFDBOX_MSG_PF_WRITE 0x1ull
#define UFFDBOX_MSG_PF_WP    0x2ull
#define UFFDBOX_MSG_PF_MINOR 0x4ull
#define UFFDBOX_MSG_PF_KNOWN (UFFDBOX_MSG_PF_WRITE | UFFDBOX_MSG_PF_WP | UFFDBOX_MSG_PF_MINOR)

/*
 * One message.  The union mirrors the kernel's 24-byte union at offset 8 of
 * struct uffd_msg, in host byte order: a view reads exactly the bytes the
 * kernel wrote there, and `raw` always holds all 24 of them.
 */
struct uffdbox_msg {
	uint8_t kind;	   /* enum uffdbox_msg_kind, derived from event */
	uint8_t event;	   /* the raw event code, as read */
	uint8_t reserved1; /* header bytes 1..7, as read */
	uint8_t notes;	   /* enum uffdbox_msg_note bits (set by parse) */
	uint16_t reserved2;
	uint32_t reserved3;
	union {
		struct {
			uint64_t flags;	  /* UFFDBOX_MSG_PF_* and unknown bits */
			uint64_t address; /* page-masked unless EXACT_ADDRESS */
			uint32_t ptid;	  /* thread id with THREAD_ID, else 0 */
			uint32_t tail;	  /* unused by the kernel */
		} pagefault;
		struct {
			int32_t fd; /* the child's uffd (kernel: __u32 ufd) */
			uint8_t tail[20];
		} fork;
		struct {
			uint64_t from, to, len;
		} remap;
		struct {
			uint64_t start, end; /* [start, end) */
			uint64_t tail;
		} remove; /* REMOVE and UNMAP */
		uint8_t raw[24];
	} u;
};

/*
 * uffdbox_msg_parse - decode the first record of @buf.
 * @buf: @len readable bytes, any alignment.
 * @m:   filled whenever @len >= UFFDBOX_MSG_SIZE, whatever is returned.
 *
 * Returns 0 for a well-formed message of a known event; otherwise
 * -UFFDBOX_E_MSG_SHORT (@len < 32: @m is zeroed, kind UNKNOWN, nothing read),
 * -UFFDBOX_E_MSG_UNKNOWN (unknown event code: kind UNKNOWN, bytes in u.raw),
 * or -UFFDBOX_E_MSG_INVALID (a UFFDBOX_MSG_N_INVALID note is set).
 * A negative return never means "ignore it": an invalid PAGEFAULT may still
 * have a thread blocked on it that must be woken.  Bytes past the first 32
 * are not read; walk a batch with uffdbox_msg_parse_all() or by hand.
 * Pure: thread-safe, async-signal-safe, no allocation.
 */
UFFDBOX_API int uffdbox_msg_parse(const void *buf, size_t len, struct uffdbox_msg *m);

/*
 * uffdbox_msg_parse_all - decode every whole record of a read(2) buffer.
 * @out: room for @max messages; *@n receives how many were stored
 *       (min(@len / 32, @max)).  Each stored message has its own notes;
 *       uffdbox_msg_check() gives its parse result.
 *
 * Returns 0; -UFFDBOX_E_MSG_SHORT when @len is not a multiple of 32 (the
 * whole records before the fragment are still stored; the kernel never
 * returns a fragment, so the caller's buffer handling is at fault);
 * -ENOSPC when more than @max records are present (the first @max are
 * stored).  Pure: thread-safe, async-signal-safe, no allocation.
 */
UFFDBOX_API int uffdbox_msg_parse_all(const void *buf, size_t len, struct uffdbox_msg *out,
				      size_t max, size_t *n);

/*
 * uffdbox_msg_check - recompute the notes of @m from its fields (ignoring
 * m->notes) and return what uffdbox_msg_parse() would for its bytes: 0,
 * -UFFDBOX_E_MSG_UNKNOWN or -UFFDBOX_E_MSG_INVALID; -EINVAL when @m is not
 * encodable (see uffdbox_msg_encode()).  @notes, if not NULL, receives the
 * bits.  Pure: thread-safe, async-signal-safe.
 */
UFFDBOX_API int uffdbox_msg_check(const struct uffdbox_msg *m, unsigned int *notes);

/*
 * uffdbox_msg_encode - write @m as one 32-byte kernel record.
 * The event byte is the code of m->kind, or m->event when kind is UNKNOWN;
 * the reserved fields and all 24 union bytes are written as they are, so a
 * parsed message encodes back to the exact bytes it came from.
 *
 * Returns UFFDBOX_MSG_SIZE; -UFFDBOX_E_MSG_SHORT when @len < 32 (nothing
 * written); -EINVAL when m->kind is out of range, when kind is UNKNOWN but
 * m->event is a known code (such a message would not parse back to
 * itself).  Well-formedness is not required: that
 * is how tests and fuzzers build bad records.  Pure: thread-safe,
 * async-signal-safe.
 */
UFFDBOX_API int uffdbox_msg_encode(const struct uffdbox_msg *m, void *buf, size_t len);

/*
 * uffdbox_msg_init - zero @m and make it a message of @kind (known kinds
 * only; UNKNOWN gets event code 0).  Returns 0 or -EINVAL.
 */
UFFDBOX_API int uffdbox_msg_init(struct uffdbox_msg *m, unsigned int kind);

/* The kernel's event code of a known kind (0x12...), 0 for UNKNOWN or out of
 * range; and the kind of a raw code.  Pure. */
UFFDBOX_API uint8_t uffdbox_msg_kind_code(unsigned int kind);
UFFDBOX_API unsigned int uffdbox_msg_code_kind(uint8_t code);

/* A static lower-case name: "pagefault", "fork", "remap", "remove",
 * "unmap", "unknown".  Never NULL.  Pure. */
UFFDBOX_API const char *uffdbox_msg_kind_name(unsigned int kind);

#ifdef __cplusplus
}
#endif

#endif /* UFFDBOX_MSG_H */
