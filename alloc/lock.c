/* lock.c — the sleeping half of the allocator's lock (lock.h): a waiter that spun in
 * vain counts itself, tries once more, and sleeps on the lock's wake sequence; an
 * unlock that sees a waiter bumps the sequence and wakes one. A waiter reads the
 * sequence before it counts itself, so a wake between its failed attempt and its sleep
 * makes the sleep return at once. The system calls go through syscall(2) with errno
 * saved: malloc must not change errno when it succeeds. */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

static void futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    int saved = errno;
    syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
    errno = saved;
}

void ebb_lock_wait(ebb_lock_t *l, uintptr_t self)
{
    for (;;) {
        uint32_t seq = atomic_load_explicit(&l->wake_seq, memory_order_acquire);
        atomic_fetch_add_explicit(&l->waiters, 1, memory_order_seq_cst);
        uintptr_t expected = 0;
        bool taken = atomic_compare_exchange_strong_explicit(
            &l->holder, &expected, self, memory_order_seq_cst, memory_order_relaxed);
        if (!taken)
            futex(&l->wake_seq, FUTEX_WAIT, seq);
        atomic_fetch_sub_explicit(&l->waiters, 1, memory_order_relaxed);
        if (taken)
            return;
    }
}

void ebb_lock_wake(ebb_lock_t *l)
{
    atomic_fetch_add_explicit(&l->wake_seq, 1, memory_order_release);
    futex(&l->wake_seq, FUTEX_WAKE, 1);
}
