#include "symbols/debuginfod_client.h"

#include "support/shared_library.h"

#include <elfutils/debuginfod.h>
#include <llvm/Support/FileSystem.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace bt {

// libdebuginfod's entry points, from the library opened on the first fetch (support/
// shared_library.h: linking it loaded libcurl and 30 libraries into every run).
struct DebuginfodClient::Api {
  decltype(&::debuginfod_begin) begin = nullptr;
  decltype(&::debuginfod_end) end = nullptr;
  decltype(&::debuginfod_find_debuginfo) findDebuginfo = nullptr;
  decltype(&::debuginfod_find_executable) findExecutable = nullptr;
};

static llvm::Expected<DebuginfodClient::Api> loadApi() {
  auto lib = SharedLibrary::open("libdebuginfod.so.1", "libdebuginfod1");
  if (!lib) return lib.takeError();
  DebuginfodClient::Api api;
  lib->bind(api.begin, "debuginfod_begin");
  lib->bind(api.end, "debuginfod_end");
  lib->bind(api.findDebuginfo, "debuginfod_find_debuginfo");
  lib->bind(api.findExecutable, "debuginfod_find_executable");
  if (llvm::Error e = lib->bound()) return std::move(e);
  return api;
}

DebuginfodClient::DebuginfodClient(std::string cacheDir, bool offline) {
  const char *urls = getenv(DEBUGINFOD_URLS_ENV_VAR);
  if (offline || !urls || !*urls) return;
  // libdebuginfod reads its settings from the environment; the user's win (overwrite = 0).
  if (!cacheDir.empty()) setenv(DEBUGINFOD_CACHE_PATH_ENV_VAR, (cacheDir + "/debuginfod").c_str(), 0);
  // libdebuginfod makes only the last directory of the path, and answers "not found" without
  // asking any server when it cannot.
  if (const char *cache = getenv(DEBUGINFOD_CACHE_PATH_ENV_VAR); cache && *cache)
    (void)llvm::sys::fs::create_directories(cache);
  setenv(DEBUGINFOD_TIMEOUT_ENV_VAR, "30", 0);
  setenv(DEBUGINFOD_MAXTIME_ENV_VAR, "120", 0);
  setenv(DEBUGINFOD_MAXSIZE_ENV_VAR, "4294967296", 0);
  enabled_ = true;  // the library is opened on the first fetch
}

DebuginfodClient::~DebuginfodClient() {
  if (client_) api_->end(client_);
}

bool DebuginfodClient::start(std::vector<std::string> &warnings) {
  if (client_) return true;
  auto api = loadApi();
  if (!api) {
    warnings.push_back("debuginfod: " + llvm::toString(api.takeError()) + "; nothing is fetched from " +
                       getenv(DEBUGINFOD_URLS_ENV_VAR));
    enabled_ = false;
    return false;
  }
  api_ = std::make_unique<Api>(*api);
  client_ = api_->begin();
  enabled_ = client_ != nullptr;
  return enabled_;
}

std::optional<std::string> DebuginfodClient::debugInfo(const std::string &buildIdHex,
                                                       std::vector<std::string> &warnings) {
  return fetch(true, buildIdHex, warnings);
}

std::optional<std::string> DebuginfodClient::executable(const std::string &buildIdHex,
                                                        std::vector<std::string> &warnings) {
  return fetch(false, buildIdHex, warnings);
}

std::optional<std::string> DebuginfodClient::fetch(bool debug, const std::string &buildIdHex,
                                                   std::vector<std::string> &warnings) {
  if (!enabled_ || buildIdHex.empty()) return std::nullopt;
  auto [it, fresh] = asked_.emplace(std::make_pair(debug, buildIdHex), std::nullopt);
  if (!fresh || !start(warnings)) return it->second;
  char *path = nullptr;
  // A build-id given as hex text: length 0.
  const auto *id = reinterpret_cast<const unsigned char *>(buildIdHex.c_str());
  int fd = debug ? api_->findDebuginfo(client_, id, 0, &path) : api_->findExecutable(client_, id, 0, &path);
  if (fd >= 0) {
    close(fd);
    if (path) it->second = std::string(path);
  } else if (fd != -ENOENT && fd != -ENOSYS) {
    warnings.push_back(std::string("debuginfod: the ") + (debug ? "debug file" : "executable") +
                       " of build " + buildIdHex + " could not be fetched from " +
                       getenv(DEBUGINFOD_URLS_ENV_VAR) + ": " + strerror(-fd));
  }
  free(path);
  return it->second;
}

}  // namespace bt
