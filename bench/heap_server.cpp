// Benchmark target for snapshots: a multi-threaded program with a large heap. 10 named threads
// park in short call chains; main allocates HEAP_MB of heap (strings, vectors and map nodes,
// all touched) and prints "READY <pid>". gcore of it is about HEAP_MB large; a snapshot should
// not grow with the heap.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

static std::mutex g_mu;
static std::condition_variable g_cv;
static std::atomic<int> g_parked{0};

struct Request {
  int id;
  std::string path;
  std::vector<int> payload;
};

__attribute__((noinline)) static void park(const Request &req) {
  std::unique_lock<std::mutex> lock(g_mu);
  g_parked++;
  g_cv.wait(lock, [] { return false; });
  (void)req;
}

__attribute__((noinline)) static void handle(int id) {
  Request req{id, "/api/v1/item/" + std::to_string(id), std::vector<int>(16, id)};
  park(req);
}

int main(int argc, char **argv) {
  long heapMb = argc > 1 ? atol(argv[1]) : 1024;
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i)
    threads.emplace_back([i] {
      char name[16];
      snprintf(name, sizeof name, "worker-%d", i);
      pthread_setname_np(pthread_self(), name);
      handle(i);
    });
  // The heap: a quarter in a map of strings, the rest in 1 MiB vectors, every page written.
  std::map<int, std::string> cache;
  std::vector<std::vector<char>> blocks;
  long mapBytes = heapMb * (1 << 20) / 4;
  for (int k = 0; mapBytes > 0; ++k, mapBytes -= 4096) cache[k] = std::string(4096 - 64, char('a' + k % 26));
  for (long m = 0; m < heapMb * 3 / 4; ++m) blocks.emplace_back(1 << 20, char(m));
  while (g_parked.load() < 10) usleep(1000);
  printf("READY %d\n", getpid());
  fflush(stdout);
  pause();
  return int(cache.size() + blocks.size());
}
