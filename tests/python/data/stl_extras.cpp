// Library types bt's built-in summaries do not cover but gdb's libstdc++ printers do (std::tuple,
// std::bitset, std::atomic): the values plugins/stl_extras.py renders, compared with gdb.
#include <atomic>
#include <bitset>
#include <csignal>
#include <string>
#include <tuple>
#include <vector>

struct Stats {
  std::atomic<int> hits{5};
  std::atomic<long> bytes{1 << 20};
  std::bitset<16> flags{0x9};
  std::tuple<int, double, char> last{7, 2.5, 'x'};
};

Stats g_stats;

__attribute__((noinline)) void crash(Stats &stats, const std::tuple<int, std::string> &pair,
                                     std::bitset<70> wide, std::vector<std::tuple<int, int>> &pairs) {
  std::tuple<> nothing;
  std::bitset<8> none;
  std::atomic<bool> ready{true};
  asm volatile("" : : "r"(&stats), "r"(&pair), "r"(&wide), "r"(&pairs), "r"(&nothing), "r"(&none),
               "r"(&ready) : "memory");
  raise(SIGSEGV);
}

int main(int argc, char **) {
  std::tuple<int, std::string> pair{argc, "two"};
  std::bitset<70> wide;
  wide.set(0);
  wide.set(65);
  std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
  crash(g_stats, pair, wide, pairs);
}
