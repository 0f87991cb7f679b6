/* error.c — messages for misuse and bad options, written with write(2) so that
 * reporting never allocates and works with a corrupted heap. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static void put(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_ptr(const void *p)
{
    char buf[2 + 16 + 1];
    uintptr_t v = (uintptr_t)p;
    int n = 0;
    char digits[16];
    do {
        digits[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < n; i++)
        buf[2 + i] = digits[n - 1 - i];
    buf[2 + n] = 0;
    put(buf);
}

static void put_ptr_message(const char *func, const char *what, const void *p)
{
    put("ebb: ");
    if (func) {
        put(func);
        put("(): ");
    }
    put(what);
    put(" ");
    put_ptr(p);
}

/* "ebb: free(): double free of 0x7f12..." then abort(). */
void ebb_fatal_ptr(const char *func, const char *what, const void *p)
{
    put_ptr_message(func, what, p);
    put("\n");
    abort();
}

void ebb_fatal_ptr_at(const char *func, const char *what, const void *p, size_t off)
{
    put_ptr_message(func, what, p);
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + off % 10);
        off /= 10;
    } while (off);
    char buf[sizeof digits + 1];
    for (int i = 0; i < n; i++)
        buf[i] = digits[n - 1 - i];
    buf[n] = 0;
    put(" at offset ");
    put(buf);
    put("\n");
    abort();
}

void ebb_warn(const char *msg1, const char *msg2)
{
    put("ebb: warning: ");
    put(msg1);
    if (msg2)
        put(msg2);
    put("\n");
}

/* A block passed to free twice, or to another function after it was freed. */
void ebb_fatal_freed(const char *func, const void *p)
{
    bool is_free = strstr(func, "free") != NULL;
    ebb_fatal_ptr(func, is_free ? "double free of" : "block already freed:", p);
}
