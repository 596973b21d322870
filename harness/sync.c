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
#include "internal.h"

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

/* Hand a SIGBUS that is not a sandbox fault to whoever had it before. */
static void on_sigbus(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct uffdbox_sandbox *sb = atomic_load_explicit(&sync_sb, memory_order_acquire);
	ucontext_t *uc = ucv;

	/* si_code: a uffd SIGBUS is BUS_ADRERR from the kernel; anything sent
	 * by kill()/tgkill() (SI_USER, SI_TKILL) is not a fault at all. */
	if (!sb || si->si_code <= 0) {
		uffdbox__chain_signal(&sync_old, sig, si, ucv);
		errno = saved;
		return;
	}
	struct sb_fault f = {
		.addr = (uintptr_t)si->si_addr,
		.write = uffdbox__fault_write(uc),
		.tid = current_tid(),
		.uc = ucv,
		.sigbus = true,
	};
	enum sb_outcome o = uffdbox__sb_handle_fault(sb, &f);
	if (o == SB_NOT_OURS)
		uffdbox__chain_signal(&sync_old, sig, si, ucv);
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
