/* fork.c — fork safety.
 *
 * Before fork, take every allocator lock in a fixed order, so that the child does not
 * inherit a lock held by a thread that no longer exists; release them in the parent,
 * reset them and abandon the other threads' heaps in the child.
 *
 * Two refinements keep this from deadlocking where glibc's malloc does not:
 *  - a lock already held by the forking thread itself (fork from a signal handler that
 *    interrupted malloc) is not taken again; the child resets it;
 *  - stdio's list lock is taken first. glibc's fork takes it after the atfork prepare
 *    handlers, and fflush(NULL) holds it while waiting for a stream that a thread in
 *    getline holds while it waits for the allocator: taking it first breaks that cycle,
 *    as glibc does for its own malloc. It is a recursive lock, and glibc's fork then
 *    takes it again, releases it in the parent and resets it in the child.
 * Nothing here runs in the child but lock resets and list updates. */
#include <pthread.h>

#include "internal.h"

/* glibc exports these; weak so that another libc simply skips this step. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));

static ebb_lock_t *const fork_locks[] = {&ebb_collect_lock, &ebb_shared_lock, &ebb_pool_lock,
                                         &ebb_reserve_lock, &ebb_depot_lock};
#define NLOCKS (sizeof fork_locks / sizeof fork_locks[0])

/* Which locks prepare took (only the forking thread touches this). */
static bool taken[NLOCKS];
static bool took_stdio;

static void prepare(void)
{
    /* Freed memory kept resident makes fork slower (the kernel copies page tables for
     * it): run the decay first, unless this thread is inside the allocator already. */
    bool inside = false;
    for (size_t i = 0; i < NLOCKS; i++)
        inside |= ebb_lock_held_by_me(fork_locks[i]);
    if (!inside && atomic_load_explicit(&ebb_init_state, memory_order_acquire) == 2 &&
        ebb_purge_tick())
        ebb_heaps_collect_abandoned();
    took_stdio = _IO_list_lock != NULL && _IO_list_unlock != NULL;
    if (took_stdio)
        _IO_list_lock();
    for (size_t i = 0; i < NLOCKS; i++) {
        taken[i] = !ebb_lock_held_by_me(fork_locks[i]);
        if (taken[i])
            ebb_lock(fork_locks[i]);
    }
}

static void parent(void)
{
    for (size_t i = NLOCKS; i-- > 0;)
        if (taken[i])
            ebb_unlock(fork_locks[i]);
    if (took_stdio)
        _IO_list_unlock();
}

static void child(void)
{
    ebb_heaps_after_fork_child();
    ebb_purge_after_fork_child();
    for (size_t i = NLOCKS; i-- > 0;)
        ebb_lock_reset(fork_locks[i]);
    /* glibc resets its stdio list lock in the child itself. */
}

void ebb_fork_install(void)
{
    pthread_atfork(prepare, parent, child);
}
