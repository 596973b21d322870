/* SPDX-License-Identifier: MIT */
/* tests/test_determinism.c - same input, same log: byte for byte, run after
 * run, and across processes (fresh ASLR layouts). */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define RUNS 50

static int add(struct uffdbox_sandbox *sb, const char *name, size_t pages, unsigned int modes,
	       const struct uffdbox_policy *pol)
{
	struct uffdbox_region_opts ro = {
		.sz = sizeof(ro), .pages = pages, .name = name, .modes = modes};
	int ri = uffdbox_sandbox_add_region(sb, &ro, pol);
	ASSERT_OK(ri);
	return ri;
}

/* A fuzz-loop-like scenario in one thread: input bytes injected, pages read
 * in an input-dependent order, some written (WP events), one reset. */
static uint64_t scenario_single(char **jsonl, size_t *jsonl_len)
{
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SYNC};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	static unsigned char input[3 * 4096 + 123];
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (unsigned char)(i * 31 + (i >> 7));
	struct uffdbox_policy in = {.sz = sizeof(in),
				    .source = UFFDBOX_SOURCE_BUFFER,
				    .data = input,
				    .data_len = sizeof(input)};
	struct uffdbox_policy wp = {.sz = sizeof(wp), .action = UFFDBOX_POLICY_INJECT_WP};
	int ri = add(sb, "input", 8, 0, &in);
	int rw = add(sb, "state", 4, UFFDBOX_REG_WP, &wp);
	volatile char *a = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	volatile char *w = uffdbox_region_addr(uffdbox_sandbox_region(sb, rw));
	unsigned int sum = 0;
	for (int i = 0; i < 8; i++) {
		size_t page = input[i * 17] % 8, off = input[i * 29] % 4096;
		sum += (unsigned char)a[page * 4096 + off];
		w[(sum % 4) * 4096 + (sum % 4000)] = (char)sum; /* missing + WP */
	}
	ASSERT_OK(uffdbox_sandbox_reset_region(sb, rw, false));
	sum += (unsigned char)w[5];
	uint64_t d = uffdbox_sandbox_log_digest(sb);
	if (jsonl) {
		FILE *f = open_memstream(jsonl, jsonl_len);
		ASSERT_GE(uffdbox_sandbox_log_write(sb, f), 1);
		fclose(f);
	}
	uffdbox_sandbox_free(sb);
	return d;
}

struct worker {
	volatile char *held, *out;
	int index;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	char v = wk->held[wk->index * 4096 + 100 + wk->index]; /* paused here */
	wk->out[wk->index * 4096 + 7] = v;		       /* then a write elsewhere */
	return NULL;
}

/* Three threads frozen at faults in a fixed order, released in another. */
static uint64_t scenario_threads(char **jsonl, size_t *jsonl_len)
{
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .transport = UFFDBOX_TRANSPORT_SERVED};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	struct uffdbox_policy pause = {.sz = sizeof(pause), .action = UFFDBOX_POLICY_PAUSE};
	static const char pat[] = "abc";
	struct uffdbox_policy out = {
		.sz = sizeof(out), .source = UFFDBOX_SOURCE_PATTERN, .data = pat, .data_len = 3};
	int rh = add(sb, "held", 3, 0, &pause), ro = add(sb, "out", 3, 0, &out);
	struct worker wk[3];
	pthread_t th[3];
	struct uffdbox_paused pz[3];
	for (int i = 0; i < 3; i++) {
		wk[i] = (struct worker){
			.held = uffdbox_region_addr(uffdbox_sandbox_region(sb, rh)),
			.out = uffdbox_region_addr(uffdbox_sandbox_region(sb, ro)),
			.index = i,
		};
		ASSERT_EQ(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
		/* the next thread starts only once this one is frozen */
		ASSERT_OK(uffdbox_sandbox_wait_paused(sb, rh, (uint64_t)i, 5000, &pz[i]));
		ASSERT_EQ(pz[i].thread, (uint32_t)i + 1);
	}
	static const int order[3] = {2, 0, 1};
	char page[4096];
	for (int k = 0; k < 3; k++) {
		int i = order[k];
		memset(page, 'A' + i, sizeof(page));
		ASSERT_OK(uffdbox_sandbox_release(sb, pz[i].id, page));
		pthread_join(th[i], NULL); /* its write is logged before the next release */
	}
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 6);
	uint64_t d = uffdbox_sandbox_log_digest(sb);
	if (jsonl) {
		FILE *f = open_memstream(jsonl, jsonl_len);
		ASSERT_EQ(uffdbox_sandbox_log_write(sb, f), 6);
		fclose(f);
	}
	uffdbox_sandbox_free(sb);
	return d;
}

/* Run case @name in a fresh process (new ASLR layout) and read the digest
 * it prints. */
static uint64_t digest_in_new_process(const char *name)
{
	int pfd[2];
	char out[64] = "";
	ASSERT_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		execl("/proc/self/exe", "uffdbox-tests", name, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	ssize_t n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_GT(n, 0);
	return strtoull(out, NULL, 16);
}

static void same_every_time(uint64_t (*scenario)(char **, size_t *), const char *printer)
{
	char *first = NULL, *again = NULL;
	size_t first_len = 0, again_len = 0;
	uint64_t d0 = scenario(&first, &first_len);
	/* The text holds no addresses and no kernel thread ids. */
	ASSERT(strstr(first, "0x7f") == NULL);
	for (int i = 1; i < RUNS; i++) {
		uint64_t d = scenario(&again, &again_len);
		ASSERT_UEQ(d, d0);
		ASSERT_EQ(again_len, first_len);
		ASSERT(memcmp(again, first, first_len) == 0);
		free(again);
		again = NULL;
	}
	for (int i = 0; i < 3; i++)
		ASSERT_UEQ(digest_in_new_process(printer), d0);
	free(first);
}

TEST_CASE(sandbox_log_deterministic_single_thread, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	same_every_time(scenario_single, "sandbox_log_print_single_thread");
}

TEST_CASE(sandbox_log_deterministic_paused_threads, TMEM_NONE, 0)
{
	same_every_time(scenario_threads, "sandbox_log_print_paused_threads");
}

/* Helpers for the cases above: print the scenario's digest. */
TEST_CASE(sandbox_log_print_single_thread, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	printf("%016" PRIx64 "\n", scenario_single(NULL, NULL));
}

TEST_CASE(sandbox_log_print_paused_threads, TMEM_NONE, 0)
{
	printf("%016" PRIx64 "\n", scenario_threads(NULL, NULL));
}

TEST_CASE(sandbox_log_ring_and_jsonl, TMEM_NONE, UFFD_FEATURE_SIGBUS)
{
	struct uffdbox_sandbox_opts o = {.sz = sizeof(o), .ring_records = 3, .timestamps = true};
	struct uffdbox_sandbox *sb;
	ASSERT_OK(uffdbox_sandbox_new(&o, &sb));
	int ri = add(sb, "we\"ird\\name", 10, 0, NULL);
	volatile char *a = uffdbox_region_addr(uffdbox_sandbox_region(sb, ri));
	for (int i = 0; i < 10; i++)
		(void)a[i * 4096 + i];
	/* ring of 4 (3 rounded up): records 6..9 kept, the digest covers all */
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 10);
	struct uffdbox_record r;
	ASSERT_ERR(uffdbox_sandbox_log_get(sb, 5, &r), -ENOENT);
	ASSERT_ERR(uffdbox_sandbox_log_get(sb, 10, &r), -ENOENT);
	ASSERT_OK(uffdbox_sandbox_log_get(sb, 9, &r));
	ASSERT_EQ(r.page, 9);
	ASSERT_EQ(r.offset, 9);
	ASSERT_GT(r.ts_ns, 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ASSERT_EQ(uffdbox_sandbox_log_write(sb, f), 4);
	fclose(f);
	ASSERT_CONTAINS(text, "{\"seq\":6,\"kind\":\"missing\",\"region\":0,"
			      "\"region_name\":\"we\\\"ird\\\\name\",\"page\":6,\"offset\":6,");
	ASSERT_CONTAINS(text, "\"access\":\"read\",\"thread\":1,\"resolution\":\"zero\"");
	ASSERT_CONTAINS(text, "\"ts_ns\":");
	int lines = 0;
	for (char *c = text; *c; c++)
		lines += *c == '\n';
	ASSERT_EQ(lines, 5); /* the header record, then 4 records */
	ASSERT_CONTAINS(text, "{\"kind\":\"header\",\"version\":1,\"uffdbox\":\"");
	free(text);
	uint64_t d = uffdbox_sandbox_log_digest(sb);
	ASSERT_NE(d, 0);
	uffdbox_sandbox_log_reset(sb);
	ASSERT_EQ(uffdbox_sandbox_log_count(sb), 0);
	ASSERT_UEQ(uffdbox_sandbox_log_digest(sb), 0);
	uffdbox_sandbox_free(sb);
}
