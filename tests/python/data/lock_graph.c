#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* LOCK_MODE=cycle: a holds m1 and wants m2, b holds m2 and wants rw (for writing), c holds rw
   (written) and wants m1: three threads, two kinds of lock, one cycle. LOCK_MODE=contention: c
   sleeps holding rw instead: b waits for c and a for b, but nobody waits for a. LOCK_MODE=pair:
   a holds m1 and wants m2, b holds m2 and wants m1 (two threads), c sleeps holding rw. With the
   argument "crash" the main thread faults once the workers are blocked (a core of that state). */
pthread_mutex_t m1 = PTHREAD_MUTEX_INITIALIZER, m2 = PTHREAD_MUTEX_INITIALIZER;
pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t all;
static int cycle, pair;
static void *ta(void *arg) { pthread_mutex_lock(&m1); pthread_barrier_wait(&all); pthread_mutex_lock(&m2); return arg; }
static void *tb(void *arg) {
  pthread_mutex_lock(&m2);
  pthread_barrier_wait(&all);
  if (pair) pthread_mutex_lock(&m1);
  else pthread_rwlock_wrlock(&rw);
  return arg;
}
static void *tc(void *arg) {
  pthread_rwlock_wrlock(&rw);
  pthread_barrier_wait(&all);
  if (cycle) pthread_mutex_lock(&m1);
  else pause();
  return arg;
}
int main(int argc, char **argv) {
  pthread_t a, b, c;
  const char *mode = getenv("LOCK_MODE");
  cycle = mode && !strcmp(mode, "cycle");
  pair = mode && !strcmp(mode, "pair");
  pthread_barrier_init(&all, 0, 3);
  pthread_create(&a, 0, ta, 0);
  pthread_create(&b, 0, tb, 0);
  pthread_create(&c, 0, tc, 0);
  printf("ready\n");
  fflush(stdout);
  if (argc > 1 && !strcmp(argv[1], "crash")) {
    usleep(300000);
    *(volatile int *)0 = 1;
  }
  pthread_join(a, 0);
  return 0;
}
