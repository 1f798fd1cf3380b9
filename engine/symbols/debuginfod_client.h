// DebuginfodClient: fetches a module's executable or separate debug file by GNU build-id from the
// debuginfod servers named in DEBUGINFOD_URLS (through elfutils' libdebuginfod: HTTP, several
// servers, the servers' "not found" answers remembered for a while), into btengine's cache
// (CACHE/debuginfod, next to the inflated sections, unless DEBUGINFOD_CACHE_PATH names another),
// so a core or minidump from another machine gets functions, lines, variables and unwind tables.
// Nothing is fetched when DEBUGINFOD_URLS is unset or empty, or when offline (--offline). A
// transfer is bounded: DEBUGINFOD_TIMEOUT (here 30 s without progress unless set),
// DEBUGINFOD_MAXTIME (120 s) and DEBUGINFOD_MAXSIZE (4 GiB). A file is asked for once per build-id.
// libdebuginfod is opened on the first fetch, not linked: a run that fetches nothing loads none
// of it (nor the libcurl it needs).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct debuginfod_client;

namespace bt {

class DebuginfodClient {
public:
  DebuginfodClient(std::string cacheDir, bool offline);
  ~DebuginfodClient();
  DebuginfodClient(const DebuginfodClient &) = delete;
  DebuginfodClient &operator=(const DebuginfodClient &) = delete;

  // Some server is named and fetching is allowed.
  bool enabled() const { return enabled_; }
  // The fetched file's path in the cache, or nullopt. A failure other than "the servers do not
  // have it" (a timeout, a refused connection, a file over the size limit) adds a warning.
  std::optional<std::string> debugInfo(const std::string &buildIdHex, std::vector<std::string> &warnings);
  std::optional<std::string> executable(const std::string &buildIdHex, std::vector<std::string> &warnings);

  struct Api;  // libdebuginfod's functions, bound on the first fetch

private:
  std::optional<std::string> fetch(bool debug, const std::string &buildIdHex, std::vector<std::string> &warnings);
  bool start(std::vector<std::string> &warnings);  // opens libdebuginfod; false (and says why) if it cannot

  bool enabled_ = false;
  std::unique_ptr<Api> api_;
  ::debuginfod_client *client_ = nullptr;
  std::map<std::pair<bool, std::string>, std::optional<std::string>> asked_;
};

}  // namespace bt
