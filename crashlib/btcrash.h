/*
 * btcrash.h - in-process crash capture with `bt snapshot` (libbtcrash.so).
 *
 * Link a program with -lbtcrash, or load the library with LD_PRELOAD=libbtcrash.so, and a
 * fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS) makes the process
 * run `bt snapshot <pid> --tid <tid> --siginfo 0x.. --ucontext 0x.. -o <dir> --attr
 * trigger=signal ...` in a forked child that it allows to ptrace it (Yama PR_SET_PTRACER), wait
 * for it (bounded by BTCRASH_TIMEOUT seconds, default 30, then the child is killed), and then
 * die from the original signal exactly as it would have without the library (same exit status,
 * same core). The configuration is read once, by a constructor, from the environment:
 * BTCRASH_BT (the bt executable; default `bt` in PATH, else ../bin/bt next to the library's
 * directory), BTCRASH_DIR (snapshot directory, created mode 0700 when missing; default the
 * working directory at start-up),
 * BTCRASH_ATTRS (comma-separated K=V pairs, each passed as `--attr K=V`), BTCRASH_ARGS (extra
 * space-separated arguments for bt snapshot, e.g. `--no-vars`), BTCRASH_UPLOAD (a btengine crash
 * server's URL: the snapshot is then also sent there by a detached `bt upload`, which reads the
 * token from BT_UPLOAD_TOKEN and logs the outcome in DIR/bt-upload.log; the snapshot stays in
 * DIR either way), BTCRASH_TIMEOUT (seconds) and BTCRASH_DISABLE=1 (install nothing). The signal handler runs on an alternate stack (so that a
 * stack overflow of the main thread is captured too; other threads get one with
 * btcrash_thread_init()), uses only async-signal-safe system calls, writes nothing to stdout and
 * at most one line to stderr. The library needs nothing but libc.
 */
#ifndef BTCRASH_H
#define BTCRASH_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Takes a snapshot of the running process without a crash: runs `bt snapshot <pid> --tid
 * <caller's tid> -o <dir> --attr trigger=api --attr reason=<reason> ...` and waits for it (bounded
 * by BTCRASH_TIMEOUT). Returns bt's exit status (0: snapshot written), or -1 if bt could not run
 * (not found, disabled, killed, timed out, another capture in progress). Thread-safe; not
 * async-signal-safe. `reason` may be NULL (no reason attribute); it is truncated to 1000 bytes.
 */
int btcrash_snapshot(const char *reason);

/*
 * Gives the calling thread an alternate signal stack (64 KiB, plus a guard page), so that a stack
 * overflow in this thread can be captured too. The main thread gets one at start-up. Does nothing
 * if the thread already has an alternate stack of at least that size. Returns 0, or -1 on error.
 * The stack is not freed when the thread exits (call btcrash_thread_fini() before that).
 */
int btcrash_thread_init(void);

/* Removes and frees the alternate stack that btcrash_thread_init() gave the calling thread. */
void btcrash_thread_fini(void);

/* 1 when the handlers are installed (a bt executable may still be missing), else 0. */
int btcrash_enabled(void);

#ifdef __cplusplus
}
#endif

#endif /* BTCRASH_H */
