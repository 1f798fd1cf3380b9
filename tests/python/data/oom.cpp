// oom: crashes that are out of memory, for plugins/oom.py (tests/python/test_plugins.py).
// OOM_MODE=bad_alloc: an allocation larger than the address space throws std::bad_alloc, uncaught.
// OOM_MODE=malloc_null: malloc's NULL is written through (errno is ENOMEM at the fault).
// OOM_MODE=assert_oom: an assert that the allocation succeeded fails ("out of memory").
// OOM_MODE=plain_null: a NULL write with no allocation involved (not out of memory).
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

__attribute__((noinline)) char *grow(size_t n) { return new char[n]; }
__attribute__((noinline)) void fill(size_t bytes) {
  char *buffer = static_cast<char *>(malloc(bytes));
  memset(buffer, 0, 16);
}
__attribute__((noinline)) void checked(size_t bytes) {
  void *p = malloc(bytes);
  assert(p != nullptr && "out of memory");
  free(p);
}
__attribute__((noinline)) void plain() { *(volatile int *)nullptr = 1; }

int main(int argc, char **argv) {
  const char *mode = getenv("OOM_MODE");
  if (argc < 2 || !mode) return 0;
  size_t huge = size_t(1) << 62;
  if (!strcmp(mode, "bad_alloc")) grow(huge)[0] = 1;
  if (!strcmp(mode, "malloc_null")) fill(huge);
  if (!strcmp(mode, "assert_oom")) checked(huge);
  if (!strcmp(mode, "plain_null")) plain();
  return 0;
}
