/*
 * libbtcrash.so: runs `bt snapshot` on this process when it receives a fatal signal (see
 * btcrash.h for the user-facing summary and the environment variables).
 *
 * Everything the signal handler needs (the bt path, the output directory, the --attr and extra
 * arguments, the environment for bt, the timeout, whether Yama needs PR_SET_PTRACER) is computed
 * once by the constructor into fixed-size static buffers. The handler itself only formats numbers
 * into buffers on its (alternate) stack and makes async-signal-safe system calls:
 *
 *   1. The first crashing thread wins an atomic compare-and-swap (g_owner); threads that crash
 *      while it captures wait (bounded) until it is done, then re-raise their own signal.
 *   2. It creates two pipes: a gate (parent -> child) and bt's output (child -> parent), and
 *      forks with a raw clone() whose exit signal is 0, so that neither fork handlers nor malloc
 *      locks are involved (a crash inside malloc must not deadlock), no SIGCHLD reaches the
 *      application and the application's wait() calls cannot reap bt.
 *   3. The child blocks all signals, restores the default dispositions of ours, sends its stdout
 *      and stderr into the output pipe, waits for the gate byte, closes every other descriptor and
 *      execve()s bt with absolute path and a precomputed environment (BTCRASH_DISABLE=1 added, so
 *      that a preloaded libbtcrash stays inert inside bt).
 *   4. The parent calls prctl(PR_SET_PTRACER, child) when Yama's ptrace_scope is 1 and only then
 *      opens the gate: bt cannot try to attach before it is allowed to. It then polls bt's output
 *      and waitpid(WNOHANG) until bt exits or BTCRASH_TIMEOUT seconds pass (then SIGKILL + reap),
 *      and writes one line to stderr.
 *   5. It restores the previous disposition of the signal and re-raises: a kernel-generated
 *      SIGSEGV/SIGBUS/SIGILL/SIGFPE re-executes the faulting instruction on return (same siginfo,
 *      same registers in the core); anything else (SIGABRT, kill(), SIGTRAP, SIGSYS) is queued
 *      again to this thread with its original siginfo (rt_tgsigqueueinfo, or tgkill) and is
 *      delivered when the handler returns and the signal mask is restored.
 */
#define _GNU_SOURCE
#include "btcrash.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif
#ifndef __WALL
#define __WALL 0x40000000
#endif

#define BTC_EXPORT __attribute__((visibility("default")))

enum {
  BTC_PATH_MAX = 4096,
  BTC_ATTR_BUF = 4096,
  BTC_MAX_ATTRS = 64,
  BTC_ARGS_BUF = 4096,
  BTC_MAX_ARGS = 64,
  BTC_MAX_ENV = 4096,
  BTC_REASON_MAX = 1000,
  BTC_OUT_MAX = 2048,
  BTC_ALTSTACK_SIZE = 64 * 1024,
  BTC_DEFAULT_TIMEOUT = 30,
  BTC_MAX_TIMEOUT = 24 * 3600,
  /* fixed arguments before the attributes: bt snapshot PID --tid T --siginfo A --ucontext A
     -o DIR --attr trigger=... --attr reason=... */
  BTC_MAX_ARGV = 16 + 2 * BTC_MAX_ATTRS + BTC_MAX_ARGS + 2,
};

static const int g_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
#define BTC_NSIGNALS ((int)(sizeof g_signals / sizeof g_signals[0]))

/* ---- configuration (written by the constructor only) ---- */
static int g_enabled;
static char g_bt[BTC_PATH_MAX];            /* absolute path of bt, "" if none was found */
static char g_bt_missing[BTC_PATH_MAX];    /* what was looked for, for the error message */
static char g_dir[BTC_PATH_MAX];           /* absolute output directory */
static char g_attr_buf[BTC_ATTR_BUF];
static const char *g_attrs[BTC_MAX_ATTRS]; /* "K=V" */
static int g_nattrs;
static char g_args_buf[BTC_ARGS_BUF];
static const char *g_args[BTC_MAX_ARGS];
static int g_nargs;
static char g_upload[BTC_PATH_MAX];        /* BTCRASH_UPLOAD: a crash server's URL, "" if none */
static char *g_envp[BTC_MAX_ENV + 2];
static char g_env_disable[] = "BTCRASH_DISABLE=1";
static int g_timeout_s = BTC_DEFAULT_TIMEOUT;
static int g_yama;                         /* ptrace_scope == 1: PR_SET_PTRACER is needed */
static struct sigaction g_old[NSIG];

/* ---- capture state ---- */
static _Atomic int g_owner;        /* tid of the thread running bt (crash or API), 0 if none */
static _Atomic int g_crash_state;  /* 0: no crash, 1: capturing, 2: done */
static pthread_mutex_t g_api_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The alternate stacks this library maps: [guard page][header][stack ...]; the header lets
   btcrash_thread_fini() recognise its own (no TLS: that would need __tls_get_addr of ld.so). */
#define BTC_ALTSTACK_MAGIC 0x6274637261736821ULL /* "btcrash!" */
enum { BTC_ALTSTACK_HEADER = 64 };
struct btc_altstack_header {
  unsigned long long magic;
  void *map;
  size_t len;
};

/* ======================================================================================
 * Async-signal-safe helpers: bounded string building, number formatting.
 * ====================================================================================== */

struct btc_buf {
  char *p;
  size_t cap; /* including the terminating NUL */
  size_t len;
};

static size_t btc_strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void btc_putn(struct btc_buf *b, const char *s, size_t n) {
  if (b->cap == 0) return;
  while (n-- && *s && b->len + 1 < b->cap) b->p[b->len++] = *s++;
  b->p[b->len] = '\0';
}

static void btc_puts(struct btc_buf *b, const char *s) { btc_putn(b, s, (size_t)-1); }

static void btc_putu(struct btc_buf *b, unsigned long long v) {
  char tmp[24];
  int i = (int)sizeof tmp;
  tmp[--i] = '\0';
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v && i > 0);
  btc_puts(b, tmp + i);
}

static void btc_puti(struct btc_buf *b, long long v) {
  if (v < 0) {
    btc_puts(b, "-");
    btc_putu(b, (unsigned long long)(-(v + 1)) + 1);
  } else {
    btc_putu(b, (unsigned long long)v);
  }
}

static void btc_putx(struct btc_buf *b, unsigned long long v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[20];
  int i = (int)sizeof tmp;
  tmp[--i] = '\0';
  do {
    tmp[--i] = digits[v & 15];
    v >>= 4;
  } while (v && i > 2);
  tmp[--i] = 'x';
  tmp[--i] = '0';
  btc_puts(b, tmp + i);
}

static void btc_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static pid_t btc_gettid(void) { return (pid_t)syscall(SYS_gettid); }

static int btc_now_ms(long long *ms) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return -1;
  *ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  return 0;
}

static void btc_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL); /* an interruption only shortens one poll interval */
}

static const char *btc_errno_name(int e) {
  switch (e) {
    case ENOENT: return "no such file";
    case EACCES: return "permission denied";
    case ENOEXEC: return "not an executable";
    case ENOTDIR: return "not a directory";
    case ENOMEM: return "out of memory";
    case EAGAIN: return "resource temporarily unavailable";
    case EMFILE: return "too many open files";
    case E2BIG: return "argument list too long";
    default: return "error";
  }
}

/* ======================================================================================
 * Running bt (shared by the signal handler and btcrash_snapshot; async-signal-safe).
 * ====================================================================================== */

#define BTC_EXEC_FAILED "\001btcrash-exec-failed "

struct btc_run {
  pid_t child;
  int status_known;
  int status;
  int timed_out;
  int exec_failed;
  int exec_errno;
  int fork_errno;
  size_t outlen;
  char out[BTC_OUT_MAX];
};

static void btc_close(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void btc_drain(int *fd, struct btc_run *r) {
  char tmp[512];
  while (*fd >= 0) {
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return; /* EAGAIN: nothing more for now */
    if (n == 0) {      /* EOF */
      btc_close(fd);
      return;
    }
    for (ssize_t i = 0; i < n && r->outlen + 1 < sizeof r->out; i++) r->out[r->outlen++] = tmp[i];
    r->out[r->outlen] = '\0';
  }
}

static __attribute__((noreturn)) void btc_child(char *const argv[], int gate_rd, int out_wr) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  /* No signal handler of the application may run in this copy of the process before the
     exec (it would run on copies of the application's data): block everything until then. */
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int i = 0; i < BTC_NSIGNALS; i++) sigaction(g_signals[i], &dfl, NULL);

  /* If the application had closed 0, 1 or 2, our descriptors may be among them: move them up
     first, so that the dup2()s below cannot overwrite the gate or keep O_CLOEXEC on 1 and 2. */
  if (gate_rd >= 0 && gate_rd <= 2) gate_rd = fcntl(gate_rd, F_DUPFD_CLOEXEC, 3);
  if (out_wr < 0) out_wr = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (out_wr >= 0 && out_wr <= 2) out_wr = fcntl(out_wr, F_DUPFD_CLOEXEC, 3);
  if (out_wr >= 0) {
    dup2(out_wr, 1);
    dup2(out_wr, 2);
  } else {
    close(1);
  }
  if (gate_rd >= 0) {
    char c;
    ssize_t n;
    do n = read(gate_rd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) _exit(126); /* the parent went away before allowing us to trace it */
  }
  /* Only 0, 1, 2 for bt (the pipes are O_CLOEXEC anyway). */
#ifdef SYS_close_range
  syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
  sigprocmask(SIG_SETMASK, &none, NULL); /* bt starts with an empty mask (exec keeps it) */
  execve(g_bt, argv, g_envp);
  int e = errno;
  char msg[64];
  struct btc_buf b = {msg, sizeof msg, 0};
  btc_puts(&b, BTC_EXEC_FAILED);
  btc_putu(&b, (unsigned)e);
  btc_write_all(1, msg, b.len);
  _exit(127);
}

/* Runs bt with argv (argv[0] is g_bt), waits for it with the timeout, fills r. */
static void btc_run_bt(char *const argv[], struct btc_run *r) {
  memset(r, 0, sizeof *r);
  r->child = -1;
  if (!g_bt[0]) {
    r->exec_failed = 1;
    r->exec_errno = ENOENT;
    return;
  }
  int gate[2] = {-1, -1}, outp[2] = {-1, -1};
  /* The gate is a socket pair so that the parent can write with MSG_NOSIGNAL: a child killed
     before it read the byte must not kill this process with SIGPIPE. */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gate) != 0) gate[0] = gate[1] = -1;
  if (pipe2(outp, O_CLOEXEC) != 0) outp[0] = outp[1] = -1;
  /* Without a gate (no descriptors left) bt may attach before the parent could name it
     with PR_SET_PTRACER: allow any tracer for the duration instead. */
  int ptracer_any = g_yama && gate[1] < 0;
  if (ptracer_any) prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);

  /* fork() without atfork handlers and malloc locks; exit signal 0: no SIGCHLD. */
  long pid = syscall(SYS_clone, 0UL, NULL, NULL, NULL, NULL);
  if (pid == 0) btc_child(argv, gate[0], outp[1]);
  int clone_errno = errno;
  btc_close(&gate[0]);
  btc_close(&outp[1]);
  if (pid < 0) {
    r->fork_errno = clone_errno ? clone_errno : EAGAIN;
    btc_close(&gate[1]);
    btc_close(&outp[0]);
    if (ptracer_any) prctl(PR_SET_PTRACER, 0, 0, 0, 0);
    return;
  }
  r->child = (pid_t)pid;
  if (g_yama && !ptracer_any) prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0);
  if (gate[1] >= 0) {
    while (send(gate[1], "g", 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
    btc_close(&gate[1]);
  }
  if (outp[0] >= 0) {
    int fl = fcntl(outp[0], F_GETFL);
    if (fl >= 0) fcntl(outp[0], F_SETFL, fl | O_NONBLOCK);
  }

  long long start = 0, now = 0;
  int have_clock = btc_now_ms(&start) == 0;
  long long limit_ms = (long long)g_timeout_s * 1000;
  long long slept_ms = 0; /* fallback when the clock is unavailable */
  for (;;) {
    btc_drain(&outp[0], r);
    int st = 0;
    pid_t w = waitpid(r->child, &st, WNOHANG | __WALL);
    if (w == r->child) {
      r->status_known = 1;
      r->status = st;
      break;
    }
    if (w < 0 && errno != EINTR) break; /* ECHILD: reaped by someone else; status unknown */
    long long elapsed = have_clock && btc_now_ms(&now) == 0 ? now - start : slept_ms;
    if (elapsed >= limit_ms) {
      kill(r->child, SIGKILL);
      r->timed_out = 1;
      while (waitpid(r->child, &st, __WALL) < 0 && errno == EINTR) {
      }
      break;
    }
    if (outp[0] >= 0) {
      struct pollfd pfd = {outp[0], POLLIN, 0};
      poll(&pfd, 1, 10);
    } else {
      btc_sleep_ms(10);
    }
    slept_ms += 10;
  }
  btc_drain(&outp[0], r);
  btc_close(&outp[0]);
  if (g_yama) prctl(PR_SET_PTRACER, 0, 0, 0, 0);

  static const char marker[] = BTC_EXEC_FAILED;
  size_t ml = sizeof marker - 1;
  if (r->outlen >= ml && memcmp(r->out, marker, ml) == 0) {
    r->exec_failed = 1;
    int e = 0;
    for (size_t i = ml; i < r->outlen && r->out[i] >= '0' && r->out[i] <= '9'; i++)
      e = e * 10 + (r->out[i] - '0');
    r->exec_errno = e;
  }
}

/* The "snapshot: ..." line of bt's output (without the prefix), or NULL. Sets *len. */
static const char *btc_find_line(const struct btc_run *r, const char *prefix, size_t *len) {
  size_t pl = btc_strlen(prefix);
  size_t i = 0;
  while (i < r->outlen) {
    size_t e = i;
    while (e < r->outlen && r->out[e] != '\n') e++;
    if (e - i >= pl && memcmp(r->out + i, prefix, pl) == 0) {
      *len = e - i - pl;
      return r->out + i + pl;
    }
    i = e + 1;
  }
  return NULL;
}

/* The first non-empty line of bt's output, or NULL. */
static const char *btc_first_line(const struct btc_run *r, size_t *len) {
  size_t i = 0;
  while (i < r->outlen) {
    size_t e = i;
    while (e < r->outlen && r->out[e] != '\n') e++;
    if (e > i) {
      *len = e - i;
      return r->out + i;
    }
    i = e + 1;
  }
  return NULL;
}

/* bt's exit status, or -1 if it did not run to completion. Writes one line to stderr. */
static int btc_report(const struct btc_run *r) {
  char msg[512];
  struct btc_buf b = {msg, sizeof msg, 0};
  size_t len = 0;
  const char *line;
  int rc = -1;
  btc_puts(&b, "btcrash: ");
  if (r->child < 0 && r->fork_errno) {
    btc_puts(&b, "bt failed: cannot fork (errno ");
    btc_putu(&b, (unsigned)r->fork_errno);
    btc_puts(&b, ")");
  } else if (r->exec_failed && !g_bt[0]) {
    btc_puts(&b, "bt failed: no bt executable found (");
    btc_puts(&b, g_bt_missing);
    btc_puts(&b, "; set BTCRASH_BT)");
  } else if (r->exec_failed) {
    btc_puts(&b, "bt failed: cannot execute ");
    btc_puts(&b, g_bt);
    btc_puts(&b, ": ");
    btc_puts(&b, btc_errno_name(r->exec_errno));
    btc_puts(&b, " (errno ");
    btc_putu(&b, (unsigned)r->exec_errno);
    btc_puts(&b, ")");
  } else if (r->timed_out) {
    btc_puts(&b, "bt failed: no result after ");
    btc_putu(&b, (unsigned)g_timeout_s);
    btc_puts(&b, " s (BTCRASH_TIMEOUT), killed it (pid ");
    btc_puti(&b, r->child);
    btc_puts(&b, ")");
  } else {
    int ok;
    line = btc_find_line(r, "snapshot: ", &len);
    if (r->status_known) {
      ok = WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
      if (WIFEXITED(r->status)) rc = WEXITSTATUS(r->status);
    } else {
      ok = line != NULL; /* reaped by the application: judge by the output */
      rc = ok ? 0 : -1;
    }
    if (ok) {
      btc_puts(&b, "snapshot written by bt (pid ");
      btc_puti(&b, r->child);
      btc_puts(&b, ")");
      if (line) {
        btc_puts(&b, ": ");
        btc_putn(&b, line, len > 300 ? 300 : len);
      }
    } else {
      btc_puts(&b, "bt failed (pid ");
      btc_puti(&b, r->child);
      if (!r->status_known) {
        btc_puts(&b, ", exit status unknown");
      } else if (WIFEXITED(r->status)) {
        btc_puts(&b, ", exit status ");
        btc_putu(&b, (unsigned)WEXITSTATUS(r->status));
      } else if (WIFSIGNALED(r->status)) {
        btc_puts(&b, ", killed by signal ");
        btc_putu(&b, (unsigned)WTERMSIG(r->status));
      }
      btc_puts(&b, ")");
      line = btc_first_line(r, &len);
      if (line) {
        btc_puts(&b, ": ");
        btc_putn(&b, line, len > 300 ? 300 : len);
      }
    }
  }
  btc_puts(&b, "\n");
  if (b.len && msg[b.len - 1] != '\n') msg[b.len - 1] = '\n'; /* truncated */
  btc_write_all(2, msg, b.len);
  return rc;
}

/* argv common to both triggers: attrs from BTCRASH_ATTRS, then BTCRASH_ARGS. */
static int btc_append_config_args(const char **argv, int n) {
  for (int i = 0; i < g_nattrs && n + 3 < BTC_MAX_ARGV; i++) {
    argv[n++] = "--attr";
    argv[n++] = g_attrs[i];
  }
  /* The upload runs detached (bt upload, its own session): this process does not wait for the
     network, and the snapshot stays in BTCRASH_DIR either way. */
  if (g_upload[0] && n + 4 < BTC_MAX_ARGV) {
    argv[n++] = "--upload";
    argv[n++] = g_upload;
    argv[n++] = "--upload-background";
  }
  for (int i = 0; i < g_nargs && n + 2 < BTC_MAX_ARGV; i++) argv[n++] = g_args[i];
  argv[n] = NULL;
  return n;
}

/* Both captures run `BT snapshot PID --tid TID ...`: the numbers go to caller-owned buffers. */
struct btc_ids {
  char pid[24], tid[24];
};

static int btc_argv_head(const char **argv, struct btc_ids *ids, pid_t tid) {
  struct btc_buf b = {ids->pid, sizeof ids->pid, 0};
  btc_puti(&b, getpid());
  b = (struct btc_buf){ids->tid, sizeof ids->tid, 0};
  btc_puti(&b, tid);
  int n = 0;
  argv[n++] = g_bt;
  argv[n++] = "snapshot";
  argv[n++] = ids->pid;
  argv[n++] = "--tid";
  argv[n++] = ids->tid;
  return n;
}

/* ... and go on with `-o DIR --attr trigger=...`. */
static int btc_argv_output(const char **argv, int n, const char *trigger_attr) {
  argv[n++] = "-o";
  argv[n++] = g_dir;
  argv[n++] = "--attr";
  argv[n++] = trigger_attr;
  return n;
}

/* ======================================================================================
 * The signal handler.
 * ====================================================================================== */

static void btc_capture_signal(siginfo_t *si, void *uc, pid_t tid) {
  char sib[24], ucb[24];
  struct btc_buf b;
  b = (struct btc_buf){sib, sizeof sib, 0};
  btc_putx(&b, (unsigned long long)(uintptr_t)si);
  b = (struct btc_buf){ucb, sizeof ucb, 0};
  btc_putx(&b, (unsigned long long)(uintptr_t)uc);

  const char *argv[BTC_MAX_ARGV + 1];
  struct btc_ids ids;
  int n = btc_argv_head(argv, &ids, tid);
  argv[n++] = "--siginfo";
  argv[n++] = sib;
  argv[n++] = "--ucontext";
  argv[n++] = ucb;
  n = btc_argv_output(argv, n, "trigger=signal");
  btc_append_config_args(argv, n);

  struct btc_run r;
  btc_run_bt((char *const *)argv, &r);
  btc_report(&r);
}

static int btc_refaults(int sig, const siginfo_t *si) {
  /* A kernel-generated fault (si_code > 0) of these signals happens again when the handler
     returns, at the same instruction and with the same siginfo. */
  return si && si->si_code > 0 &&
         (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE);
}

static void btc_reraise(int sig, siginfo_t *si, pid_t tid) {
  sigaction(sig, &g_old[sig], NULL);
  if (btc_refaults(sig, si)) return;
  /* The signal is blocked while its handler runs: queue it again (with its siginfo) to this
     thread; it is delivered, with the restored disposition, as soon as the handler returns. */
  pid_t pid = getpid();
  if (!si || syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, si) != 0) syscall(SYS_tgkill, pid, tid, sig);
}

static void btc_handler(int sig, siginfo_t *si, void *uc) {
  int saved_errno = errno;
  pid_t tid = btc_gettid();
  long long start = 0, now = 0;
  int have_clock = btc_now_ms(&start) == 0;
  long long waited = 0, wait_limit = ((long long)g_timeout_s + 10) * 1000;
  for (;;) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&g_owner, &expected, (int)tid)) {
      atomic_store(&g_crash_state, 1);
      btc_capture_signal(si, uc, tid);
      atomic_store(&g_crash_state, 2);
      break; /* g_owner stays set: one capture per process */
    }
    if (expected == (int)tid) break; /* a fault of this thread while it runs bt */
    if (atomic_load(&g_crash_state) == 2) break;
    /* another thread is capturing (a crash, or btcrash_snapshot): wait, bounded */
    if ((have_clock && btc_now_ms(&now) == 0 ? now - start : waited) > wait_limit) break;
    btc_sleep_ms(10);
    waited += 10;
  }
  btc_reraise(sig, si, tid);
  errno = saved_errno;
}

/* ======================================================================================
 * Initialisation (not in a signal handler: getenv, malloc and friends are fine here).
 * ====================================================================================== */

static int btc_copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n + 1 > cap) return -1;
  memcpy(dst, src, n + 1);
  return 0;
}

static int btc_is_exe(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* path made absolute against the working directory (not resolved: it may not exist yet). */
static int btc_absolute(char *dst, size_t cap, const char *path) {
  if (path[0] == '/') return btc_copy(dst, cap, path);
  char cwd[BTC_PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return -1;
  struct btc_buf b = {dst, cap, 0};
  btc_puts(&b, cwd);
  if (b.len == 0 || dst[b.len - 1] != '/') btc_puts(&b, "/");
  btc_puts(&b, path);
  return b.len + 1 < cap ? 0 : -1;
}

static int btc_search_path(char *dst, size_t cap, const char *name) {
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  while (1) {
    const char *end = strchr(path, ':');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    char cand[BTC_PATH_MAX];
    struct btc_buf b = {cand, sizeof cand, 0};
    btc_putn(&b, len ? path : ".", len ? len : 1);
    btc_puts(&b, "/");
    btc_puts(&b, name);
    if (b.len + 1 < sizeof cand && btc_is_exe(cand) && btc_absolute(dst, cap, cand) == 0) return 0;
    if (!end) return -1;
    path = end + 1;
  }
}

/* ../bin/bt relative to the directory of this library (build/lib -> build/bin/bt). */
static int btc_next_to_library(char *dst, size_t cap) {
  Dl_info info;
  if (!dladdr(&g_enabled, &info) || !info.dli_fname || !info.dli_fname[0]) return -1;
  char lib[PATH_MAX];
  if (!realpath(info.dli_fname, lib)) return -1;
  char *slash = strrchr(lib, '/');
  if (!slash) return -1;
  *slash = '\0';
  char cand[BTC_PATH_MAX];
  struct btc_buf b = {cand, sizeof cand, 0};
  btc_puts(&b, lib);
  btc_puts(&b, "/../bin/bt");
  if (b.len + 1 >= sizeof cand || !btc_is_exe(cand)) return -1;
  char real[PATH_MAX];
  if (!realpath(cand, real)) return -1;
  return btc_copy(dst, cap, real);
}

static void btc_config_bt(void) {
  const char *env = getenv("BTCRASH_BT");
  g_bt[0] = '\0';
  if (env && env[0]) {
    if (strchr(env, '/')) {
      if (btc_absolute(g_bt, sizeof g_bt, env) != 0) g_bt[0] = '\0';
    } else if (btc_search_path(g_bt, sizeof g_bt, env) != 0) {
      g_bt[0] = '\0';
    }
    if (!g_bt[0]) {
      struct btc_buf b = {g_bt_missing, sizeof g_bt_missing, 0};
      btc_puts(&b, "BTCRASH_BT=");
      btc_puts(&b, env);
    }
    return; /* a BTCRASH_BT that does not exist is reported when bt is needed */
  }
  if (btc_search_path(g_bt, sizeof g_bt, "bt") == 0) return;
  if (btc_next_to_library(g_bt, sizeof g_bt) == 0) return;
  g_bt[0] = '\0';
  btc_copy(g_bt_missing, sizeof g_bt_missing, "bt is neither in PATH nor in ../bin next to libbtcrash");
}

/* Creates dir and its missing parents, mode 0700: snapshots hold a process's memory. */
static void btc_mkdirs(const char *dir) {
  char p[BTC_PATH_MAX];
  if (btc_copy(p, sizeof p, dir) != 0) return;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    (void)mkdir(p, 0700); /* an existing one is fine */
    *s = '/';
  }
  (void)mkdir(p, 0700);
}

/* The output directory, created when missing, always passed with a trailing '/': bt then takes
 * it as a directory even if it could not be made (and says so), never as a file name that the
 * next crash would overwrite. */
static void btc_config_dir(void) {
  const char *env = getenv("BTCRASH_DIR");
  if (env && env[0] && btc_absolute(g_dir, sizeof g_dir, env) == 0) {
    btc_mkdirs(g_dir);
  } else if (!getcwd(g_dir, sizeof g_dir)) {
    btc_copy(g_dir, sizeof g_dir, ".");
  }
  size_t n = strlen(g_dir);
  if (n + 1 < sizeof g_dir && (n == 0 || g_dir[n - 1] != '/')) {
    g_dir[n] = '/';
    g_dir[n + 1] = '\0';
  }
}

/* Splits src at any of seps into words stored in buf; returns the count. */
static int btc_split(const char *src, const char *seps, char *buf, size_t cap, const char **words,
                     int max_words, int need_equals) {
  int n = 0;
  size_t used = 0;
  while (*src && n < max_words) {
    while (*src && strchr(seps, *src)) src++;
    if (!*src) break;
    size_t len = 0;
    while (src[len] && !strchr(seps, src[len])) len++;
    if (used + len + 1 > cap) break; /* no room: drop this word and the rest */
    if (!need_equals || (memchr(src, '=', len) && src[0] != '=')) {
      memcpy(buf + used, src, len);
      buf[used + len] = '\0';
      words[n++] = buf + used;
      used += len + 1;
    }
    src += len;
  }
  return n;
}

static void btc_config_env(void) {
  int n = 0;
  if (environ) {
    for (char **e = environ; *e && n < BTC_MAX_ENV; e++) {
      if (strncmp(*e, "BTCRASH_DISABLE=", 16) == 0) continue;
      g_envp[n++] = *e;
    }
  }
  g_envp[n++] = g_env_disable;
  g_envp[n] = NULL;
}

static void btc_config_yama(void) {
  g_yama = 0;
  int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char c = 0;
  if (read(fd, &c, 1) == 1 && c == '1') g_yama = 1;
  close(fd);
}

static void btc_config_timeout(void) {
  const char *env = getenv("BTCRASH_TIMEOUT");
  g_timeout_s = BTC_DEFAULT_TIMEOUT;
  if (!env || !env[0]) return;
  char *end = NULL;
  long v = strtol(env, &end, 10);
  if (end && *end == '\0' && v > 0) g_timeout_s = v > BTC_MAX_TIMEOUT ? BTC_MAX_TIMEOUT : (int)v;
}

static int btc_altstack_install(void) {
  stack_t cur;
  if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_size >= BTC_ALTSTACK_SIZE)
    return 0; /* the thread already has a large enough one */
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (page == 0 || page > 65536) page = 4096;
  size_t size = BTC_ALTSTACK_SIZE;
  long min = sysconf(_SC_MINSIGSTKSZ);
  if (min > 0 && (size_t)min * 4 > size) size = ((size_t)min * 4 + page - 1) & ~(page - 1);
  size_t len = page + BTC_ALTSTACK_HEADER + size; /* a guard page below the stack */
  len = (len + page - 1) & ~(page - 1);
  void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return -1;
  mprotect(map, page, PROT_NONE);
  struct btc_altstack_header *h = (struct btc_altstack_header *)((char *)map + page);
  h->magic = BTC_ALTSTACK_MAGIC;
  h->map = map;
  h->len = len;
  stack_t ss = {.ss_sp = (char *)h + BTC_ALTSTACK_HEADER, .ss_flags = 0,
                .ss_size = len - page - BTC_ALTSTACK_HEADER};
  if (sigaltstack(&ss, NULL) != 0) {
    munmap(map, len);
    return -1;
  }
  return 0;
}

__attribute__((constructor)) static void btc_init(void) {
  const char *disable = getenv("BTCRASH_DISABLE");
  if (disable && disable[0] && strcmp(disable, "0") != 0) return;

  btc_config_bt();
  btc_config_dir();
  const char *attrs = getenv("BTCRASH_ATTRS");
  if (attrs) g_nattrs = btc_split(attrs, ",", g_attr_buf, sizeof g_attr_buf, g_attrs, BTC_MAX_ATTRS, 1);
  const char *upload = getenv("BTCRASH_UPLOAD");
  if (upload && upload[0] && strlen(upload) < sizeof g_upload) strcpy(g_upload, upload);
  const char *args = getenv("BTCRASH_ARGS");
  if (args) g_nargs = btc_split(args, " \t\n", g_args_buf, sizeof g_args_buf, g_args, BTC_MAX_ARGS, 0);
  btc_config_env();
  btc_config_yama();
  btc_config_timeout();
  btc_altstack_install();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = btc_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < BTC_NSIGNALS; i++) {
    int sig = g_signals[i];
    struct sigaction old;
    if (sigaction(sig, &sa, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == btc_handler) {
      memset(&old, 0, sizeof old);
      old.sa_handler = SIG_DFL;
    }
    g_old[sig] = old;
  }
  g_enabled = 1;
}

/* ======================================================================================
 * Public API.
 * ====================================================================================== */

BTC_EXPORT int btcrash_snapshot(const char *reason) {
  if (!g_enabled) return -1;
  int oldcancel;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldcancel);
  pthread_mutex_lock(&g_api_mutex);
  pid_t tid = btc_gettid();
  int expected = 0, rc = -1;
  if (atomic_compare_exchange_strong(&g_owner, &expected, (int)tid)) {
    char reasonb[16 + BTC_REASON_MAX];
    struct btc_buf b = {reasonb, sizeof reasonb, 0};
    btc_puts(&b, "reason=");
    if (reason) btc_putn(&b, reason, BTC_REASON_MAX);

    const char *argv[BTC_MAX_ARGV + 1];
    struct btc_ids ids;
    int n = btc_argv_head(argv, &ids, tid);
    n = btc_argv_output(argv, n, "trigger=api");
    if (reason) {
      argv[n++] = "--attr";
      argv[n++] = reasonb;
    }
    btc_append_config_args(argv, n);

    struct btc_run r;
    btc_run_bt((char *const *)argv, &r);
    rc = btc_report(&r);
    atomic_store(&g_owner, 0);
  }
  pthread_mutex_unlock(&g_api_mutex);
  pthread_setcancelstate(oldcancel, NULL);
  return rc;
}

BTC_EXPORT int btcrash_thread_init(void) { return btc_altstack_install(); }

BTC_EXPORT void btcrash_thread_fini(void) {
  stack_t cur;
  if (sigaltstack(NULL, &cur) != 0 || (cur.ss_flags & (SS_DISABLE | SS_ONSTACK))) return;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (page == 0 || page > 65536) page = 4096;
  /* Ours start BTC_ALTSTACK_HEADER bytes into a page: the header is then in the same
     (mapped) page, so it can be read safely before trusting it. */
  if (((uintptr_t)cur.ss_sp & (page - 1)) != BTC_ALTSTACK_HEADER) return;
  const struct btc_altstack_header *h =
      (const struct btc_altstack_header *)((char *)cur.ss_sp - BTC_ALTSTACK_HEADER);
  if (h->magic != BTC_ALTSTACK_MAGIC || (char *)h->map + page != (const char *)h) return;
  void *map = h->map;
  size_t len = h->len;
  stack_t off = {.ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0};
  if (sigaltstack(&off, NULL) == 0) munmap(map, len);
}

BTC_EXPORT int btcrash_enabled(void) { return g_enabled; }
