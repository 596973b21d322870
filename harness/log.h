/* SPDX-License-Identifier: MIT */
/*
 * harness/log.h - the event log: a lock-free ring of normalized records and
 * a digest over every record appended.
 *
 * Appending is async-signal-safe (the SYNC transport appends from its SIGBUS
 * handler) and safe from several threads at once: a record takes its
 * sequence number with one atomic increment and is published by a
 * per-slot commit word.  The digest is the wrapping sum of each record's
 * hash; the sequence number is part of what is hashed, so the digest is
 * order-sensitive without any lock.
 */
#ifndef UFFDBOX_HARNESS_LOG_H
#define UFFDBOX_HARNESS_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "uffdbox/sandbox.h"

/*
 * The ring has two parts.  Slots [0, lazy) hold records 0 .. lazy - 1 of an
 * input and are never overwritten before the reset; slots [lazy, lazy +
 * mask + 1) go round for every record after them.  A record of the first
 * part is hashed when the digest is read, not when it is appended (the
 * hash and its atomic add were 0.6-0.7 % of a SYNC fault); a record of the
 * second part is hashed as it is appended, since it may be overwritten
 * before anyone reads the digest.
 */
struct uffdbox__log {
	struct uffdbox_record *ring;
	_Atomic uint64_t *commit; /* seq + 1 once the record's slot is complete */
	size_t mask;		  /* the going-round part's size - 1 */
	size_t lazy;		  /* records in the first part */
	_Atomic uint64_t next;
	_Atomic uint64_t digest; /* of the records past the first part */
	bool timestamps;
	struct timespec t0;
};

/* The slot of record @seq. */
static inline size_t uffdbox__log_slot(const struct uffdbox__log *log, uint64_t seq)
{
	return seq < log->lazy ? (size_t)seq : log->lazy + (size_t)((seq - log->lazy) & log->mask);
}

int uffdbox__log_init(struct uffdbox__log *log, size_t records, bool timestamps);
void uffdbox__log_fini(struct uffdbox__log *log);
/* Fill rec->seq (and ts_ns) and store it.  Returns seq. */
uint64_t uffdbox__log_append(struct uffdbox__log *log, struct uffdbox_record *rec);
/* The wrapping sum of the hashes of every record appended since the last
 * reset (as amended).  Exact once no append or amend is under way; read
 * during them, a record being amended may be hashed half-written. */
uint64_t uffdbox__log_digest(const struct uffdbox__log *log);

/* A record of one event, the fields every writer sets (the log fills in
 * seq and the timestamp on append). */
static inline struct uffdbox_record uffdbox__record(uint8_t kind, int region, uint64_t page,
						    uint32_t offset, uint64_t len, uint8_t access,
						    uint32_t thread, uint8_t res, uint64_t digest)
{
	return (struct uffdbox_record){.page = page,
				       .digest = digest,
				       .len = len,
				       .offset = offset,
				       .region = region,
				       .thread = thread,
				       .kind = kind,
				       .access = access,
				       .resolution = res};
}
/* Replace record @old (as appended) by @new (same seq): the digest follows;
 * the slot is rewritten if the ring still holds it. */
void uffdbox__log_amend(struct uffdbox__log *log, const struct uffdbox_record *old,
			const struct uffdbox_record *new);
void uffdbox__log_reset(struct uffdbox__log *log);
int uffdbox__log_get(const struct uffdbox__log *log, uint64_t seq, struct uffdbox_record *out);
uint64_t uffdbox__record_hash(const struct uffdbox_record *rec);

/* Names for the JSON fields. */
const char *uffdbox__kind_name(unsigned int kind);
const char *uffdbox__access_name(unsigned int access);
const char *uffdbox__resolution_name(unsigned int res);

/* The JSON Lines format's version (the header record's "version"). */
#define UFFDBOX_LOG_VERSION 1
/* @s as a JSON string, quoted and escaped. */
void uffdbox__json_string(FILE *f, const char *s);

typedef const char *(*uffdbox__region_name_fn)(const void *arg, int region);
/* A header record, one JSON object per line for each record still in the
 * ring, then the reports noted (report.h).  Returns the event records
 * written. */
int uffdbox__log_write_jsonl(const struct uffdbox__log *log, FILE *f, uffdbox__region_name_fn name,
			     const void *arg);

#endif /* UFFDBOX_HARNESS_LOG_H */
