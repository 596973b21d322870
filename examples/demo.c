/* SPDX-License-Identifier: MIT */
/*
 * examples/demo.c - the Quick start demo: a guarded region whose faults are
 * served with injected contents, and a guard hit told apart from them.
 *
 * Both transports, by hand on the kernel layer:
 *   - sync: the faulting thread takes SIGBUS (UFFD_FEATURE_SIGBUS) and
 *     resolves its own fault with UFFDIO_COPY, then the access retries;
 *   - served: a handler thread reads the fault message and resolves it.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <uffdbox.h>

static struct uffdbox_uffd *sync_uffd;
static struct uffdbox_region *sync_region;
static char inject[1 << 16];
static volatile sig_atomic_t sync_faults;
static sigjmp_buf guard_jmp;
static void *volatile guard_addr;

/* The page contents the demo injects: text naming the page. */
static void fill_page(char *buf, size_t psz, const char *region, size_t page)
{
	memset(buf, 0, psz);
	snprintf(buf, psz, "<%s page %zu, injected by uffdbox>", region, page);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	size_t page, psz = uffdbox_region_page_size(sync_region);
	if (uffdbox_region_classify(sync_region, si->si_addr, &page) != UFFDBOX_ADDR_BODY)
		abort(); /* not ours: a real program would chain to the old handler */
	char *dst = (char *)uffdbox_region_addr(sync_region) + page * psz;
	/* Contents prepared before the run: a handler only does
	 * async-signal-safe work (one ioctl here). */
	uffdbox_uffd_copy(sync_uffd, dst, inject + page * psz, psz, UFFDBOX_EXIST_OK);
	sync_faults++;
}

static void on_sigsegv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	guard_addr = si->si_addr;
	siglongjmp(guard_jmp, 1);
}

struct server {
	struct uffdbox_uffd *u;
	struct uffdbox_region *r;
	unsigned int served;
};

static void *serve_one(void *arg)
{
	struct server *s = arg;
	struct pollfd p = {.fd = uffdbox_uffd_fd(s->u), .events = POLLIN};
	unsigned char msg[32];
	uint64_t flags, addr;
	size_t page, psz = uffdbox_region_page_size(s->r);
	char *buf = malloc(psz);

	if (poll(&p, 1, 5000) != 1 || uffdbox_uffd_read(s->u, msg, 32) != 32) {
		fprintf(stderr, "demo: no fault message arrived\n");
		exit(1);
	}
	memcpy(&flags, msg + 8, 8);
	memcpy(&addr, msg + 16, 8);
	uffdbox_region_classify(s->r, (void *)(uintptr_t)addr, &page);
	fill_page(buf, psz, "served", page);
	printf("  handler thread: message event=0x%02x flags=%s, region \"served\" page %zu "
	       "-> UFFDIO_COPY\n",
	       msg[0], (flags & 1) ? "WRITE" : "READ", page);
	uffdbox_uffd_copy(s->u, (char *)uffdbox_region_addr(s->r) + page * psz, buf, psz, 0);
	s->served++;
	free(buf);
	return NULL;
}

static int fail(const char *what, int rc, const char *err)
{
	fprintf(stderr, "demo: %s: %s%s%s\n", what, uffdbox_strerror(rc), err[0] ? ": " : "", err);
	return 1;
}

int main(void)
{
	char err[1024] = "", feats[512];
	struct utsname un;
	int rc;

	uname(&un);
	struct uffdbox_uffd_opts uo = {.sz = sizeof(uo),
				       .need_features = UFFD_FEATURE_SIGBUS,
				       .errbuf = err,
				       .errbuf_len = sizeof(err)};
	rc = uffdbox_uffd_open(&uo, &sync_uffd);
	if (rc < 0)
		return fail("open userfaultfd", rc, err);
	if (uffdbox_uffd_backend(sync_uffd) == UFFDBOX_BACKEND_SIGNAL) {
		/* This demo reads fault messages from the fd: a userfaultfd's own. */
		printf("demo: skipped: userfaultfd is not available here, the signal backend "
		       "stands in (see docs/backends.md); scripts/demo.sh's fuzz campaigns "
		       "run on it\n");
		return 77;
	}
	uint64_t avail = 0;
	uffdbox_uffd_probe(NULL, &avail, NULL);
	uffdbox_features_format(avail, feats, sizeof(feats));
	static const char *const methods[] = {
		[1] = "syscall (user-mode only)", [2] = "/dev/userfaultfd", [4] = "syscall"};
	printf("uffdbox demo on Linux %s\n", un.release);
	printf("  userfaultfd opened via %s; kernel features: %s\n\n",
	       methods[uffdbox_uffd_method(sync_uffd)], feats);

	/* 1. sync transport: faults resolved in the faulting thread. */
	struct uffdbox_region_opts ro = {.sz = sizeof(ro),
					 .pages = 4,
					 .name = "input",
					 .errbuf = err,
					 .errbuf_len = sizeof(err)};
	rc = uffdbox_region_new(sync_uffd, &ro, &sync_region);
	if (rc < 0)
		return fail("create region", rc, err);
	size_t psz = uffdbox_region_page_size(sync_region);
	char *p = uffdbox_region_addr(sync_region);
	for (size_t i = 0; i < 4 && (i + 1) * psz <= sizeof(inject); i++)
		fill_page(inject + i * psz, psz, "input", i);
	printf("region \"input\": 4 pages of %zu bytes between guard pages (%s)\n", psz,
	       uffdbox_region_guard(sync_region) == UFFDBOX_GUARD_MADVISE ? "MADV_GUARD_INSTALL"
									  : "PROT_NONE mappings");

	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sa.sa_sigaction = on_sigsegv;
	sigaction(SIGSEGV, &sa, NULL);

	printf("  read page 0: \"%s\"\n", p);
	printf("  read page 3: \"%s\"\n", p + 3 * psz);
	volatile char again = p[1];
	(void)again;
	printf("  read page 0 again: no fault (%d faults so far, each one SIGBUS resolved in "
	       "the faulting thread)\n",
	       (int)sync_faults);

	/* 2. a guard hit: one byte past the end. */
	if (sigsetjmp(guard_jmp, 1) == 0) {
		p[4 * psz] = 'X';
		printf("  write past the end: NOT stopped (no guard?)\n");
	} else {
		size_t off = (size_t)((char *)guard_addr - p);
		printf("  write at offset %zu (1 byte past the last page): %s -> guard hit, "
		       "SIGSEGV, "
		       "not a registered fault\n",
		       off,
		       uffdbox_region_classify(sync_region, guard_addr, NULL) ==
				       UFFDBOX_ADDR_GUARD_AFTER
			       ? "guard after the region"
			       : "?");
	}

	/* 3. served transport: a handler thread resolves the fault. */
	struct uffdbox_uffd *su;
	struct uffdbox_region *sr;
	uo.need_features = 0;
	if ((rc = uffdbox_uffd_open(&uo, &su)) < 0)
		return fail("open userfaultfd", rc, err);
	ro.name = "served";
	ro.pages = 2;
	if ((rc = uffdbox_region_new(su, &ro, &sr)) < 0)
		return fail("create region", rc, err);
	struct server s = {.u = su, .r = sr};
	pthread_t tid;
	printf("\nregion \"served\": 2 pages, faults go to a handler thread\n");
	pthread_create(&tid, NULL, serve_one, &s);
	char *q = uffdbox_region_addr(sr), line[128];
	/* Touch the page outside printf: the handler thread prints too, and
	 * a fault taken while holding stdout's lock would deadlock with it. */
	fflush(stdout);
	snprintf(line, sizeof(line), "%s", q + psz);
	pthread_join(tid, NULL);
	printf("  main thread read page 1: \"%s\"\n", line);

	printf("\nsummary: %d faults resolved in-thread (sync), %u by the handler thread "
	       "(served), 1 guard hit\n",
	       (int)sync_faults, s.served);
	uffdbox_region_free(sr);
	uffdbox_uffd_close(su);
	uffdbox_region_free(sync_region);
	uffdbox_uffd_close(sync_uffd);
	return sync_faults == 2 && s.served == 1 ? 0 : 1;
}
