// cxx_new.cpp — every form of operator new and delete reaches ebb when it is preloaded:
// plain, array, nothrow, aligned (from 16 bytes to 1 MiB), sized and aligned-sized
// delete. libstdc++ implements them with malloc, aligned_alloc and free.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

static long passed, failed;

#define CHECK(c)                                                                     \
    do {                                                                             \
        if (c) {                                                                     \
            passed++;                                                                \
        } else {                                                                     \
            failed++;                                                                \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
        }                                                                            \
    } while (0)

static int (*owns)(const void *);

struct alignas(64) Cache {
    char bytes[64];
};
struct alignas(4096) Page {
    char bytes[100];
};

int main()
{
    owns = reinterpret_cast<int (*)(const void *)>(dlsym(RTLD_DEFAULT, "ebb_owns"));
    CHECK(owns != nullptr);
    if (!owns)
        return 1;

    int *a = new int(7);
    CHECK(owns(a));
    delete a;

    char *b = new char[1000];
    CHECK(owns(b));
    delete[] b;

    int *c = new (std::nothrow) int[50];
    CHECK(c && owns(c));
    delete[] c;

    Cache *d = new Cache;
    CHECK(owns(d) && reinterpret_cast<uintptr_t>(d) % 64 == 0);
    delete d;

    Page *e = new Page[3];
    CHECK(owns(e) && reinterpret_cast<uintptr_t>(e) % 4096 == 0);
    delete[] e;

    for (std::size_t align = 16; align <= (1u << 20); align *= 2) {
        void *p = ::operator new(100, std::align_val_t(align));
        CHECK(owns(p) && reinterpret_cast<uintptr_t>(p) % align == 0);
        ::operator delete(p, 100, std::align_val_t(align));
        void *q = ::operator new[](3000, std::align_val_t(align), std::nothrow);
        CHECK(q && owns(q) && reinterpret_cast<uintptr_t>(q) % align == 0);
        ::operator delete[](q, std::align_val_t(align), std::nothrow);
    }

    void *s = ::operator new(777);
    CHECK(owns(s));
    ::operator delete(s, 777);

    std::vector<std::string> v;
    for (int i = 0; i < 10000; i++)
        v.push_back(std::string(static_cast<std::size_t>(i % 300), 'x'));
    CHECK(owns(v.data()) && owns(v.back().data()));

    std::printf("cxx-new: %ld checks passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
