/* SPDX-License-Identifier: MIT */
/*
 * tests/test_opts.c - every public options struct, read as the kernel's
 * copy_struct_from_user() reads: .sz 0 and too small are -EINVAL, exact and
 * larger with a zero tail work, larger with a non-zero tail is -E2BIG, and
 * the errbuf names the fix.  NULL objects and outputs are -EINVAL.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"

#define TAIL 64 /* bytes of a "newer" struct past the ones we know */

/* One options-taking call: fill valid options into @buf (zeroed, sizeof +
 * TAIL bytes), make the call, undo what it made. */
struct opts_case {
	const char *type;
	size_t size;	 /* sizeof the struct */
	long errbuf_off; /* offsetof errbuf, -1 when the struct has none */
	const char *fix; /* the text errbuf must hold (for policy: region's) */
	void (*fill)(void *buf, char *errbuf, size_t errbuf_len);
	int (*call)(void *buf, char *errbuf, size_t errbuf_len);
};

static void fill_uffd(void *b, char *eb, size_t n)
{
	struct uffdbox_uffd_opts *o = b;
	o->errbuf = eb;
	o->errbuf_len = n;
}

static int call_uffd(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_uffd *u;
	int rc = uffdbox_uffd_open(b, &u);
	if (rc == 0)
		uffdbox_uffd_close(u);
	return rc;
}

static int call_probe(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	uint64_t f;
	return uffdbox_uffd_probe(b, &f, NULL);
}

static void fill_region(void *b, char *eb, size_t n)
{
	struct uffdbox_region_opts *o = b;
	o->pages = 2;
	o->name = "opts";
	o->errbuf = eb;
	o->errbuf_len = n;
}

static int call_region(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_region *r;
	int rc = uffdbox_region_new(NULL, b, &r);
	if (rc == 0)
		uffdbox_region_free(r);
	return rc;
}

static void fill_sandbox(void *b, char *eb, size_t n)
{
	struct uffdbox_sandbox_opts *o = b;
	o->transport = UFFDBOX_TRANSPORT_SERVED; /* not the zero default */
	o->errbuf = eb;
	o->errbuf_len = n;
}

static int call_sandbox(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_sandbox *sb;
	int rc = uffdbox_sandbox_new(b, &sb);
	if (rc == 0)
		uffdbox_sandbox_free(sb);
	return rc;
}

static void fill_policy(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_policy *p = b;
	static const char pat[] = "ab";
	p->source = UFFDBOX_SOURCE_PATTERN; /* not the zero default */
	p->data = pat;
	p->data_len = 2;
}

/* The policy through both calls that take one. */
static int call_policy(void *b, char *eb, size_t n)
{
	struct uffdbox_sandbox *sb;
	UFFDBOX_OPTS(uffdbox_sandbox_opts, so, .transport = UFFDBOX_TRANSPORT_SYNC);
	int rc = uffdbox_sandbox_new(&so, &sb);
	if (rc < 0)
		return 1000 + rc; /* no sandbox at all: not what is tested */
	UFFDBOX_OPTS(uffdbox_region_opts, ro, .pages = 1, .errbuf = eb, .errbuf_len = n);
	rc = uffdbox_sandbox_add_region(sb, &ro, b);
	if (rc >= 0) {
		int rc2 = uffdbox_sandbox_set_policy(sb, rc, b);
		rc = rc2 < 0 ? rc2 : 0;
	} else {
		/* set_policy checks it the same way */
		int ri = uffdbox_sandbox_add_region(sb, &ro, NULL);
		if (ri < 0 || uffdbox_sandbox_set_policy(sb, ri, b) != rc)
			rc = 2000;
	}
	uffdbox_sandbox_free(sb);
	return rc;
}

static void fill_snapshot(void *b, char *eb, size_t n)
{
	struct uffdbox_snapshot_opts *o = b;
	o->mode = UFFDBOX_SNAPSHOT_COPY;
	o->errbuf = eb;
	o->errbuf_len = n;
}

static int call_snapshot(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_snapshot *s;
	int rc = uffdbox_snapshot_new(b, &s);
	if (rc == 0)
		uffdbox_snapshot_free(s);
	return rc;
}

static void fill_fsm(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_fsm_region_opts *o = b;
	o->start = 0x100000;
	o->pages = 4;
}

static int call_fsm(void *b, char *eb, size_t n)
{
	(void)eb;
	(void)n;
	struct uffdbox_fsm *f;
	int rc = uffdbox_fsm_new(4, &f);
	if (rc < 0)
		return 1000 + rc;
	rc = uffdbox_fsm_region_add(f, b);
	uffdbox_fsm_free(f);
	return rc < 0 ? rc : 0;
}

#define ERRBUF_AT(type) ((long)offsetof(struct type, errbuf))
static const struct opts_case cases[] = {
	{"uffdbox_uffd_opts", sizeof(struct uffdbox_uffd_opts), ERRBUF_AT(uffdbox_uffd_opts),
	 "set .sz = sizeof(struct uffdbox_uffd_opts)", fill_uffd, call_uffd},
	{"uffdbox_uffd_opts (probe)", sizeof(struct uffdbox_uffd_opts),
	 ERRBUF_AT(uffdbox_uffd_opts), "set .sz = sizeof(struct uffdbox_uffd_opts)", fill_uffd,
	 call_probe},
	{"uffdbox_region_opts", sizeof(struct uffdbox_region_opts), ERRBUF_AT(uffdbox_region_opts),
	 "set .sz = sizeof(struct uffdbox_region_opts)", fill_region, call_region},
	{"uffdbox_sandbox_opts", sizeof(struct uffdbox_sandbox_opts),
	 ERRBUF_AT(uffdbox_sandbox_opts), "set .sz = sizeof(struct uffdbox_sandbox_opts)",
	 fill_sandbox, call_sandbox},
	{"uffdbox_policy", sizeof(struct uffdbox_policy), -1,
	 "set .sz = sizeof(struct uffdbox_policy)", fill_policy, call_policy},
	{"uffdbox_snapshot_opts", sizeof(struct uffdbox_snapshot_opts),
	 ERRBUF_AT(uffdbox_snapshot_opts), "set .sz = sizeof(struct uffdbox_snapshot_opts)",
	 fill_snapshot, call_snapshot},
	{"uffdbox_fsm_region_opts", sizeof(struct uffdbox_fsm_region_opts), -1, NULL, fill_fsm,
	 call_fsm},
};

/* Run case @c with .sz = @sz and byte @poke (past the struct) set when >= 0;
 * assert the result is @want and, for errors, that errbuf names the fix. */
static void one(const struct opts_case *c, size_t sz, long poke, int want)
{
	union {
		size_t sz;
		unsigned char b[512];
	} u;
	char errbuf[512] = "";

	memset(&u, 0, sizeof(u));
	c->fill(u.b, errbuf, sizeof(errbuf));
	u.sz = sz;
	if (poke >= 0)
		u.b[poke] = 0x5a;
	int rc = c->call(u.b, errbuf, sizeof(errbuf));
	printf("  %-26s sz=%-4zu%s -> %d %s\n", c->type, sz, poke >= 0 ? " +tail" : "      ", rc,
	       errbuf);
	ASSERT_EQ(rc, want);
	if (rc < 0 && c->fix)
		ASSERT_CONTAINS(errbuf, c->fix);
}

TEST_CASE(opts_table, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct opts_case *c = &cases[i];
		ASSERT_LE(c->size + TAIL, 512);
		one(c, 0, -1, -EINVAL);
		one(c, sizeof(size_t), -1, -EINVAL);
		one(c, c->size - 8, -1, -EINVAL); /* the last field cut off */
		one(c, c->size, -1, 0);
		one(c, c->size + TAIL, -1, 0);
		one(c, c->size + TAIL, (long)c->size, -E2BIG);
		one(c, c->size + TAIL, (long)(c->size + TAIL - 1), -E2BIG);
		/* .sz past the struct but the poke beyond .sz: not read */
		one(c, c->size + 8, (long)(c->size + 8), 0);
	}
}

TEST_CASE(opts_null_objects, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	UFFDBOX_OPTS(uffdbox_region_opts, ro, .pages = 1);
	UFFDBOX_OPTS(uffdbox_fsm_region_opts, fo, .start = 0x100000, .pages = 1);
	struct uffdbox_sandbox *sb;
	struct uffdbox_snapshot *s;
	struct uffdbox_fsm *f;

	ASSERT_ERR(uffdbox_uffd_open(NULL, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_uffd_probe(NULL, NULL, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_region_new(NULL, &ro, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_sandbox_new(NULL, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_sandbox_add_region(NULL, &ro, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_sandbox_set_policy(NULL, 0, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_snapshot_new(NULL, NULL), -EINVAL);
	ASSERT_ERR(uffdbox_snapshot_add(NULL, NULL, 4096), -EINVAL);
	ASSERT_ERR(uffdbox_snapshot_take(NULL), -EINVAL);
	ASSERT_ERR(uffdbox_snapshot_restore(NULL), -EINVAL);
	ASSERT_ERR(uffdbox_fsm_region_add(NULL, &fo), -EINVAL);
	ASSERT_OK(uffdbox_fsm_new(2, &f));
	ASSERT_ERR(uffdbox_fsm_region_add(f, NULL), -EINVAL);
	uffdbox_fsm_free(f);

	ASSERT_OK(uffdbox_sandbox_new(NULL, &sb));
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, NULL, NULL), -EINVAL);
	uffdbox_sandbox_free(sb);

	/* COPY mode: add(NULL) is refused with its cause, and take() works
	 * (it crashed on the NULL range). */
	char errbuf[128] = "";
	UFFDBOX_OPTS(uffdbox_snapshot_opts, so, .mode = UFFDBOX_SNAPSHOT_COPY, .errbuf = errbuf,
		     .errbuf_len = sizeof(errbuf));
	ASSERT_OK(uffdbox_snapshot_new(&so, &s));
	ASSERT_ERR(uffdbox_snapshot_add(s, NULL, 4096), -EINVAL);
	ASSERT_CONTAINS(errbuf, "addr is NULL");
	ASSERT_OK(uffdbox_snapshot_take(s));
	uffdbox_snapshot_free(s);
}

static int fill_ab(void *arg, int region, uint64_t index, void *page, size_t len)
{
	(void)arg;
	(void)region;
	(void)index;
	memset(page, 'c', len);
	return 0;
}

TEST_CASE(opts_silent_traps, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	char errbuf[256] = "";
	struct uffdbox_sandbox *sb;

	/* SERVED without .sz became SYNC */
	struct uffdbox_sandbox_opts bad = {.transport = UFFDBOX_TRANSPORT_SERVED,
					   .errbuf = errbuf,
					   .errbuf_len = sizeof(errbuf)};
	ASSERT_ERR(uffdbox_sandbox_new(&bad, &sb), -EINVAL);
	ASSERT_CONTAINS(errbuf, "set .sz = sizeof(struct uffdbox_sandbox_opts)");

	ASSERT_OK(uffdbox_sandbox_new(NULL, &sb));
	/* A policy without .sz dropped its callback (the target saw zeros) */
	struct uffdbox_policy nosz = {.source = UFFDBOX_SOURCE_CALLBACK, .fill = fill_ab};
	UFFDBOX_OPTS(uffdbox_region_opts, ro, .pages = 2, .errbuf = errbuf,
		     .errbuf_len = sizeof(errbuf));
	errbuf[0] = 0;
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ro, &nosz), -EINVAL);
	ASSERT_CONTAINS(errbuf, "set .sz = sizeof(struct uffdbox_policy)");
	/* Region options without .sz: -EINVAL with the fix in errbuf */
	struct uffdbox_region_opts ronosz = {
		.pages = 2, .errbuf = errbuf, .errbuf_len = sizeof(errbuf)};
	errbuf[0] = 0;
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ronosz, NULL), -EINVAL);
	ASSERT_CONTAINS(errbuf, "set .sz = sizeof(struct uffdbox_region_opts)");
	/* A BUFFER longer than the region */
	static char big[3 * 65536];
	UFFDBOX_OPTS(uffdbox_policy, buf, .source = UFFDBOX_SOURCE_BUFFER, .data = big,
		     .data_len = 2 * (size_t)sysconf(_SC_PAGESIZE) + 1);
	ASSERT_ERR(uffdbox_sandbox_add_region(sb, &ro, &buf), -EINVAL);
	ASSERT_CONTAINS(errbuf, "BUFFER longer than the region");
	buf.data_len--;
	int ri = uffdbox_sandbox_add_region(sb, &ro, &buf);
	ASSERT_GE(ri, 0);
	/* With .sz the callback is used */
	UFFDBOX_OPTS(uffdbox_policy, cb, .source = UFFDBOX_SOURCE_CALLBACK, .fill = fill_ab);
	ri = uffdbox_sandbox_add_region(sb, &ro, &cb);
	ASSERT_GE(ri, 0);
	ASSERT_EQ(*(volatile char *)uffdbox_region_addr(uffdbox_sandbox_region(sb, ri)), 'c');
	uffdbox_sandbox_free(sb);
}
