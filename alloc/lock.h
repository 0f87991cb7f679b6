/* lock.h — the allocator's one lock type: a spin-then-yield lock that records its
 * holder, so that the fork handlers can tell a lock held by the forking thread itself
 * (fork from a signal handler that interrupted malloc) from one held by another thread.
 * Critical sections are short and never call into libc, so spinning is cheap. */
#ifndef EBB_LOCK_H
#define EBB_LOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The lock word holds its holder's identity (0 when free), set by the same atomic
 * instruction that takes the lock: a signal handler that runs on the holder's thread
 * at any instant after that sees itself as the holder. */
typedef struct ebb_lock {
    _Atomic uintptr_t holder;
} ebb_lock_t;

#define EBB_LOCK_INIT {0}

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

static inline void ebb_lock(ebb_lock_t *l)
{
    uintptr_t self = ebb_self();
    for (unsigned spins = 0;; spins++) {
        uintptr_t expected = 0;
        if (atomic_load_explicit(&l->holder, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->holder, &expected, self,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        if (spins < 64)
            ebb_cpu_relax();
        else
            sched_yield();
    }
}

static inline bool ebb_trylock(ebb_lock_t *l)
{
    uintptr_t expected = 0;
    return atomic_compare_exchange_strong_explicit(&l->holder, &expected, ebb_self(),
                                                   memory_order_acquire, memory_order_relaxed);
}

static inline void ebb_unlock(ebb_lock_t *l)
{
    atomic_store_explicit(&l->holder, 0, memory_order_release);
}

static inline bool ebb_lock_held_by_me(ebb_lock_t *l)
{
    return atomic_load_explicit(&l->holder, memory_order_relaxed) == ebb_self();
}

/* Only for the child after fork, where the holder no longer exists. */
static inline void ebb_lock_reset(ebb_lock_t *l)
{
    atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
}

#endif /* EBB_LOCK_H */
