/* SPDX-License-Identifier: MIT */
/* harness/log.c - the event log (see log.h). */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "uffdbox/compat.h"
#include "hash.h"
#include "log.h"
#include "report.h"

#ifndef UFFDBOX_VERSION_STRING
#define UFFDBOX_VERSION_STRING "unknown"
#endif

/* Records whose memory a new log touches at once (see below). */
#define POPULATE_RECORDS (64u * 1024)

/* Records of the first part at most (see log.h). */
#define LAZY_MAX (64u * 1024)

int uffdbox__log_init(struct uffdbox__log *log, size_t records, bool timestamps)
{
	size_t n = 1;

	if (!records)
		records = 4096;
	if (records > (1u << 24))
		return -EINVAL;
	while (n < records)
		n <<= 1;
	memset(log, 0, sizeof(*log));
	log->lazy = n < LAZY_MAX ? n : LAZY_MAX;
	size_t slots = log->lazy + n;
	/* Zeroed, and touched only as records arrive. */
	log->ring = mmap(NULL, slots * sizeof(*log->ring), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (log->ring == MAP_FAILED)
		return -errno;
	log->commit = mmap(NULL, slots * sizeof(*log->commit), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (log->commit == MAP_FAILED) {
		int err = -errno;
		munmap(log->ring, slots * sizeof(*log->ring));
		return err;
	}
	/* Touched now, up to a bound, rather than as records arrive: a
	 * record landing on a fresh page took a page fault of its own inside
	 * the fault being recorded (one per 73 records, ~1 % of a SYNC fault
	 * in `uffdbox-bench fault`).  Past the bound (over 64 Ki slots), the
	 * rest is touched on arrival; before Linux 5.14 (no
	 * MADV_POPULATE_WRITE) all of it is. */
	size_t warm = slots < POPULATE_RECORDS ? slots : POPULATE_RECORDS;
	madvise(log->ring, warm * sizeof(*log->ring), MADV_POPULATE_WRITE);
	madvise(log->commit, warm * sizeof(*log->commit), MADV_POPULATE_WRITE);
	log->mask = n - 1;
	log->timestamps = timestamps;
	/* The report notes are the process's (one set, as reports go to its
	 * stderr): a new log starts without the previous one's. */
	uffdbox__report_notes_reset();
	clock_gettime(CLOCK_MONOTONIC, &log->t0);
	return 0;
}

void uffdbox__log_fini(struct uffdbox__log *log)
{
	if (!log->ring)
		return;
	size_t slots = log->lazy + log->mask + 1;
	munmap(log->ring, slots * sizeof(*log->ring));
	munmap((void *)log->commit, slots * sizeof(*log->commit));
	log->ring = NULL;
}

uint64_t uffdbox__record_hash(const struct uffdbox_record *rec)
{
	/* Every field but the timestamp, in a fixed layout: a log with
	 * timestamps has the same digest as one without. */
	uint64_t w[6] = {
		rec->seq,
		rec->page,
		rec->digest,
		rec->len,
		(uint64_t)rec->offset | (uint64_t)(uint32_t)rec->region << 32,
		(uint64_t)rec->thread | (uint64_t)rec->kind << 32 | (uint64_t)rec->access << 40 |
			(uint64_t)rec->resolution << 48,
	};
	return uffdbox__hash(w, sizeof(w), 0x75666664626f78ULL);
}

uint64_t uffdbox__log_append(struct uffdbox__log *log, struct uffdbox_record *rec)
{
	uint64_t seq = atomic_fetch_add_explicit(&log->next, 1, memory_order_relaxed);

	rec->seq = seq;
	rec->ts_ns = 0;
	if (log->timestamps) {
		struct timespec now; /* clock_gettime is async-signal-safe */
		clock_gettime(CLOCK_MONOTONIC, &now);
		rec->ts_ns = (uint64_t)(now.tv_sec - log->t0.tv_sec) * 1000000000ULL +
			     (uint64_t)(now.tv_nsec - log->t0.tv_nsec);
	}
	size_t slot = uffdbox__log_slot(log, seq);
	atomic_store_explicit(&log->commit[slot], 0, memory_order_relaxed);
	log->ring[slot] = *rec;
	atomic_store_explicit(&log->commit[slot], seq + 1, memory_order_release);
	/* (the first part is hashed when the digest is read) */
	if (seq >= log->lazy)
		atomic_fetch_add_explicit(&log->digest, uffdbox__record_hash(rec),
					  memory_order_relaxed);
	return seq;
}

void uffdbox__log_amend(struct uffdbox__log *log, const struct uffdbox_record *old,
			const struct uffdbox_record *new)
{
	size_t slot = uffdbox__log_slot(log, old->seq);

	if (old->seq >= log->lazy)
		atomic_fetch_add_explicit(&log->digest,
					  uffdbox__record_hash(new) - uffdbox__record_hash(old),
					  memory_order_relaxed);
	if (atomic_load_explicit(&log->commit[slot], memory_order_acquire) != old->seq + 1)
		return;
	atomic_store_explicit(&log->commit[slot], 0, memory_order_relaxed);
	log->ring[slot] = *new;
	atomic_store_explicit(&log->commit[slot], old->seq + 1, memory_order_release);
}

/* Wait until slot @slot holds record @seq, complete: 0, or -ENOENT if it
 * never does (overwritten, or a writer that died mid-way: a fork child
 * whose parent's thread was appending).  Its writer, if alive, is a few
 * stores away: the ring is never registered memory, so it cannot fault
 * there. */
static int wait_commit(const struct uffdbox__log *log, size_t slot, uint64_t seq)
{
	for (unsigned int spin = 0;
	     atomic_load_explicit(&log->commit[slot], memory_order_acquire) != seq + 1; spin++) {
		if ((seq >= log->lazy &&
		     atomic_load_explicit(&log->next, memory_order_relaxed) - seq >
			     log->mask + 1) ||
		    spin > 1000000)
			return -ENOENT;
		if ((spin & 63) == 63)
			sched_yield();
	}
	return 0;
}

uint64_t uffdbox__log_digest(const struct uffdbox__log *log)
{
	uint64_t n = atomic_load_explicit(&log->next, memory_order_acquire);
	uint64_t d = atomic_load_explicit(&log->digest, memory_order_acquire);

	if (n > log->lazy)
		n = log->lazy;
	for (uint64_t seq = 0; seq < n; seq++) {
		struct uffdbox_record r;
		/* (a record whose writer never finished is not counted, as
		 * before it was hashed at its append's end) */
		if (wait_commit(log, (size_t)seq, seq) < 0)
			continue;
		r = log->ring[seq];
		d += uffdbox__record_hash(&r);
	}
	return d;
}

void uffdbox__log_reset(struct uffdbox__log *log)
{
	/* Slots fill in order: the first part, then the going-round one. */
	size_t used = atomic_load(&log->next), slots = log->lazy + log->mask + 1;
	if (used > slots)
		used = slots;
	for (size_t i = 0; i < used; i++)
		atomic_store_explicit(&log->commit[i], 0, memory_order_relaxed);
	atomic_store(&log->next, 0);
	atomic_store(&log->digest, 0);
	uffdbox__report_notes_reset();
	clock_gettime(CLOCK_MONOTONIC, &log->t0);
}

int uffdbox__log_get(const struct uffdbox__log *log, uint64_t seq, struct uffdbox_record *out)
{
	uint64_t n = atomic_load_explicit(&log->next, memory_order_acquire);
	size_t slot = uffdbox__log_slot(log, seq);

	/* The last mask + 1 records, wherever they are. */
	if (seq >= n || n - seq > log->mask + 1)
		return -ENOENT;
	if (wait_commit(log, slot, seq) < 0)
		return -ENOENT;
	*out = log->ring[slot];
	/* Overwritten while copying? */
	if (atomic_load_explicit(&log->commit[slot], memory_order_acquire) != seq + 1)
		return -ENOENT;
	return 0;
}

const char *uffdbox__kind_name(unsigned int kind)
{
	static const char *const names[] = {
		"?",	  "missing", "wp",	 "minor",	    "fork",  "remap",
		"remove", "unmap",   "watchdog", "use-after-unmap", "guard", "crash",
	};
	return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *uffdbox__access_name(unsigned int access)
{
	static const char *const names[] = {"read", "write", "none"};
	return access < 3 ? names[access] : "?";
}

const char *uffdbox__resolution_name(unsigned int res)
{
	static const char *const names[] = {
		"none",	  "zero",   "pattern",	"buffer", "file",   "callback", "unprotect",
		"paused", "poison", "released", "abort",  "exists", "gone",	"timeout"};
	return res < sizeof(names) / sizeof(names[0]) ? names[res] : "?";
}

/* Region names are caller text: escape what JSON requires. */
void uffdbox__json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int uffdbox__log_write_jsonl(const struct uffdbox__log *log, FILE *f, uffdbox__region_name_fn name,
			     const void *arg)
{
	uint64_t n = atomic_load(&log->next), first = n > log->mask + 1 ? n - log->mask - 1 : 0;
	int written = 0;

	/* The header: the format's version, and which uffdbox wrote it. */
	fprintf(f, "{\"kind\":\"header\",\"version\":%d,\"uffdbox\":\"%s\"}\n", UFFDBOX_LOG_VERSION,
		UFFDBOX_VERSION_STRING);
	for (uint64_t seq = first; seq < n; seq++) {
		struct uffdbox_record r;
		if (uffdbox__log_get(log, seq, &r) < 0)
			continue;
		fprintf(f, "{\"seq\":%" PRIu64 ",\"kind\":\"%s\",\"region\":%d,\"region_name\":",
			r.seq, uffdbox__kind_name(r.kind), r.region);
		uffdbox__json_string(f, r.region >= 0 ? name(arg, r.region) : "");
		fprintf(f,
			",\"page\":%" PRIu64 ",\"offset\":%u,\"len\":%" PRIu64
			",\"access\":\"%s\",\"thread\":%u,\"resolution\":\"%s\",\"digest\":\"%"
			"016" PRIx64 "\"",
			r.page, r.offset, r.len, uffdbox__access_name(r.access), r.thread,
			uffdbox__resolution_name(r.resolution), r.digest);
		if (log->timestamps)
			fprintf(f, ",\"ts_ns\":%" PRIu64, r.ts_ns);
		fputs("}\n", f);
		written++;
	}
	/* Then what was reported (its stacks), if anything. */
	uffdbox__report_notes_write(f);
	return ferror(f) ? -EIO : written;
}
