// Heap errors for tests/e2e/test_glibc_heap.py, chosen by HEAP_MODE; each prints the pointers it
// uses before it crashes (the test's oracle, with gdb's view of glibc's own state).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
char *volatile sink_ptr;
struct Shape { virtual ~Shape() {} virtual double area() { return 1; } long pad[2]; };
static void *double_free_in_a_thread(void *) {
  char *volatile p = (char *)malloc(40);  // from this thread's own arena
  free(p);
  free(p);
  return nullptr;
}

int main(int argc, char **argv) {
  const char *mode = getenv("HEAP_MODE");
  if (!mode) return 0;
  // HEAP_FILL=N: N live 200-byte blocks first (a heap of N * 208 bytes).
  for (long i = 0, n = getenv("HEAP_FILL") ? atol(getenv("HEAP_FILL")) : 0; i < n; ++i)
    *(char *volatile *)malloc(200) = 0;
  if (!strcmp(mode, "thread_double_free")) {
    pthread_t t;
    pthread_create(&t, nullptr, double_free_in_a_thread, nullptr);
    pthread_join(t, nullptr);
  }
  if (!strcmp(mode, "double_free")) {
    char *volatile p = (char *)malloc(40);
    printf("%p\n", (void *)p); fflush(stdout);
    free(p);
    free(p);
  } else if (!strcmp(mode, "interior_free")) {
    char *volatile p = (char *)malloc(64);
    printf("%p\n", (void *)(p + 16)); fflush(stdout);
    free(p + 16);
  } else if (!strcmp(mode, "uaf")) {
    Shape *volatile s = new Shape;
    printf("%p\n", (void *)s); fflush(stdout);
    delete s;
    printf("%f\n", s->area());
  } else if (!strcmp(mode, "hostile_heap")) {
    // A size field that would walk backwards (it wraps), a freed chunk whose tcache link points
    // far outside the heap, then a NULL read: the analysis must stay bounded and say what it saw.
    char *volatile a = (char *)malloc(24);
    char *volatile b = (char *)malloc(24);
    char *volatile c = (char *)malloc(24);
    free(c);
    *(volatile unsigned long *)c = 0xfffffffffffffff0;
    *(volatile unsigned long *)(b - 8) = 0xffffffffffffffe1;
    printf("%p\n", (void *)a); fflush(stdout);
    sink_ptr = *(char *volatile *)nullptr;
  } else if (!strcmp(mode, "stack_free")) {
    // "mmapped", of size 0, 8 bytes after its block: glibc's munmap_chunk refuses it whatever
    // the stack address (with prev_size 0, a page-aligned `local` passed its checks: 1 run in 256).
    long local[4] = {8, 0x3, 0, 0};
    long *volatile q = &local[2];
    printf("%p\n", (void *)q); fflush(stdout);
    free(q);
  } else if (!strcmp(mode, "overflow")) {
    char *volatile a = (char *)malloc(24);
    char *volatile b = (char *)malloc(24);
    printf("%p %p\n", (void *)a, (void *)b); fflush(stdout);
    memset(a, 'A', 24 + 8 + (size_t)(argc - 2));  // 8 bytes over b's size field
    free(b);
  }
  return 0;
}
