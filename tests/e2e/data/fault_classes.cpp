// One program per fault class for tests/e2e/test_fault_classes.py: `fault_classes crash` crashes
// the way the environment variable FAULT_MODE says (every mode is the same executable, so
// fingerprints differ by crash site only).
#include <assert.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdexcept>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern "C" void *__memcpy_chk(void *, const void *, size_t, size_t);

struct Job { long id; long pad[5]; long field; };
volatile long sink;
static const char g_text[] = "read-only text";

struct QueueEmpty : std::runtime_error {
  QueueEmpty() : std::runtime_error("queue is empty") {}
};

__attribute__((noinline)) void null_field(Job *job) { sink = job->field; }
__attribute__((noinline)) void null_write(Job *job) { ((volatile Job *)job)->id = 7; }
__attribute__((noinline)) void call_null(void (*fn)(void)) { fn(); }
__attribute__((noinline)) void wild_read(long *ptr) { sink = *(volatile long *)ptr; }
__attribute__((noinline)) void wild_write(long *ptr) { *(volatile long *)ptr = 1; }
__attribute__((noinline)) void write_rodata(char *text) { ((volatile char *)text)[0] = 'X'; }
__attribute__((noinline)) int recurse(int depth) {
  volatile char pad[256];
  pad[0] = (char)depth;
  return recurse(depth + 1) + pad[0];
}
__attribute__((noinline)) void smash(const char *src, size_t n) {
  char buf[16];
  memcpy(buf, src, n);
  sink = buf[3];
}
__attribute__((noinline)) int divide(int a, int b) { return a / b; }

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "crash")) return 0;
  const char *how = getenv("FAULT_MODE") ? getenv("FAULT_MODE") : "";
  void *volatile nothing = 0;  // unknown to the optimizer
  char long_text[128];
  memset(long_text, 'A', sizeof long_text);
  if (!strcmp(how, "null_field")) null_field((Job *)nothing);
  if (!strcmp(how, "null_write")) null_write((Job *)nothing);
  if (!strcmp(how, "call_null")) call_null((void (*)(void))nothing);
  if (!strcmp(how, "wild_read")) wild_read((long *)0x4141414141414141);
  if (!strcmp(how, "wild_write")) wild_write((long *)((char *)nothing + 0x10000000000));
  if (!strcmp(how, "write_rodata")) write_rodata((char *)g_text);
  if (!strcmp(how, "jump_unmapped")) call_null((void (*)(void))((char *)nothing + 0x10000000000));
  if (!strcmp(how, "exec_heap")) {
    unsigned char *code = (unsigned char *)malloc(64);
    memset(code, 0xc3, 64);
    call_null((void (*)(void))code);
  }
  if (!strcmp(how, "ret_corrupt"))
    __asm__ volatile("movabs $0x4142434445464748, %%rax; push %%rax; ret" ::: "rax");
  if (!strcmp(how, "stack_pivot"))
    __asm__ volatile("mov %0, %%rsp; movq 0, %%rax" ::"r"((char *)malloc(65536) + 65536 - 64) : "rax");
  if (!strcmp(how, "stack_overflow")) return recurse(0);
  if (!strcmp(how, "stack_smash")) smash(long_text, sizeof long_text - (size_t)nothing);
  if (!strcmp(how, "fortify")) {
    char small[8];
    __memcpy_chk(small, long_text, sizeof long_text, sizeof small);
    sink = small[1];
  }
  if (!strcmp(how, "double_free")) {
    void *p = malloc(32);
    free(p);
    free(*(void *volatile *)&p);
  }
  if (!strcmp(how, "invalid_free")) {
    long local[4];
    void *volatile inside = &local[1];
    free(inside);
  }
  if (!strcmp(how, "heap_overflow")) {
    // The first chunk sits just below the top chunk: 8 bytes past its end is the top's size.
    char *a = (char *)malloc(24);
    *(volatile unsigned long *)(a + 24) = 0x4141414141414141;
    void *volatile b = malloc(2000);  // carved from the top chunk, whose size is now absurd
    free(b);
  }
  if (!strcmp(how, "memcpy_bad")) {
    char *volatile dst = (char *)nothing + 0x10000000000;
    memcpy(dst, long_text, sizeof long_text - (size_t)nothing);  // a size unknown: a real call
  }
  if (!strcmp(how, "strcpy_null")) {
    char copy[16];
    strcpy(copy, (const char *)nothing);
    sink = copy[0];
  }
  if (!strcmp(how, "free_wild")) {
    char *volatile wild = (char *)nothing + 0x10000000000;
    free(wild);
  }
  if (!strcmp(how, "assert")) {
    int queued = 0;
    assert(queued > 0 && "the queue must not be empty");
  }
  if (!strcmp(how, "exception")) throw QueueEmpty();
  if (!strcmp(how, "abort")) abort();
  if (!strcmp(how, "divide")) sink = divide(1, (int)(long)nothing);
  if (!strcmp(how, "illegal")) __asm__ volatile(".byte 0x06");  // push es: invalid in 64-bit mode
  if (!strcmp(how, "trap")) __builtin_trap();
  if (!strcmp(how, "breakpoint")) __asm__ volatile("int3");
  if (!strcmp(how, "bus")) {
    char path[] = "/tmp/btengine-busXXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    volatile char *m = (volatile char *)mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0);
    sink = m[0];
  }
  if (!strcmp(how, "bad_syscall")) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),  // seccomp_data.nr
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {4, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
    syscall(SYS_getppid);
  }
  return 0;
}
