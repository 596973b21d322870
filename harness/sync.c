/* SPDX-License-Identifier: MIT */
/*
 * harness/sync.c - the SYNC transport: with UFFD_FEATURE_SIGBUS a fault in a
 * registered range raises SIGBUS in the faulting thread instead of queueing a
 * message; the handler resolves the fault itself and returns, and the access
 * retries.  One thread, no wake-up, deterministic by construction.
 *
 * Under the signal backend (core/sigbackend.c: no userfaultfd) the same
 * faults arrive as SIGSEGV: those the backend recognizes as its traps (a
 * missing page, a write to a write-protected one) take the same path; every
 * other SIGSEGV - a guard hit, the program's own crash - goes on to whoever
 * handled SIGSEGV before.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sandbox_int.h"
#include "internal.h"
#include "sigbackend.h"

static struct uffdbox_sandbox *_Atomic sync_sb;
static struct sigaction sync_old;
static struct sigaction segv_old; /* signal backend only */
static bool segv_installed;

/*
 * The faulting thread's kernel tid, cached: gettid() is a syscall, ~1 us on
 * this kind of machine, a twentieth of a whole fault.  A forked child's only
 * thread is the one that called fork(), whose cached value the atfork
 * handler clears.
 */
static UFFDBOX__TLS int32_t cached_tid;
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

/*
 * A poisoned page: with a userfaultfd its access raises SIGBUS (BUS_MCEERR_AR),
 * the injected memory error the target is meant to see; here it raised
 * SIGSEGV, so pass it on as that SIGBUS.
 */
static void poison_hit(siginfo_t *si, void *ucv)
{
	siginfo_t b = *si;
	b.si_signo = SIGBUS;
	b.si_code = BUS_MCEERR_AR;
	bool dfl = !(sync_old.sa_flags & SA_SIGINFO) && sync_old.sa_handler == SIG_DFL;
	uffdbox__chain_signal(&sync_old, SIGBUS, &b, ucv);
	if (dfl) /* default action restored: die of it now (SIGBUS is not blocked here) */
		syscall(SYS_tgkill, getpid(), current_tid(), SIGBUS);
}

/* A fault the pipeline handled but that still traps would come back for
 * ever: say why and stop instead. */
static void unresolved(struct uffdbox__sig *sig, uintptr_t addr)
{
	char msg[384];
	int n = snprintf(msg, sizeof(msg),
			 "uffdbox: signal backend: the fault at 0x%lx could not be resolved%s\n",
			 (unsigned long)addr,
			 uffdbox__sig_over_budget(sig)
				 ? ": its protection change would pass the budget of VMA splits "
				   "(vm.max_map_count / 2; UFFDBOX_SIGNAL_MAX_SPLITS): too many "
				   "write-protected pages interleaved with writable ones"
				 : "");
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
		n = 0;
	abort();
}

/* Threads inside on_sigsegv now: free waits for them to leave (a thread
 * released by free may still be in its wait loop, reading the backend). */
static _Atomic int segv_inside;

/* The last LATE fault of this thread, and how many in a row. */
static UFFDBOX__TLS uintptr_t late_addr;
static UFFDBOX__TLS unsigned int late_n;

static void on_sigsegv_in(int sig, siginfo_t *si, void *ucv);

static void on_sigsegv(int sig, siginfo_t *si, void *ucv)
{
	atomic_fetch_add(&segv_inside, 1);
	on_sigsegv_in(sig, si, ucv);
	atomic_fetch_sub(&segv_inside, 1);
}

static void on_sigsegv_in(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct uffdbox_sandbox *sb = atomic_load_explicit(&sync_sb, memory_order_acquire);
	struct uffdbox__sig *bk = sb ? uffdbox__uffd_sig(sb->u) : NULL;
	uintptr_t a = (uintptr_t)si->si_addr;
	bool wr = uffdbox__fault_write(ucv);
	enum uffdbox__sig_kind k = UFFDBOX__SIG_NONE;

	if (bk && si->si_code > 0)
		k = uffdbox__sig_classify(bk, a, wr);
	if (k == UFFDBOX__SIG_LATE) {
		/* Resolved by another thread since the fault: retry, unless the
		 * same access keeps coming back with nothing else between (then
		 * something else protects the page: not ours to fix). */
		late_n = late_addr == a ? late_n + 1 : 0;
		late_addr = a;
		if (late_n >= 64)
			uffdbox__chain_signal(&segv_old, sig, si, ucv);
		errno = saved;
		return;
	}
	late_n = 0;
	if (k == UFFDBOX__SIG_POISON) {
		poison_hit(si, ucv);
	} else if (k != UFFDBOX__SIG_NONE) {
		struct sb_fault f = {.addr = a,
				     .write = wr,
				     .wp = k == UFFDBOX__SIG_WP,
				     .sigbus = true,
				     .tid = current_tid(),
				     .uc = ucv};
		enum sb_outcome o = uffdbox__sb_handle_fault(sb, &f);
		if (o == SB_HELD) {
			/* SERVED, paused: wait here until the handler thread
			 * (release, the watchdog, free) resolves the page. */
			uffdbox__served_hold(sb, &f);
			uffdbox__sig_kick(bk); /* the watchdog's deadline changed */
			while (uffdbox__sig_classify(bk, a, wr) == k) {
				struct timespec ts = {0, 50000};
				nanosleep(&ts, NULL);
			}
		} else if (o == SB_NOT_OURS)
			uffdbox__chain_signal(&segv_old, sig, si, ucv);
		else if (o != SB_BUSY && /* (busy: another thread is on it) */
			 uffdbox__sig_classify(bk, a, wr) == k && k != UFFDBOX__SIG_NONE)
			unresolved(bk, a);
	} else {
		uffdbox__chain_signal(&segv_old, sig, si, ucv);
	}
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
	segv_installed = false;
	if (uffdbox__uffd_sig(sb->u)) {
		struct sigaction sv = {.sa_sigaction = on_sigsegv, .sa_flags = SA_SIGINFO};
		sigemptyset(&sv.sa_mask);
		if (sigaction(SIGSEGV, &sv, &segv_old) < 0) {
			int err = -errno;
			sigaction(SIGBUS, &sync_old, NULL);
			atomic_store(&sync_sb, NULL);
			return err;
		}
		segv_installed = true;
	}
	return 0;
}

void uffdbox__sync_uninstall(struct uffdbox_sandbox *sb)
{
	if (atomic_load(&sync_sb) != sb)
		return;
	/* The signal backend: threads released just before (free) leave their
	 * handler's wait once their page is filled; let them, for up to 5 s,
	 * before the backend they read goes. */
	for (int i = 0; segv_installed && atomic_load(&segv_inside) && i < 100000; i++) {
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);
	}
	struct sigaction cur;
	/* Put the previous handler back only if ours is still installed:
	 * someone who replaced it after us keeps theirs. */
	if (sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_sigbus)
		sigaction(SIGBUS, &sync_old, NULL);
	if (segv_installed && sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_sigsegv)
		sigaction(SIGSEGV, &segv_old, NULL);
	segv_installed = false;
	atomic_store(&sync_sb, NULL);
}
