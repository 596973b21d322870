/* SPDX-License-Identifier: MIT */
/*
 * run/cmd_report.c - `uffdbox report LOG.jsonl [-o report.html]`: one
 * self-contained HTML file (inline CSS and JS, nothing fetched) that shows
 * an event log: per region a page map, per thread a timeline, the reports
 * with their stacks, and a summary.
 *
 * The log is read once and aggregated here, in C: the page maps keep, per
 * page, the last event and a count; timelines keep the first events of
 * each thread; past fixed limits (cells, regions, events per thread) the
 * rest is counted, not drawn, so the page stays small and fast whatever the
 * log's size (1 to 1,000,000 records and more).  The aggregate is embedded
 * as JSON in run/report.html (the page's template, embedded at build time),
 * whose script builds the page from it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonl.h"
#include "report_html.h"

#define CELLS_PER_REGION  2048	     /* past this, a cell stands for several pages */
#define CELLS_TOTAL	  200000     /* regions past this many cells get no map */
#define PAGES_TRACKED	  (1u << 20) /* per region; pages beyond are counted */
#define EVENTS_PER_THREAD 500
#define THREADS_SHOWN	  64
#define REPORTS_SHOWN	  64
#define REGIONS_SHOWN	  500 /* regions listed; the others are counted */

static const char *const kinds[] = {"missing", "wp",	"minor",    "fork",	      "remap",
				    "remove",  "unmap", "watchdog", "use-after-unmap"};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
static const char *const resolutions[] = {"none",     "zero",	   "pattern", "buffer", "file",
					  "callback", "unprotect", "paused",  "poison", "released",
					  "abort",    "exists",	   "gone",    "timeout"};
#define NRES (sizeof(resolutions) / sizeof(resolutions[0]))
static const char *const accesses[] = {"read", "write", "none"};

/* Index of @f's string in @names, or @n (other) when absent or unknown. */
static unsigned int code_of(const struct uffdbox__jfield *f, const char *const *names, size_t n)
{
	if (!f || f->type != UFFDBOX_J_STR)
		return (unsigned int)n;
	for (size_t i = 0; i < n; i++)
		if (f->vlen - 2 == strlen(names[i]) &&
		    memcmp(f->val + 1, names[i], f->vlen - 2) == 0)
			return (unsigned int)i;
	return (unsigned int)n;
}

struct cell {
	int64_t seq; /* of the last event; -1: untouched */
	uint32_t count, thread, offset;
	uint8_t kind, res, access;
	char digest[17];
};

struct region {
	int64_t index;
	char *name; /* raw JSON string, quotes included */
	uint64_t psz, events, beyond;
	struct cell *cells; /* per page */
	size_t npages, cap;
	bool named; /* a timeline event names it */
};

struct event {
	int64_t seq;
	uint32_t region; /* slot in regions[] */
	uint32_t offset;
	uint64_t page;
	uint8_t kind, res, access;
};

struct thread {
	int64_t id;
	struct event *ev;
	size_t n;
	uint64_t total, more_by_kind[NKINDS + 1];
};

struct report {
	struct region *regions;
	size_t nregions, capregions;
	int64_t *slot_of; /* open addressing: region index -> slot + 1 */
	size_t hashcap;
	struct thread *threads;
	size_t nthreads;
	char **reports;
	size_t nreports, reports_total;
	uint64_t records, by_kind[NKINDS + 1], by_res[NRES + 1], other_records;
	int64_t first_seq, last_seq;
	int version;
	bool header;
	char producer[64];
	const char *path;
};

static uint64_t hash_i64(int64_t v)
{
	uint64_t x = (uint64_t)v * 0x9e3779b97f4a7c15ULL;
	return x ^ (x >> 29);
}

static int rehash(struct report *r)
{
	size_t cap = r->hashcap ? r->hashcap * 2 : 64;
	int64_t *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t s = 0; s < r->nregions; s++) {
		size_t h = hash_i64(r->regions[s].index) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = (int64_t)s + 1;
	}
	free(r->slot_of);
	r->slot_of = t;
	r->hashcap = cap;
	return 0;
}

static struct region *region_of(struct report *r, int64_t index, const struct uffdbox__jfield *name)
{
	if (r->hashcap == 0 || (r->nregions + 1) * 2 > r->hashcap)
		if (rehash(r) < 0)
			return NULL;
	size_t h = hash_i64(index) & (r->hashcap - 1);
	while (r->slot_of[h]) {
		struct region *g = &r->regions[r->slot_of[h] - 1];
		if (g->index == index)
			return g;
		h = (h + 1) & (r->hashcap - 1);
	}
	if (r->nregions == r->capregions) {
		size_t cap = r->capregions ? r->capregions * 2 : 16;
		struct region *n = realloc(r->regions, cap * sizeof(*n));
		if (!n)
			return NULL;
		r->regions = n;
		r->capregions = cap;
	}
	struct region *g = &r->regions[r->nregions];
	memset(g, 0, sizeof(*g));
	g->index = index;
	g->name = name && name->type == UFFDBOX_J_STR ? strndup(name->val, name->vlen)
						      : strdup("\"\"");
	if (!g->name)
		return NULL;
	r->slot_of[h] = (int64_t)r->nregions + 1;
	r->nregions++;
	return g;
}

static int mark(struct region *g, uint64_t page, const struct cell *c)
{
	if (page >= PAGES_TRACKED) {
		g->beyond++;
		return 0;
	}
	if (page >= g->cap) {
		size_t cap = g->cap ? g->cap : 16;
		while (cap <= page)
			cap *= 2;
		struct cell *n = realloc(g->cells, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (size_t i = g->cap; i < cap; i++)
			n[i] = (struct cell){.seq = -1};
		g->cells = n;
		g->cap = cap;
	}
	if (page >= g->npages)
		g->npages = page + 1;
	struct cell *d = &g->cells[page];
	uint32_t count = d->count + 1;
	*d = *c;
	d->count = count;
	return 0;
}

static struct thread *thread_of(struct report *r, int64_t id)
{
	for (size_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].id == id)
			return &r->threads[i];
	struct thread *n = realloc(r->threads, (r->nthreads + 1) * sizeof(*n));
	if (!n)
		return NULL;
	r->threads = n;
	struct thread *t = &r->threads[r->nthreads++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	return t;
}

/* One event record into the aggregate. */
static int add_event(struct report *r, const struct uffdbox__jrec *j)
{
	unsigned int kind = code_of(uffdbox__json_get(j, "kind"), kinds, NKINDS);
	unsigned int res = code_of(uffdbox__json_get(j, "resolution"), resolutions, NRES);
	unsigned int acc = code_of(uffdbox__json_get(j, "access"), accesses, 3);
	int64_t seq = uffdbox__json_int(uffdbox__json_get(j, "seq"), -1);
	int64_t page = uffdbox__json_int(uffdbox__json_get(j, "page"), 0);
	int64_t len = uffdbox__json_int(uffdbox__json_get(j, "len"), 0);
	int64_t th = uffdbox__json_int(uffdbox__json_get(j, "thread"), 0);
	int64_t off = uffdbox__json_int(uffdbox__json_get(j, "offset"), 0);
	struct region *g = region_of(r, uffdbox__json_int(uffdbox__json_get(j, "region"), -1),
				     uffdbox__json_get(j, "region_name"));
	if (!g)
		return -ENOMEM;

	r->records++;
	r->by_kind[kind]++;
	r->by_res[res]++;
	if (r->first_seq < 0 || seq < r->first_seq)
		r->first_seq = seq;
	if (seq > r->last_seq)
		r->last_seq = seq;
	g->events++;
	/* A fault covers one page: its len is the region's page size. */
	if (!g->psz && (kind == 0 || kind == 1 || kind == 2 || kind == 8) && len > 0)
		g->psz = (uint64_t)len;
	struct cell c = {.seq = seq,
			 .thread = (uint32_t)th,
			 .offset = (uint32_t)off,
			 .kind = (uint8_t)kind,
			 .res = (uint8_t)res,
			 .access = (uint8_t)acc};
	uffdbox__json_str(uffdbox__json_get(j, "digest"), c.digest, sizeof(c.digest));
	/* Ranges (remap, remove, unmap) mark every page they cover. */
	uint64_t psz = g->psz ? g->psz : 4096, npages = 1;
	if ((kind == 4 || kind == 5 || kind == 6) && len > 0)
		npages = ((uint64_t)len + psz - 1) / psz;
	if (page < 0)
		page = 0;
	for (uint64_t p = 0; p < npages; p++)
		if (mark(g, (uint64_t)page + p, &c) < 0)
			return -ENOMEM;
		else if ((uint64_t)page + p >= PAGES_TRACKED) {
			g->beyond += npages - p - 1;
			break;
		}

	struct thread *t = thread_of(r, th);
	if (!t)
		return -ENOMEM;
	t->total++;
	if (t->n >= EVENTS_PER_THREAD) {
		t->more_by_kind[kind]++;
		return 0;
	}
	if (!t->ev && !(t->ev = malloc(EVENTS_PER_THREAD * sizeof(*t->ev))))
		return -ENOMEM;
	t->ev[t->n++] = (struct event){.seq = seq,
				       .region = (uint32_t)(g - r->regions),
				       .offset = (uint32_t)off,
				       .page = (uint64_t)page,
				       .kind = (uint8_t)kind,
				       .res = (uint8_t)res,
				       .access = (uint8_t)acc};
	return 0;
}

static int load(struct report *r, const char *path)
{
	struct uffdbox__lines l;
	char err[160];
	int rc = uffdbox__lines_read(path, &l);

	r->path = path;
	r->first_seq = -1;
	r->last_seq = -1;
	if (rc < 0) {
		fprintf(stderr, "uffdbox report: cannot read %s: %s\n", path, strerror(-rc));
		return -1;
	}
	for (size_t i = 0; i < l.nlines; i++) {
		struct uffdbox__jrec j;
		if (uffdbox__blank(l.line[i], l.len[i]))
			continue;
		if (uffdbox__json_object(l.line[i], l.len[i], &j, err, sizeof(err)) < 0) {
			fprintf(stderr, "uffdbox report: %s:%zu: not a JSON record: %s\n", path,
				i + 1, err);
			uffdbox__lines_free(&l);
			return -1;
		}
		char kind[32];
		uffdbox__json_str(uffdbox__json_get(&j, "kind"), kind, sizeof(kind));
		if (strcmp(kind, "header") == 0) {
			r->header = true;
			r->version = (int)uffdbox__json_int(uffdbox__json_get(&j, "version"), 0);
			uffdbox__json_str(uffdbox__json_get(&j, "uffdbox"), r->producer,
					  sizeof(r->producer));
			continue;
		}
		if (strcmp(kind, "report") == 0) {
			if (r->nreports < REPORTS_SHOWN) {
				char **n = realloc(r->reports, (r->nreports + 1) * sizeof(*n));
				if (!n || !(n[r->nreports] = strndup(l.line[i], l.len[i]))) {
					free(n);
					uffdbox__lines_free(&l);
					return -1;
				}
				r->reports = n;
				r->nreports++;
			}
			r->reports_total++;
			continue;
		}
		if (!uffdbox__json_get(&j, "seq") || !uffdbox__json_get(&j, "page")) {
			r->other_records++;
			continue;
		}
		if (add_event(r, &j) < 0) {
			fprintf(stderr, "uffdbox report: %s: out of memory\n", path);
			uffdbox__lines_free(&l);
			return -1;
		}
	}
	uffdbox__lines_free(&l);
	/* Nothing a log holds: an empty file, or JSON of something else. */
	if (!r->header && !r->records && !r->reports_total) {
		if (r->other_records)
			fprintf(stderr,
				"uffdbox report: %s: not an event log: none of its %llu JSON "
				"record(s) is a header, an event (with seq and page) or a report "
				"(docs/event-log.md)\n",
				path, (unsigned long long)r->other_records);
		else
			fprintf(stderr,
				"uffdbox report: %s: empty, not an event log (every log starts "
				"with its header record, docs/event-log.md): did the run that "
				"should have written it crash or stop early?\n",
				path);
		return -1;
	}
	return 0;
}

/* Raw JSON text into the page: '<' only occurs inside strings, where
 * \u003c means the same and cannot close the script element. */
static void put_json(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '<')
			fputs("\\u003c", f);
		else
			fputc(s[i], f);
	}
}

static void put_names(FILE *f, const char *key, const char *const *names, size_t n)
{
	fprintf(f, "\"%s\":[", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "", names[i]);
	fputs(",\"other\"]", f);
}

static void put_cell(FILE *f, const struct cell *c, uint64_t first, uint64_t pages)
{
	/* [first page, pages, seq, kind, res, access, thread, offset, count, digest] */
	fprintf(f, "[%llu,%llu,%lld,%u,%u,%u,%u,%u,%u,\"%s\"]", (unsigned long long)first,
		(unsigned long long)pages, (long long)c->seq, c->kind, c->res, c->access, c->thread,
		c->offset, c->count, c->digest);
}

static int cmp_thread(const void *a, const void *b)
{
	int64_t x = ((const struct thread *)a)->id, y = ((const struct thread *)b)->id;
	return (x > y) - (x < y);
}

static void write_data(FILE *f, struct report *r)
{
	fputs("{", f);
	put_names(f, "kinds", kinds, NKINDS);
	fputc(',', f);
	put_names(f, "resolutions", resolutions, NRES);
	fputc(',', f);
	put_names(f, "accesses", accesses, 3);
	fputs(",\"log\":\"", f);
	for (const char *p = r->path; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		if (*p == '<')
			fputs("\\u003c", f);
		else if ((unsigned char)*p >= 0x20)
			fputc(*p, f);
	}
	fprintf(f,
		"\",\"version\":%d,\"producer\":\"%s\",\"records\":%llu,\"other_records\":%llu,"
		"\"first_seq\":%lld,\"last_seq\":%lld,\"by_kind\":[",
		r->version, r->producer, (unsigned long long)r->records,
		(unsigned long long)r->other_records, (long long)r->first_seq,
		(long long)r->last_seq);
	for (size_t i = 0; i <= NKINDS; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)r->by_kind[i]);
	fputs("],\"by_res\":[", f);
	for (size_t i = 0; i <= NRES; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)r->by_res[i]);

	/* Page maps, until the cell budget is spent. */
	fputs("],\"regions\":[", f);
	size_t cells = 0, drawn = 0;
	uint64_t undrawn_events = 0;
	uint64_t unlisted_events = 0;
	for (size_t s = REGIONS_SHOWN; s < r->nregions; s++)
		unlisted_events += r->regions[s].events;
	for (size_t s = 0; s < r->nregions && s < REGIONS_SHOWN; s++) {
		struct region *g = &r->regions[s];
		uint64_t per = (g->npages + CELLS_PER_REGION - 1) / CELLS_PER_REGION;
		if (per == 0)
			per = 1;
		size_t ncells = (size_t)((g->npages + per - 1) / per);
		bool draw = cells + ncells <= CELLS_TOTAL;
		if (!draw)
			undrawn_events += g->events;
		fprintf(f, "%s{\"index\":%lld,\"name\":", s ? "," : "", (long long)g->index);
		put_json(f, g->name, strlen(g->name));
		fprintf(f,
			",\"psz\":%llu,\"pages\":%zu,\"events\":%llu,\"beyond\":%llu,\"per\":%llu,"
			"\"drawn\":%s,\"cells\":[",
			(unsigned long long)(g->psz ? g->psz : 4096), g->npages,
			(unsigned long long)g->events, (unsigned long long)g->beyond,
			(unsigned long long)per, draw ? "true" : "false");
		if (draw) {
			cells += ncells;
			drawn++;
			for (size_t k = 0; k < ncells; k++) {
				/* A cell of several pages shows the latest event among
				 * them, and counts them all. */
				struct cell agg = {.seq = -1};
				uint64_t first = k * per, n = per;
				if (first + n > g->npages)
					n = g->npages - first;
				for (uint64_t p = first; p < first + n; p++) {
					const struct cell *c = &g->cells[p];
					if (c->seq < 0)
						continue;
					uint32_t count = agg.count + c->count;
					if (c->seq >= agg.seq)
						agg = *c;
					agg.count = count;
				}
				if (k)
					fputc(',', f);
				if (agg.seq < 0 && agg.count == 0)
					fputs("0", f);
				else
					put_cell(f, &agg, first, n);
			}
		}
		fputs("]}", f);
	}
	fprintf(f,
		"],\"regions_total\":%zu,\"unlisted_events\":%llu,\"regions_drawn\":%zu,"
		"\"undrawn_events\":%llu,\"threads\":[",
		r->nregions, (unsigned long long)unlisted_events, drawn,
		(unsigned long long)undrawn_events);

	/* Timelines, by logical thread id. */
	qsort(r->threads, r->nthreads, sizeof(*r->threads), cmp_thread);
	for (size_t i = 0; i < r->nthreads && i < THREADS_SHOWN; i++) {
		struct thread *t = &r->threads[i];
		fprintf(f, "%s{\"id\":%lld,\"total\":%llu,\"more_by_kind\":[", i ? "," : "",
			(long long)t->id, (unsigned long long)t->total);
		for (size_t k = 0; k <= NKINDS; k++)
			fprintf(f, "%s%llu", k ? "," : "", (unsigned long long)t->more_by_kind[k]);
		fputs("],\"events\":[", f);
		for (size_t e = 0; e < t->n; e++) {
			const struct event *v = &t->ev[e];
			/* [seq, kind, res, access, region index, page, offset] */
			struct region *g = &r->regions[v->region];
			g->named = true;
			fprintf(f, "%s[%lld,%u,%u,%u,%lld,%llu,%u]", e ? "," : "",
				(long long)v->seq, v->kind, v->res, v->access, (long long)g->index,
				(unsigned long long)v->page, v->offset);
		}
		fputs("]}", f);
	}
	/* The names of the regions the timelines mention: [index, name]. */
	fputs("],\"names\":[", f);
	bool first = true;
	for (size_t i = 0; i < r->nregions; i++) {
		if (!r->regions[i].named)
			continue;
		fprintf(f, "%s[%lld,", first ? "" : ",", (long long)r->regions[i].index);
		put_json(f, r->regions[i].name, strlen(r->regions[i].name));
		fputc(']', f);
		first = false;
	}
	fprintf(f, "],\"threads_total\":%zu,\"reports\":[", r->nthreads);
	for (size_t i = 0; i < r->nreports; i++) {
		if (i)
			fputc(',', f);
		put_json(f, r->reports[i], strlen(r->reports[i]));
	}
	fprintf(f, "],\"reports_total\":%zu}", r->reports_total);
}

static void free_report(struct report *r)
{
	for (size_t i = 0; i < r->nregions; i++) {
		free(r->regions[i].name);
		free(r->regions[i].cells);
	}
	free(r->regions);
	free(r->slot_of);
	for (size_t i = 0; i < r->nthreads; i++)
		free(r->threads[i].ev);
	free(r->threads);
	for (size_t i = 0; i < r->nreports; i++)
		free(r->reports[i]);
	free(r->reports);
}

static int report_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			uffdbox__cmd_help(&uffdbox__cmd_report, stdout);
			return UFFDBOX_EXIT_OK;
		case ':':
			return uffdbox__usage(&uffdbox__cmd_report, "%s needs a value",
					      argv[optind - 1]);
		default:
			return uffdbox__usage(&uffdbox__cmd_report, "unknown option %s",
					      argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return uffdbox__usage(&uffdbox__cmd_report, "one LOG.jsonl expected (got %d)",
				      argc - optind);
	const char *path = argv[optind];
	char *def = NULL;
	if (!out) {
		/* LOG.jsonl -> LOG.html next to it */
		size_t n = strlen(path);
		const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
		if (dot && (!slash || dot > slash))
			n = (size_t)(dot - path);
		if (strcmp(path, "-") == 0 || asprintf(&def, "%.*s.html", (int)n, path) < 0)
			return uffdbox__usage(&uffdbox__cmd_report,
					      "reading stdin: name the output with -o FILE");
		out = def;
	}

	struct report r = {0};
	int rc = UFFDBOX_EXIT_USAGE;
	if (load(&r, path) < 0)
		goto done;
	FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "we");
	if (!f) {
		fprintf(stderr, "uffdbox report: cannot write %s: %s\n", out, strerror(errno));
		goto done;
	}
	/* The template (report.html, embedded at build time) with the data in
	 * place of its marker. */
	const char *mark = strstr(uffdbox__report_html, UFFDBOX_REPORT_MARKER);
	fwrite(uffdbox__report_html, 1, (size_t)(mark - uffdbox__report_html), f);
	write_data(f, &r);
	fputs(mark + strlen(UFFDBOX_REPORT_MARKER), f);
	if ((f == stdout ? fflush(f) : fclose(f)) != 0) {
		fprintf(stderr, "uffdbox report: writing %s: %s\n", out, strerror(errno));
		goto done;
	}
	if (f != stdout)
		fprintf(stderr,
			"uffdbox report: %s: %llu records, %zu regions, %zu threads, %zu "
			"report(s) -> %s\n",
			path, (unsigned long long)r.records, r.nregions, r.nthreads,
			r.reports_total, out);
	rc = UFFDBOX_EXIT_OK;
done:
	free_report(&r);
	free(def);
	return rc;
}

const struct uffdbox__cmd uffdbox__cmd_report = {
	.name = "report",
	.summary = "an HTML page of an event log: page maps, timelines, reports",
	.synopsis = "uffdbox report [-o report.html] LOG.jsonl",
	.description =
		"Write one self-contained HTML file (inline CSS and JavaScript, nothing fetched)\n"
		"that shows an event log (docs/event-log.md): a summary; per region a page map,\n"
		"a cell per page coloured by the kind of its last event and outlined by its\n"
		"resolution, with seq, thread, offset, access and digest on hover; per thread a\n"
		"timeline of events in seq order; and the uffdbox reports (guard hit,\n"
		"use-after-unmap) with their stacks when the log has them.\n"
		"\n"
		"Any size of log: past 2048 cells a cell stands for several pages, past 200,000\n"
		"cells a region is counted but not drawn, past 500 events a thread's timeline\n"
		"counts the rest by kind.",
	.options = "  -o, --output FILE   where to write (default: LOG with .html for .jsonl;\n"
		   "                      - for stdout)\n"
		   "  -h, --help          this text\n",
	.exit_status = "0 written, 2 a usage error, an unreadable log or a line that is not\n"
		       "a JSON object (the file and line are named), or an unwritable output.",
	.more = "Example:\n"
		"  uffdbox run --log run.jsonl -- ./prog; uffdbox report run.jsonl -o run.html\n",
	.main = report_main,
};
