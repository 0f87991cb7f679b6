/* lock.h — the allocator's one lock type: a spin-then-sleep lock that records its
 * holder, so that the fork handlers can tell a lock held by the forking thread itself
 * (fork from a signal handler that interrupted malloc) from one held by another thread.
 * Most critical sections are short, so a waiter spins a little first; then it sleeps
 * on a futex (lock.c) instead of yielding in a loop: with many more threads than cores
 * a holder that was preempted runs again only when the waiters stop taking its CPU
 * (the 400-thread trace yielded 8-41 k times per replay, most of them on locks held
 * across a system call). */
#ifndef EBB_LOCK_H
#define EBB_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The lock word holds its holder's identity (0 when free), set by the same atomic
 * instruction that takes the lock: a signal handler that runs on the holder's thread
 * at any instant after that sees itself as the holder. */
typedef struct ebb_lock {
    _Atomic uintptr_t holder;
    _Atomic uint32_t waiters; /* threads in ebb_lock_wait, between their count and sleep */
    _Atomic uint32_t wake_seq; /* the futex word: bumped by each unlock that wakes */
} ebb_lock_t;

#define EBB_LOCK_INIT {0, 0, 0}

static inline void ebb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A per-thread identity that needs no libc call: the address of a TLS variable. */
uintptr_t ebb_self(void);
void ebb_lock_wait(ebb_lock_t *l, uintptr_t self); /* lock.c: sleep until taken */
void ebb_lock_wake(ebb_lock_t *l);                 /* lock.c: wake one waiter */

static inline void ebb_lock(ebb_lock_t *l)
{
    uintptr_t self = ebb_self();
    for (unsigned spins = 0; spins < 64; spins++) {
        uintptr_t expected = 0;
        if (atomic_load_explicit(&l->holder, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->holder, &expected, self,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        ebb_cpu_relax();
    }
    ebb_lock_wait(l, self);
}

static inline bool ebb_trylock(ebb_lock_t *l)
{
    uintptr_t expected = 0;
    return atomic_compare_exchange_strong_explicit(&l->holder, &expected, ebb_self(),
                                                   memory_order_acquire, memory_order_relaxed);
}

/* The release and the look for waiters are ordered (seq_cst) against a waiter's count
 * and its attempt to take the lock: either the unlock sees the waiter, or the waiter's
 * attempt sees the lock free. */
static inline void ebb_unlock(ebb_lock_t *l)
{
    atomic_store_explicit(&l->holder, 0, memory_order_seq_cst);
    if (atomic_load_explicit(&l->waiters, memory_order_seq_cst) != 0)
        ebb_lock_wake(l);
}

static inline bool ebb_lock_held_by_me(ebb_lock_t *l)
{
    return atomic_load_explicit(&l->holder, memory_order_relaxed) == ebb_self();
}

/* Only for the child after fork, where the holder no longer exists. */
static inline void ebb_lock_reset(ebb_lock_t *l)
{
    atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
    atomic_store_explicit(&l->waiters, 0, memory_order_relaxed);
}

#endif /* EBB_LOCK_H */
