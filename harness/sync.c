/* SPDX-License-Identifier: MIT */
/*
 * harness/sync.c - the SYNC transport: with UFFD_FEATURE_SIGBUS a fault in a
 * registered range raises SIGBUS in the faulting thread instead of queueing a
 * message; the handler resolves the fault itself and returns, and the access
 * retries.  One thread, no wake-up, deterministic by construction.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "sandbox_int.h"

static struct uffdbox_sandbox *_Atomic sync_sb;
static struct sigaction sync_old;

/*
 * The faulting thread's kernel tid, cached: gettid() is a syscall, ~1 us on
 * this kind of machine, a twentieth of a whole fault.  A forked child's only
 * thread is the one that called fork(), whose cached value the atfork
 * handler clears.
 */
static __thread int32_t cached_tid;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_tid(void)
{
	cached_tid = 0;
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

static int32_t current_tid(void)
{
	if (!cached_tid)
		cached_tid = (int32_t)syscall(SYS_gettid);
	return cached_tid;
}

/*
 * Read or write?  On x86-64 the page-fault error code is in the signal
 * context: bit 1 set for a write.  Elsewhere the state machine's view
 * (missing vs. mapped write-protected) is all there is, and a fault is
 * logged as a read unless it hit a write-protected page.
 */
static bool fault_is_write(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
	(void)uc;
	return false;
#endif
}

/* Hand a SIGBUS that is not a sandbox fault to whoever had it before. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	if (sync_old.sa_flags & SA_SIGINFO) {
		if (sync_old.sa_sigaction) {
			sync_old.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (sync_old.sa_handler == SIG_IGN) {
		return; /* a synchronous fault cannot be ignored: it re-faults */
	} else if (sync_old.sa_handler != SIG_DFL) {
		sync_old.sa_handler(sig);
		return;
	}
	/* Default action: restore it and let the retried access kill us with
	 * the signal's real disposition (and core). */
	signal(sig, SIG_DFL);
}

static void on_sigbus(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct uffdbox_sandbox *sb = atomic_load_explicit(&sync_sb, memory_order_acquire);
	ucontext_t *uc = ucv;

	/* si_code: a uffd SIGBUS is BUS_ADRERR from the kernel; anything sent
	 * by kill()/tgkill() (SI_USER, SI_TKILL) is not a fault at all. */
	if (!sb || si->si_code <= 0) {
		chain(sig, si, ucv);
		errno = saved;
		return;
	}
	struct sb_fault f = {
		.addr = (uintptr_t)si->si_addr,
		.write = fault_is_write(uc),
		.tid = current_tid(),
		.uc = ucv,
	};
	enum sb_outcome o = uffdbox__sb_handle_fault(sb, &f);
	if (o == SB_NOT_OURS)
		chain(sig, si, ucv);
	errno = saved;
}

int uffdbox__sync_install(struct uffdbox_sandbox *sb)
{
	struct uffdbox_sandbox *none = NULL;
	/* Not SA_ONSTACK: the handler resolves faults and may symbolize a
	 * report (deep, allocating); an alternate signal stack - ASan installs
	 * a small one - is meant for stack overflows, which these are not. */
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};

	if (!atomic_compare_exchange_strong(&sync_sb, &none, sb))
		return -EBUSY;
	pthread_once(&atfork_once, register_atfork);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &sync_old) < 0) {
		int err = -errno;
		atomic_store(&sync_sb, NULL);
		return err;
	}
	return 0;
}

void uffdbox__sync_uninstall(struct uffdbox_sandbox *sb)
{
	if (atomic_load(&sync_sb) != sb)
		return;
	struct sigaction cur;
	/* Put the previous handler back only if ours is still installed:
	 * someone who replaced it after us keeps theirs. */
	if (sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_sigbus)
		sigaction(SIGBUS, &sync_old, NULL);
	atomic_store(&sync_sb, NULL);
}
