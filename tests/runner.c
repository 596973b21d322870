/* SPDX-License-Identifier: MIT */
/*
 * tests/runner.c - lists and runs the TEST_CASE table.
 *
 *   uffdbox-tests --list          one line per case x memory type:
 *                                 NAME<TAB>TIMEOUT<TAB>LOCK<TAB>LABEL
 *   uffdbox-tests NAME[/MEM]...   run those cases (0 pass, 1 fail, 77 skip)
 *   uffdbox-tests                 run everything, print a summary
 *
 * Each case runs in a forked child with alarm(TIMEOUT), so a thread left
 * blocked in a fault fails the case with a message instead of hanging the
 * suite.  Global state a case changes (sysctls, the huge page pool) is
 * recorded in shared memory before the change and restored by the parent.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <dirent.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

extern const struct tcase __start_uffdbox_tcases[];
extern const struct tcase __stop_uffdbox_tcases[];

enum { TIMEOUT_DEFAULT = 30, TIMEOUT_SLOW = 120, HUGE_PAGES_WANTED = 16 };

static const struct {
	enum test_mem mem;
	enum uffdbox_mem umem;
	const char *name;
} mems[] = {
	{TMEM_ANON, UFFDBOX_MEM_ANON, "anon"},
	{TMEM_SHMEM, UFFDBOX_MEM_SHMEM, "shmem"},
	{TMEM_HUGETLB, UFFDBOX_MEM_HUGETLB, "hugetlb"},
};

/* Saved global state, shared with the child that changes it. */
struct saved {
	int n;
	struct {
		char path[96];
		char value[64];
	} e[8];
};
static struct saved *saved;

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "runner: cannot restore %s: %s\n", path, strerror(errno));
		return;
	}
	if (write(fd, value, strlen(value)) < 0)
		fprintf(stderr, "runner: cannot restore %s=%s: %s\n", path, value, strerror(errno));
	close(fd);
}

const char *tfx_read_file(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/* Remember @path's current value (once) so the parent restores it. */
static void save_file(const char *path)
{
	for (int i = 0; i < saved->n; i++)
		if (strcmp(saved->e[i].path, path) == 0)
			return;
	const char *old = tfx_read_file(path);
	if (!old || saved->n == 8)
		test_fail(__FILE__, __LINE__, "cannot save %s before changing it", path);
	snprintf(saved->e[saved->n].path, sizeof(saved->e[0].path), "%s", path);
	snprintf(saved->e[saved->n].value, sizeof(saved->e[0].value), "%s", old);
	saved->n++;
}

void tfx_sysctl_set(const char *path, const char *value)
{
	if (geteuid() != 0)
		SKIP("changing %s needs root", path);
	save_file(path);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		test_fail(__FILE__, __LINE__, "write %s=%s: %s", path, value, strerror(errno));
	close(fd);
}

static void restore_all(void)
{
	for (int i = saved->n - 1; i >= 0; i--)
		write_file(saved->e[i].path, saved->e[i].value);
	saved->n = 0;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(1);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(NULL);
	_exit(77);
}

static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * A hugetlb case needs pages in the pool.  As root, grow the pool for the
 * duration of the case (ctest serializes hugetlb cases with a resource
 * lock); otherwise leave it and let the case skip with the reason.
 */
static void reserve_huge_pages(void)
{
	long free_pages = meminfo("HugePages_Free"), total = meminfo("HugePages_Total");
	char v[32];

	if (free_pages < 0 || free_pages >= HUGE_PAGES_WANTED || geteuid() != 0)
		return;
	save_file("/proc/sys/vm/nr_hugepages");
	snprintf(v, sizeof(v), "%ld", total + HUGE_PAGES_WANTED - free_pages);
	write_file("/proc/sys/vm/nr_hugepages", v);
}

static int cmp_case(const void *a, const void *b)
{
	return strcmp(((const struct tcase *)a)->name, ((const struct tcase *)b)->name);
}

static struct tcase *cases;
static size_t ncases;

static void load_cases(void)
{
	ncases = (size_t)(__stop_uffdbox_tcases - __start_uffdbox_tcases);
	cases = malloc(ncases * sizeof(*cases));
	memcpy(cases, __start_uffdbox_tcases, ncases * sizeof(*cases));
	qsort(cases, ncases, sizeof(*cases), cmp_case);
}

/* UFFDBOX_TEST_TIMEOUT=S: every case's alarm after S seconds instead. */
static unsigned int timeout_of(const struct tcase *c)
{
	const char *v = getenv("UFFDBOX_TEST_TIMEOUT");
	if (v && *v) {
		char *end;
		unsigned long s = strtoul(v, &end, 10);
		if (!*end && s > 0 && s < 100000)
			return (unsigned int)s;
	}
	return (c->flags & TFLAG_SLOW) ? TIMEOUT_SLOW : TIMEOUT_DEFAULT;
}

static void list(void)
{
	for (size_t i = 0; i < ncases; i++) {
		const struct tcase *c = &cases[i];
		if (c->flags & TFLAG_HIDDEN)
			continue;
		const char *lock = (c->flags & TFLAG_SYSCTL) ? "sysctl" : "-";
		/* the label: the name up to its first '_' (uffd, region, sandbox...) */
		char label[32];
		snprintf(label, sizeof(label), "%.*s", (int)strcspn(c->name, "_"), c->name);
		if (c->mems == TMEM_NONE) {
			printf("%s\t%u\t%s\t%s\n", c->name, timeout_of(c), lock, label);
			continue;
		}
		for (size_t m = 0; m < sizeof(mems) / sizeof(mems[0]); m++)
			if (c->mems & mems[m].mem)
				printf("%s/%s\t%u\t%s\t%s\n", c->name, mems[m].name, timeout_of(c),
				       /* the huge page pool is a sysctl too */
				       mems[m].mem == TMEM_HUGETLB ? "sysctl" : lock, label);
	}
}

/* Find "name" or "name/mem". Returns the case, fills @t. */
static const struct tcase *find(const char *arg, struct tctx *t)
{
	char name[128];
	const char *slash = strchr(arg, '/');
	size_t n = slash ? (size_t)(slash - arg) : strlen(arg);

	if (n >= sizeof(name))
		return NULL;
	memcpy(name, arg, n);
	name[n] = '\0';
	memset(t, 0, sizeof(*t));
	t->name = arg;
	t->page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t i = 0; i < ncases; i++) {
		if (strcmp(cases[i].name, name) != 0)
			continue;
		if (!slash)
			return cases[i].mems == TMEM_NONE ? &cases[i] : NULL;
		for (size_t m = 0; m < sizeof(mems) / sizeof(mems[0]); m++) {
			if (strcmp(mems[m].name, slash + 1) == 0 && (cases[i].mems & mems[m].mem)) {
				t->mem = mems[m].mem;
				t->umem = mems[m].umem;
				if (t->mem == TMEM_HUGETLB)
					t->page = uffdbox_hugepage_size();
				return &cases[i];
			}
		}
	}
	return NULL;
}

/* Read a small /proc file into @buf (NUL-terminated); length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * Case @pid ran out of time: say what each of its threads is doing, in the
 * kernel's words (/proc/PID/task/TID/stat's state and wchan): "S in
 * handle_userfault" is a thread blocked in a fault nobody resolves, "R" one
 * still running (a slow case, a loaded machine).
 */
static void say_threads(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char stat[512], wchan[128] = "";
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/stat", (int)pid, e->d_name);
		if (read_small(path, stat, sizeof(stat)) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/wchan", (int)pid, e->d_name);
		if (read_small(path, wchan, sizeof(wchan)) < 0 || !strcmp(wchan, "0"))
			wchan[0] = '\0';
		/* "TID (comm) S ...": the state follows the last ')' */
		const char *st = strrchr(stat, ')');
		fprintf(stderr, "  thread %s at the timeout: %c%s%s\n", e->d_name,
			st && st[1] && st[2] ? st[2] : '?', wchan[0] ? " in " : "", wchan);
	}
	if (d)
		closedir(d);
}

/* Wait for case @pid for @secs seconds; past them, say what its threads
 * are doing and kill it (SIGALRM, as its own alarm would).  Without
 * pidfd_open (Linux < 5.3) the child's own alarm is the limit. */
static void wait_case(pid_t pid, unsigned int secs, int *status)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int n;
		while ((n = poll(&p, 1, (int)secs * 1000)) < 0 && errno == EINTR)
			;
		if (n == 0) {
			say_threads(pid);
			kill(pid, SIGALRM);
		}
		close(pfd);
	}
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

static void child(const struct tcase *c, struct tctx *t)
{
	if (c->features) {
		uint64_t have = 0;
		int rc = uffdbox_uffd_probe(NULL, &have, NULL);
		if (rc < 0)
			test_fail(__FILE__, __LINE__, "probe: %s", uffdbox_strerror(rc));
		uint64_t missing = c->features & ~have;
		if (missing) {
			char names[256], why[1024] = "";
			uffdbox_features_format(missing, names, sizeof(names));
			/* The probe answered for the signal backend: the kernel may
			 * well have them; say what stands in, and why (unless the
			 * mask of a legacy pass hides them all anyway). */
			if (tfx_hidden(missing))
				SKIP("needs uffd feature(s) %s, hidden by UFFDBOX_FEATURE_MASK",
				     names);
			if (tfx_signal_backend_why(why, sizeof(why)))
				SKIP("needs uffd feature(s) %s, which the signal backend does not "
				     "emulate (docs/backends.md); it stands in here: %s",
				     names, why);
			SKIP("needs uffd feature(s) %s, not offered by this kernel%s", names,
			     getenv("UFFDBOX_FEATURE_MASK") ? " or hidden by UFFDBOX_FEATURE_MASK"
							    : "");
		}
	}
	if (c->flags & TFLAG_UFFD) {
		char why[1024] = "";
		if (tfx_signal_backend_why(why, sizeof(why)))
			SKIP("tests the userfaultfd itself; here the signal backend stands in "
			     "for it: %s",
			     why);
	}
	/* The parent's watch (wait_case) comes first; this is the backstop. */
	alarm(timeout_of(c) + 5);
	c->fn(t);
	fflush(NULL);
	_exit(0);
}

static int run(const char *arg)
{
	struct tctx t;
	const struct tcase *c = find(arg, &t);
	int status;

	if (!c) {
		fprintf(stderr, "uffdbox-tests: no case \"%s\" (see --list)\n", arg);
		return 2;
	}
	if (t.mem == TMEM_HUGETLB)
		reserve_huge_pages();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		child(c, &t);
	wait_case(pid, timeout_of(c), &status);
	restore_all();
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WTERMSIG(status) == SIGALRM)
		fprintf(stderr,
			"FAIL %s: timed out after %u s (each thread's state above: 'S in "
			"handle_userfault' is blocked in a fault, 'R' still running)\n",
			arg, timeout_of(c));
	else
		fprintf(stderr, "FAIL %s: killed by signal %d (%s)\n", arg, WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	return 1;
}

int main(int argc, char **argv)
{
	saved = mmap(NULL, sizeof(*saved), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	if (saved == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	load_cases();
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		list();
		return 0;
	}
	if (argc > 1) {
		int worst = 0;
		for (int i = 1; i < argc; i++) {
			int rc = run(argv[i]);
			if (rc != 0 && (worst == 0 || worst == 77))
				worst = rc;
		}
		return worst;
	}
	/* Everything, one after another. */
	int pass = 0, fail = 0, skip = 0;
	for (size_t i = 0; i < ncases; i++) {
		if (cases[i].flags & TFLAG_HIDDEN)
			continue;
		for (size_t m = 0; m <= sizeof(mems) / sizeof(mems[0]); m++) {
			char arg[160];
			if (cases[i].mems == TMEM_NONE) {
				if (m)
					break;
				snprintf(arg, sizeof(arg), "%s", cases[i].name);
			} else {
				if (m == sizeof(mems) / sizeof(mems[0]) ||
				    !(cases[i].mems & mems[m].mem))
					continue;
				snprintf(arg, sizeof(arg), "%s/%s", cases[i].name, mems[m].name);
			}
			int rc = run(arg);
			printf("%-4s %s\n", rc == 0 ? "ok" : rc == 77 ? "skip" : "FAIL", arg);
			pass += rc == 0;
			skip += rc == 77;
			fail += rc != 0 && rc != 77;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
	return fail ? 1 : 0;
}
