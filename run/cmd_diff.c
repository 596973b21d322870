/* SPDX-License-Identifier: MIT */
/*
 * run/cmd_diff.c - `uffdbox diff A.jsonl B.jsonl`: an aligned, readable
 * difference of two event logs.
 *
 * Each record is reduced to its comparable fields (see `ignored()`: what
 * legitimately varies between two runs of the same input is left out), the
 * two sequences are aligned with Myers' O(ND) algorithm (so one extra fault
 * shows as one inserted record, not as every later record shifted), and
 * the result is printed as hunks with context: '-' only in A, '+' only in
 * B, '~' the same place in both with the fields that differ spelled out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonl.h"

/* Past this many differences the alignment stops searching and pairs
 * records by position (memory grows with the square of it). */
#define MAX_EDITS 2000

struct rec {
	size_t line; /* 1-based line in its file */
	const char *raw;
	size_t rawlen;
	char *key; /* comparable fields, "k=v\x1f" each; owned */
	uint64_t hash;
};

struct log {
	const char *path;
	struct uffdbox__lines lines;
	struct rec *r;
	size_t n;
};

struct opts {
	bool exact, frames, quiet;
	long context;
	char **ignore; /* extra field names */
	size_t nignore;
};

/* The fields two runs of the same input may legitimately disagree on. */
static bool ignored(const struct opts *o, const char *k, size_t n)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
	for (size_t i = 0; i < o->nignore; i++)
		if (strlen(o->ignore[i]) == n && memcmp(o->ignore[i], k, n) == 0)
			return true;
	if (o->exact)
		return false;
	/* seq: the position in the log says the order already, and one
	 * inserted record must not make every later one differ.  ts_ns:
	 * timing.  uffdbox: the producer's version (the format's is
	 * "version").  Frames: module offsets and inlining change with every
	 * build and compiler (--frames compares their function names). */
	if (IS("seq") || IS("ts_ns") || IS("uffdbox"))
		return true;
	if (!o->frames && (IS("frames") || IS("unmap_frames")))
		return true;
	return false;
#undef IS
}

static bool is_frames(const struct uffdbox__jfield *f)
{
	return f->type == UFFDBOX_J_ARR &&
	       ((f->klen == 6 && memcmp(f->key, "frames", 6) == 0) ||
		(f->klen == 12 && memcmp(f->key, "unmap_frames", 12) == 0));
}

/* A frames array as its function names: "[fn,fn,...]". */
static void frame_names(const struct uffdbox__jfield *f, FILE *m)
{
	const char *pos = NULL, *e;
	size_t el;
	bool first = true;

	fputc('[', m);
	while (uffdbox__json_array_next(f, &pos, &e, &el)) {
		struct uffdbox__jrec fr;
		char fn[256];
		if (uffdbox__json_object(e, el, &fr, NULL, 0) < 0)
			continue;
		uffdbox__json_str(uffdbox__json_get(&fr, "fn"), fn, sizeof(fn));
		fprintf(m, "%s%s", first ? "" : ",", fn[0] ? fn : "??");
		first = false;
	}
	fputc(']', m);
}

static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* An empty file is no log: even a run without events writes its header. */
static const char empty_log[] =
	"empty, not an event log (every log starts with its header record, "
	"docs/event-log.md): did the run that should have written it crash or stop "
	"early?";
/* JSON Lines, but not uffdbox's: every record of a log has a kind. */
static const char not_a_log[] =
	"not an event record: no \"kind\" (every record of a log has one: a header, an "
	"event or a report; docs/event-log.md)";

static int load(const struct opts *o, const char *path, struct log *lg)
{
	char err[160];
	int rc = uffdbox__lines_read(path, &lg->lines);

	lg->path = path;
	if (rc < 0) {
		fprintf(stderr, "uffdbox diff: cannot read %s: %s\n", path, strerror(-rc));
		return -1;
	}
	lg->r = calloc(lg->lines.nlines + 1, sizeof(*lg->r));
	if (!lg->r) {
		fprintf(stderr, "uffdbox diff: %s: out of memory\n", path);
		return -1;
	}
	for (size_t i = 0; i < lg->lines.nlines; i++) {
		const char *s = lg->lines.line[i];
		size_t n = lg->lines.len[i];
		struct uffdbox__jrec jr;
		if (uffdbox__blank(s, n))
			continue;
		if (uffdbox__json_object(s, n, &jr, err, sizeof(err)) < 0) {
			fprintf(stderr, "uffdbox diff: %s:%zu: not a JSON record: %s\n", path,
				i + 1, err);
			return -1;
		}
		if (!uffdbox__json_get(&jr, "kind")) {
			fprintf(stderr, "uffdbox diff: %s:%zu: %s\n", path, i + 1, not_a_log);
			return -1;
		}
		struct rec *r = &lg->r[lg->n++];
		r->line = i + 1;
		r->raw = s;
		r->rawlen = n;
		size_t kl = 0;
		FILE *m = open_memstream(&r->key, &kl);
		if (!m)
			return -1;
		for (int k = 0; k < jr.n; k++) {
			const struct uffdbox__jfield *f = &jr.f[k];
			if (ignored(o, f->key, f->klen))
				continue;
			fprintf(m, "%.*s=", (int)f->klen, f->key);
			if (is_frames(f) && !o->exact)
				frame_names(f, m);
			else
				fwrite(f->val, 1, f->vlen, m);
			fputc('\x1f', m);
		}
		if (fclose(m) != 0)
			return -1;
		r->hash = fnv(r->key);
	}
	if (lg->n == 0) {
		fprintf(stderr, "uffdbox diff: %s: %s\n", path, empty_log);
		return -1;
	}
	return 0;
}

static bool same(const struct rec *a, const struct rec *b)
{
	return a->hash == b->hash && strcmp(a->key, b->key) == 0;
}

/* An edit script: for each aligned step, 'a' (A only), 'b' (B only), or
 * '=' (both). */
struct step {
	char op;
	size_t ia, ib; /* indices into the records */
};

/*
 * Myers' greedy forward search for the shortest edit script between
 * a[0..n) and b[0..m), keeping each round's V so the path can be walked
 * back.  Returns the number of steps written to *out, or -1 when more than
 * MAX_EDITS edits are needed.
 */
static long myers(const struct rec *a, size_t n, const struct rec *b, size_t m, struct step **out)
{
	long N = (long)n, M = (long)m, max = N + M;
	if (max > MAX_EDITS)
		max = MAX_EDITS;
	long off = max + 1, width = 2 * max + 3;
	long *v = calloc((size_t)width, sizeof(long));
	long **trace = calloc((size_t)max + 2, sizeof(long *));
	long D = -1;

	if (!v || !trace)
		goto fail;
	for (long d = 0; d <= max && D < 0; d++) {
		trace[d] = malloc((size_t)width * sizeof(long));
		if (!trace[d])
			goto fail;
		for (long k = -d; k <= d; k += 2) {
			long x;
			if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			long y = x - k;
			while (x < N && y < M && same(&a[x], &b[y])) {
				x++;
				y++;
			}
			v[off + k] = x;
			if (x >= N && y >= M) {
				D = d;
				break;
			}
		}
		memcpy(trace[d], v, (size_t)width * sizeof(long));
	}
	if (D < 0)
		goto fail;
	/* Walk back from (N, M). */
	struct step *s = malloc((size_t)(N + M + 1) * sizeof(*s));
	if (!s)
		goto fail;
	long ns = 0, x = N, y = M;
	for (long d = D; d >= 0; d--) {
		long k = x - y, pk;
		if (d == 0)
			pk = 0;
		else if (k == -d ||
			 (k != d && trace[d - 1][off + k - 1] < trace[d - 1][off + k + 1]))
			pk = k + 1;
		else
			pk = k - 1;
		long px = d ? trace[d - 1][off + pk] : 0, py = px - pk;
		while (x > px && y > py) {
			x--;
			y--;
			s[ns++] = (struct step){'=', (size_t)x, (size_t)y};
		}
		if (d == 0)
			break;
		if (x == px)
			s[ns++] = (struct step){'b', (size_t)x, (size_t)--y};
		else
			s[ns++] = (struct step){'a', (size_t)--x, (size_t)y};
	}
	/* Reverse into order. */
	for (long i = 0; i < ns / 2; i++) {
		struct step t = s[i];
		s[i] = s[ns - 1 - i];
		s[ns - 1 - i] = t;
	}
	for (long d = 0; d <= max + 1; d++)
		free(trace[d]);
	free(trace);
	free(v);
	*out = s;
	return ns;
fail:
	if (trace)
		for (long d = 0; d <= max + 1; d++)
			free(trace[d]);
	free(trace);
	free(v);
	return -1;
}

/* Too different for an alignment: pair records by position. */
static long by_position(size_t n, size_t m, struct step **out)
{
	struct step *s = malloc((n + m + 1) * sizeof(*s));
	long ns = 0;
	if (!s)
		return -1;
	for (size_t i = 0; i < n || i < m; i++) {
		if (i < n)
			s[ns++] = (struct step){'a', i, i < m ? i : m};
		if (i < m)
			s[ns++] = (struct step){'b', i < n ? i : n, i};
	}
	*out = s;
	return ns;
}

/* One record, for people: the usual fields as columns, the rest as k=v. */
static void show(FILE *f, const struct rec *r)
{
	struct uffdbox__jrec jr;
	char kind[64], name[128], acc[16], res[16], dig[24];

	if (uffdbox__json_object(r->raw, r->rawlen, &jr, NULL, 0) < 0) {
		fprintf(f, "%.*s", (int)r->rawlen, r->raw);
		return;
	}
	uffdbox__json_str(uffdbox__json_get(&jr, "kind"), kind, sizeof(kind));
	const struct uffdbox__jfield *seq = uffdbox__json_get(&jr, "seq");
	if (seq && uffdbox__json_get(&jr, "page")) {
		uffdbox__json_str(uffdbox__json_get(&jr, "region_name"), name, sizeof(name));
		uffdbox__json_str(uffdbox__json_get(&jr, "access"), acc, sizeof(acc));
		uffdbox__json_str(uffdbox__json_get(&jr, "resolution"), res, sizeof(res));
		uffdbox__json_str(uffdbox__json_get(&jr, "digest"), dig, sizeof(dig));
		fprintf(f, "#%-4lld %-15s %s[%lld] page %lld +%lld len %lld %-5s T%lld %-9s %s",
			(long long)uffdbox__json_int(seq, -1), kind, name,
			(long long)uffdbox__json_int(uffdbox__json_get(&jr, "region"), -1),
			(long long)uffdbox__json_int(uffdbox__json_get(&jr, "page"), -1),
			(long long)uffdbox__json_int(uffdbox__json_get(&jr, "offset"), -1),
			(long long)uffdbox__json_int(uffdbox__json_get(&jr, "len"), -1), acc,
			(long long)uffdbox__json_int(uffdbox__json_get(&jr, "thread"), -1), res,
			dig);
		return;
	}
	/* Other records (header, report): their fields as they are. */
	fprintf(f, "%s:", kind[0] ? kind : "record");
	for (int k = 0; k < jr.n; k++) {
		const struct uffdbox__jfield *x = &jr.f[k];
		if ((x->klen == 4 && memcmp(x->key, "kind", 4) == 0))
			continue;
		if (is_frames(x)) {
			fprintf(f, " %.*s=", (int)x->klen, x->key);
			frame_names(x, f);
			continue;
		}
		fprintf(f, " %.*s=%.*s", (int)x->klen, x->key, (int)x->vlen, x->val);
	}
}

/* The comparable fields that differ between two records, one per line. */
static void show_changes(FILE *f, const struct rec *a, const struct rec *b)
{
	const char *p = a->key;
	/* Fields of A: changed or gone. */
	while (*p) {
		const char *e = strchr(p, '\x1f'), *eq = memchr(p, '=', (size_t)(e - p));
		size_t kl = (size_t)(eq - p);
		const char *q = b->key, *found = NULL, *fe = NULL;
		while (*q) {
			const char *qe = strchr(q, '\x1f');
			if (strncmp(q, p, kl + 1) == 0) {
				found = q + kl + 1;
				fe = qe;
				break;
			}
			q = qe + 1;
		}
		if (!found)
			fprintf(f, "      %.*s: %.*s -> (absent)\n", (int)kl, p, (int)(e - eq - 1),
				eq + 1);
		else if ((size_t)(fe - found) != (size_t)(e - eq - 1) ||
			 memcmp(found, eq + 1, (size_t)(fe - found)) != 0)
			fprintf(f, "      %.*s: %.*s -> %.*s\n", (int)kl, p, (int)(e - eq - 1),
				eq + 1, (int)(fe - found), found);
		p = e + 1;
	}
	/* Fields only in B. */
	for (const char *q = b->key; *q;) {
		const char *qe = strchr(q, '\x1f'), *eq = memchr(q, '=', (size_t)(qe - q));
		size_t kl = (size_t)(eq - q);
		bool in_a = false;
		for (const char *r = a->key; *r;) {
			const char *re = strchr(r, '\x1f');
			if (strncmp(r, q, kl + 1) == 0)
				in_a = true;
			r = re + 1;
		}
		if (!in_a)
			fprintf(f, "      %.*s: (absent) -> %.*s\n", (int)kl, q, (int)(qe - eq - 1),
				eq + 1);
		q = qe + 1;
	}
}

struct counts {
	long changed, only_a, only_b;
};

static void print_hunks(const struct log *A, const struct log *B, const struct step *s, long ns,
			long ctx, struct counts *n)
{
	long i = 0;
	while (i < ns) {
		if (s[i].op == '=') {
			i++;
			continue;
		}
		/* A hunk: from ctx equal steps before this change to ctx after
		 * the last change that is within 2*ctx of the previous one. */
		long start = i, end = i;
		for (long j = i; j < ns; j++) {
			if (s[j].op != '=') {
				end = j;
				continue;
			}
			if (j - end > 2 * ctx)
				break;
		}
		long from = start - ctx < 0 ? 0 : start - ctx;
		long to = end + ctx >= ns ? ns - 1 : end + ctx;
		printf("@@ %s line %zu, %s line %zu @@\n", A->path,
		       s[from].ia < A->n ? A->r[s[from].ia].line : A->lines.nlines + 1, B->path,
		       s[from].ib < B->n ? B->r[s[from].ib].line : B->lines.nlines + 1);
		for (long j = from; j <= to; j++) {
			if (s[j].op == '=') {
				printf("  %6zu %6zu  ", A->r[s[j].ia].line, B->r[s[j].ib].line);
				show(stdout, &B->r[s[j].ib]);
				putchar('\n');
				continue;
			}
			/* A run of removals and additions: pair them up as
			 * changes where both sides have one. */
			long ra = j, rb;
			while (ra <= to && s[ra].op == 'a')
				ra++;
			rb = ra;
			while (rb <= to && s[rb].op == 'b')
				rb++;
			long na = ra - j, nb = rb - ra, pairs = na < nb ? na : nb;
			n->changed += pairs;
			n->only_a += na - pairs;
			n->only_b += nb - pairs;
			for (long p = 0; p < pairs; p++) {
				const struct rec *a = &A->r[s[j + p].ia], *b = &B->r[s[ra + p].ib];
				printf("~ %6zu %6zu  ", a->line, b->line);
				show(stdout, b);
				putchar('\n');
				show_changes(stdout, a, b);
			}
			for (long p = pairs; p < na; p++) {
				printf("- %6zu %6s  ", A->r[s[j + p].ia].line, "");
				show(stdout, &A->r[s[j + p].ia]);
				putchar('\n');
			}
			for (long p = pairs; p < nb; p++) {
				printf("+ %6s %6zu  ", "", B->r[s[ra + p].ib].line);
				show(stdout, &B->r[s[ra + p].ib]);
				putchar('\n');
			}
			j = (na || nb) ? rb - 1 : j;
		}
		i = to + 1;
	}
}

/* --normalize: the log as the comparison sees it, as JSON Lines again
 * (what golden files hold): timestamps dropped, frames cut to their
 * function names.  seq stays: the order is what a reader looks for. */
static int normalize(const char *path)
{
	struct uffdbox__lines l;
	char err[160];
	int rc = uffdbox__lines_read(path, &l);
	size_t nonblank = 0;

	if (rc < 0) {
		fprintf(stderr, "uffdbox diff: cannot read %s: %s\n", path, strerror(-rc));
		return UFFDBOX_EXIT_USAGE;
	}
	for (size_t i = 0; i < l.nlines; i++) {
		struct uffdbox__jrec jr;
		if (uffdbox__blank(l.line[i], l.len[i]))
			continue;
		nonblank++;
		if (uffdbox__json_object(l.line[i], l.len[i], &jr, err, sizeof(err)) < 0) {
			fprintf(stderr, "uffdbox diff: %s:%zu: not a JSON record: %s\n", path,
				i + 1, err);
			uffdbox__lines_free(&l);
			return UFFDBOX_EXIT_USAGE;
		}
		if (!uffdbox__json_get(&jr, "kind")) {
			fprintf(stderr, "uffdbox diff: %s:%zu: %s\n", path, i + 1, not_a_log);
			uffdbox__lines_free(&l);
			return UFFDBOX_EXIT_USAGE;
		}
		bool first = true;
		putchar('{');
		for (int k = 0; k < jr.n; k++) {
			const struct uffdbox__jfield *f = &jr.f[k];
			if (f->klen == 5 && memcmp(f->key, "ts_ns", 5) == 0)
				continue;
			printf("%s\"%.*s\":", first ? "" : ",", (int)f->klen, f->key);
			first = false;
			if (!is_frames(f)) {
				fwrite(f->val, 1, f->vlen, stdout);
				continue;
			}
			const char *pos = NULL, *e;
			size_t el;
			bool ff = true;
			putchar('[');
			while (uffdbox__json_array_next(f, &pos, &e, &el)) {
				struct uffdbox__jrec fr;
				const struct uffdbox__jfield *fn = NULL;
				if (uffdbox__json_object(e, el, &fr, NULL, 0) == 0)
					fn = uffdbox__json_get(&fr, "fn");
				printf("%s{\"fn\":%.*s}", ff ? "" : ",", fn ? (int)fn->vlen : 4,
				       fn ? fn->val : "\"??\"");
				ff = false;
			}
			putchar(']');
		}
		puts("}");
	}
	uffdbox__lines_free(&l);
	if (!nonblank) {
		fprintf(stderr, "uffdbox diff: %s: %s\n", path, empty_log);
		return UFFDBOX_EXIT_USAGE;
	}
	return UFFDBOX_EXIT_OK;
}

static void free_log(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->r[i].key);
	free(l->r);
	uffdbox__lines_free(&l->lines);
}

static int diff_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"context", required_argument, NULL, 'U'},
		{"ignore", required_argument, NULL, 'i'},
		{"exact", no_argument, NULL, 'x'},
		{"frames", no_argument, NULL, 'f'},
		{"normalize", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {.context = 3};
	const char *norm = NULL;
	int c, rc = UFFDBOX_EXIT_USAGE;

	opterr = 0;
	o.ignore = calloc((size_t)argc, sizeof(char *));
	while ((c = getopt_long(argc, argv, ":qU:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quiet = true;
			break;
		case 'U': {
			char *end;
			errno = 0;
			o.context = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || o.context < 0 || o.context > 1000) {
				free(o.ignore);
				return uffdbox__usage(
					&uffdbox__cmd_diff,
					"--context takes a number from 0 to 1000, not "
					"'%s'",
					optarg);
			}
			break;
		}
		case 'i':
			o.ignore[o.nignore++] = optarg;
			break;
		case 'x':
			o.exact = true;
			break;
		case 'f':
			o.frames = true;
			break;
		case 'n':
			norm = optarg;
			break;
		case 'h':
			free(o.ignore);
			uffdbox__cmd_help(&uffdbox__cmd_diff, stdout);
			return UFFDBOX_EXIT_OK;
		case ':':
			free(o.ignore);
			return uffdbox__usage(&uffdbox__cmd_diff, "%s needs a value",
					      argv[optind - 1]);
		default:
			free(o.ignore);
			return uffdbox__usage(&uffdbox__cmd_diff, "unknown option %s",
					      argv[optind - 1]);
		}
	}
	if (norm) {
		free(o.ignore);
		if (optind != argc)
			return uffdbox__usage(&uffdbox__cmd_diff, "--normalize takes one log, and "
								  "no other file");
		return normalize(norm);
	}
	if (argc - optind != 2) {
		free(o.ignore);
		return uffdbox__usage(&uffdbox__cmd_diff, "two logs expected, A and B (got %d)",
				      argc - optind);
	}
	struct log A = {0}, B = {0};
	struct step *s = NULL;
	if (load(&o, argv[optind], &A) < 0 || load(&o, argv[optind + 1], &B) < 0)
		goto out;
	/* Common prefix and suffix first: the search only sees the middle. */
	size_t pre = 0, suf = 0;
	while (pre < A.n && pre < B.n && same(&A.r[pre], &B.r[pre]))
		pre++;
	while (suf < A.n - pre && suf < B.n - pre && same(&A.r[A.n - 1 - suf], &B.r[B.n - 1 - suf]))
		suf++;
	if (pre == A.n && pre == B.n) {
		if (!o.quiet)
			printf("%s and %s: the same %zu records\n", A.path, B.path, A.n);
		rc = UFFDBOX_EXIT_OK;
		goto out;
	}
	rc = UFFDBOX_EXIT_FINDING;
	if (o.quiet)
		goto out;
	struct step *mid = NULL;
	bool aligned = true;
	long nm = myers(A.r + pre, A.n - pre - suf, B.r + pre, B.n - pre - suf, &mid);
	if (nm < 0) {
		aligned = false;
		nm = by_position(A.n - pre - suf, B.n - pre - suf, &mid);
	}
	if (nm < 0) {
		fprintf(stderr, "uffdbox diff: out of memory\n");
		rc = UFFDBOX_EXIT_USAGE;
		goto out;
	}
	long ns = (long)(pre + suf) + nm;
	s = malloc((size_t)(ns + 1) * sizeof(*s));
	if (!s) {
		free(mid);
		rc = UFFDBOX_EXIT_USAGE;
		goto out;
	}
	long k = 0;
	for (size_t i = 0; i < pre; i++)
		s[k++] = (struct step){'=', i, i};
	for (long i = 0; i < nm; i++)
		s[k++] = (struct step){mid[i].op, mid[i].ia + pre, mid[i].ib + pre};
	for (size_t i = 0; i < suf; i++)
		s[k++] = (struct step){'=', A.n - suf + i, B.n - suf + i};
	free(mid);
	struct counts cnt = {0};
	printf("--- %s (%zu records)\n+++ %s (%zu records)\n", A.path, A.n, B.path, B.n);
	if (!aligned)
		printf("(more than %d differences: records paired by position)\n", MAX_EDITS);
	printf("   A line B line\n");
	print_hunks(&A, &B, s, ns, o.context, &cnt);
	printf("%ld record(s) changed, %ld only in %s, %ld only in %s%s\n", cnt.changed, cnt.only_a,
	       A.path, cnt.only_b, B.path,
	       o.exact ? "" : " (seq, ts_ns, the uffdbox version and stack frames not compared)");
out:
	free(s);
	free_log(&A);
	free_log(&B);
	free(o.ignore);
	return rc;
}

const struct uffdbox__cmd uffdbox__cmd_diff = {
	.name = "diff",
	.summary = "compare two event logs, aligned",
	.synopsis = "uffdbox diff [OPTIONS] A.jsonl B.jsonl\n"
		    "uffdbox diff --normalize LOG.jsonl",
	.description =
		"Compare two event logs (JSON Lines, docs/event-log.md) record by record, after\n"
		"leaving out what legitimately varies between two runs of the same input: seq\n"
		"(the position in the log gives the order, and one extra record must not make\n"
		"every later one differ), ts_ns, the header's uffdbox version, and the stack\n"
		"frames of report records (module offsets and inlining change with every build).\n"
		"Addresses and kernel thread ids never appear in a log: regions, pages, offsets\n"
		"and logical thread ids do, and are compared.\n"
		"\n"
		"The records are aligned (Myers' diff), so an extra or a missing fault shows as\n"
		"one record. Hunks show both files' line numbers: '-' only in A, '+' only in B,\n"
		"'~' at the same place in both, followed by the fields that differ.",
	.options = "  -q, --quiet         print nothing; the exit status tells\n"
		   "  -U, --context N     records of context around each change (default 3)\n"
		   "  --ignore FIELD      leave FIELD out of the comparison too (repeatable)\n"
		   "  --frames            compare the function names of report stack frames\n"
		   "  --exact             compare every field, seq and ts_ns included\n"
		   "  --normalize LOG     print LOG as compared: without ts_ns, stack frames cut\n"
		   "                      to their function names (what golden files hold)\n"
		   "  -h, --help          this text\n",
	.exit_status = "0 the logs are equal, 1 they differ, 2 a usage error, an unreadable\n"
		       "file or a line that is not a JSON object (the file and line are named).",
	.more = "Examples:\n"
		"  uffdbox diff tests/golden/planted_uau.jsonl /tmp/run.jsonl\n"
		"  uffdbox diff --normalize /tmp/run.jsonl > tests/golden/planted_uau.jsonl\n",
	.main = diff_main,
};
