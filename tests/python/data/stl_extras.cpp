// libstdc++'s container adaptors, which bt's built-in summaries do not cover but gdb's libstdc++
// printers do (std::stack, std::queue, std::priority_queue): the values plugins/stl_extras.py
// renders, compared with gdb. (The bitset is built in: the raising-printer test overrides it.)
#include <bitset>
#include <csignal>
#include <list>
#include <queue>
#include <stack>
#include <string>
#include <vector>

struct Jobs {
  std::queue<int> pending;
  std::stack<std::string> undo;
};

Jobs g_jobs;

__attribute__((noinline)) void crash(Jobs &jobs, std::stack<int> &s) {
  std::queue<std::string> q;
  q.push("a");
  q.push("b");
  std::priority_queue<int> pq;
  pq.push(3);
  pq.push(9);
  pq.push(1);
  std::stack<int, std::vector<int>> vs;
  vs.push(4);
  std::queue<int, std::list<int>> lq;
  std::stack<int> es;
  std::bitset<8> none;
  asm volatile("" : : "r"(&jobs), "r"(&s), "r"(&q), "r"(&pq), "r"(&vs), "r"(&lq), "r"(&es),
               "r"(&none) : "memory");
  raise(SIGSEGV);
}

int main(int argc, char **) {
  g_jobs.pending.push(argc);
  g_jobs.pending.push(7);
  g_jobs.undo.push("rename");
  std::stack<int> s;
  s.push(1);
  s.push(2);
  std::vector<std::stack<int>> stacks(2);
  stacks[1].push(5);
  crash(g_jobs, s);
}
