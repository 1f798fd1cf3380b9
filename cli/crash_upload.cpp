#include "cli/crash_upload.h"

#include "cli/command_line.h"
#include "cli/subcommands.h"
#include "support/error.h"
#include "support/shared_library.h"

#include <curl/curl.h>
#include <llvm/Support/JSON.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>

namespace bt {

namespace {

const char kUploadUsage[] = R"(usage: bt upload URL FILE... [--upload-token-file FILE] [--upload-timeout SECONDS]
                 [--log FILE]

Sends snapshots or minidumps (kept on disk by a capture whose upload failed, say) to a btengine
crash server (btengine server, docs/server.md): each file is POSTed to URL/api/v1/crashes. The
token is the first line of --upload-token-file, else BT_UPLOAD_TOKEN; a URL's ?token=T works too.
A file the server already has is reported as such (uploads are idempotent). Files are never removed.
--log FILE also appends each file's outcome, with the time, to FILE (what a background upload
started by `bt snapshot --upload-background` writes, as DIR/bt-upload.log next to the snapshot).

exit status: 0 when every file was accepted, 1 when one was not (each is reported), 2 for bad usage.
)";

// The endpoint: URL as given when it already names it, else URL/api/v1/crashes (a query string,
// ?token=T, stays at the end).
std::string endpoint(const std::string &url) {
  size_t q = url.find('?');
  std::string base = url.substr(0, q), query = q == std::string::npos ? "" : url.substr(q);
  if (!llvm::StringRef(base).ends_with("/api/v1/crashes")) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    base += "/api/v1/crashes";
  }
  return base + query;
}

bool isHttpUrl(llvm::StringRef s) { return s.starts_with("http://") || s.starts_with("https://"); }

// The scheme, host and port of URL: where a path the server answers with is relative to.
std::string origin(const std::string &url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t slash = url.find_first_of("/?", scheme + 3);
  return url.substr(0, slash);
}

size_t collect(char *data, size_t size, size_t n, void *out) {
  auto *s = static_cast<std::string *>(out);
  if (s->size() < (1u << 20)) s->append(data, size * n);  // an answer is a line of JSON
  return size * n;
}

// What the server said, for an error message: its {"error": ...}, else the start of the body.
std::string serverMessage(const std::string &body) {
  llvm::Expected<llvm::json::Value> v = llvm::json::parse(body);
  if (v) {
    if (const llvm::json::Object *o = v->getAsObject())
      if (std::optional<llvm::StringRef> e = o->getString("error")) return e->str();
  } else {
    llvm::consumeError(v.takeError());
  }
  std::string s = body.substr(0, 200);
  for (char &ch : s)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return s;
}

}  // namespace

int parseUploadOption(const char *cmd, int argc, char **argv, int &i, UploadOptions &o) {
  std::string a = argv[i];
  const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
  if (a == "--upload") {
    if (!v || !isHttpUrl(v))
      return usageError(cmd, "--upload needs an http:// or https:// URL");
    o.url = v;
  } else if (a == "--upload-token-file") {
    if (!v) return usageError(cmd, "--upload-token-file needs a file");
    // Read now: a core_pattern handler's command line is world-readable, a root-only file is not.
    std::ifstream f(v);
    std::string line;
    if (!f || !std::getline(f, line)) return usageError(cmd, std::string("cannot read a token from ") + v);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return usageError(cmd, std::string("the first line of ") + v + " is empty");
    o.token = line;
  } else if (a == "--upload-timeout") {
    uint64_t n = 0;
    if (!parseNumber(v, n, 10) || n == 0 || n > 3600)
      return usageError(cmd, "--upload-timeout needs a number of seconds (1-3600)");
    o.timeoutSeconds = long(n);
  } else {
    return -1;
  }
  ++i;
  return 0;
}

// libcurl's entry points, from the library opened on the first upload (support/shared_library.h:
// linked, it loaded 30 libraries into every run of bt, a crash handler included).
struct Curl {
  decltype(&::curl_global_init) globalInit = nullptr;
  decltype(&::curl_easy_init) init = nullptr;
  decltype(&::curl_easy_cleanup) cleanup = nullptr;
  decltype(&::curl_easy_setopt) setopt = nullptr;
  decltype(&::curl_easy_perform) perform = nullptr;
  decltype(&::curl_easy_getinfo) getinfo = nullptr;
  decltype(&::curl_easy_strerror) strerror = nullptr;
  decltype(&::curl_slist_append) slistAppend = nullptr;
  decltype(&::curl_slist_free_all) slistFreeAll = nullptr;
};

llvm::Expected<const Curl *> curlApi() {
  static std::once_flag once;
  static Curl api;
  static std::string error;
  std::call_once(once, [] {
    auto lib = SharedLibrary::open("libcurl.so.4", "libcurl4");
    if (!lib) {
      error = llvm::toString(lib.takeError());
      return;
    }
    lib->bind(api.globalInit, "curl_global_init");
    lib->bind(api.init, "curl_easy_init");
    lib->bind(api.cleanup, "curl_easy_cleanup");
    lib->bind(api.setopt, "curl_easy_setopt");
    lib->bind(api.perform, "curl_easy_perform");
    lib->bind(api.getinfo, "curl_easy_getinfo");
    lib->bind(api.strerror, "curl_easy_strerror");
    lib->bind(api.slistAppend, "curl_slist_append");
    lib->bind(api.slistFreeAll, "curl_slist_free_all");
    if (llvm::Error e = lib->bound()) error = llvm::toString(std::move(e));
    if (error.empty()) api.globalInit(CURL_GLOBAL_DEFAULT);
  });
  if (!error.empty()) return makeError(ErrorKind::Generic, "cannot upload: {0}", error);
  return &api;
}

llvm::Expected<UploadResult> uploadFile(const std::string &path, const UploadOptions &o) {
  auto api = curlApi();
  if (!api) return api.takeError();
  const Curl &libcurl = **api;
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!file) return makeError(ErrorKind::MissingFile, "cannot read {0}: {1}", path, file.getError().message());

  std::unique_ptr<CURL, void (*)(CURL *)> curl(libcurl.init(), libcurl.cleanup);
  if (!curl) return makeError(ErrorKind::Generic, "cannot start an HTTP client (libcurl)");
  std::string url = endpoint(o.url), body;
  char err[CURL_ERROR_SIZE] = "";
  struct curl_slist *headers = nullptr;
  headers = libcurl.slistAppend(headers, "Content-Type: application/octet-stream");
  headers = libcurl.slistAppend(headers, "Expect:");  // no 100-continue round trip for a few KB
  std::string name = llvm::sys::path::filename(path).str();
  for (char &ch : name)
    if (ch == '"' || ch == '\\' || ch < 0x20) ch = '_';
  headers = libcurl.slistAppend(headers, ("Content-Disposition: attachment; filename=\"" + name + "\"").c_str());
  std::string token = o.token;
  if (token.empty())
    if (const char *t = getenv("BT_UPLOAD_TOKEN"); t && *t) token = t;
  if (!token.empty()) headers = libcurl.slistAppend(headers, ("Authorization: Bearer " + token).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist *)> headersOwner(headers, libcurl.slistFreeAll);

  CURL *c = curl.get();
  libcurl.setopt(c, CURLOPT_URL, url.c_str());
  libcurl.setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  libcurl.setopt(c, CURLOPT_POST, 1L);
  libcurl.setopt(c, CURLOPT_POSTFIELDS, (*file)->getBufferStart());
  libcurl.setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t((*file)->getBufferSize()));
  libcurl.setopt(c, CURLOPT_HTTPHEADER, headers);
  libcurl.setopt(c, CURLOPT_TIMEOUT, o.timeoutSeconds);
  libcurl.setopt(c, CURLOPT_CONNECTTIMEOUT, std::min(o.timeoutSeconds, 10L));
  libcurl.setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: bt may be a crash handler
  libcurl.setopt(c, CURLOPT_ERRORBUFFER, err);
  libcurl.setopt(c, CURLOPT_WRITEFUNCTION, collect);
  libcurl.setopt(c, CURLOPT_WRITEDATA, &body);
  libcurl.setopt(c, CURLOPT_USERAGENT, "bt-upload");
  CURLcode rc = libcurl.perform(c);
  if (rc != CURLE_OK)
    return makeError(ErrorKind::Generic, "cannot upload to {0}: {1}", origin(o.url),
                     err[0] ? std::string(err) : std::string(libcurl.strerror(rc)));
  UploadResult r;
  libcurl.getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  if (r.status != 200 && r.status != 201) {
    std::string said = serverMessage(body);
    return makeError(ErrorKind::Generic, "{0} refused the upload (HTTP {1}){2}", origin(o.url), r.status,
                     said.empty() ? std::string() : ": " + said);
  }
  if (llvm::Expected<llvm::json::Value> v = llvm::json::parse(body)) {
    if (const llvm::json::Object *obj = v->getAsObject()) {
      if (std::optional<int64_t> id = obj->getInteger("id")) r.id = *id;
      // The crash's web page when the server has one, else its API address.
      std::optional<llvm::StringRef> u = obj->getString("page");
      if (!u) u = obj->getString("url");
      if (u) r.location = u->starts_with("/") ? origin(o.url) + u->str() : u->str();
    }
  } else {
    llvm::consumeError(v.takeError());
  }
  return r;
}

std::string resendCommand(const UploadOptions &o, const std::string &path) {
  return "bt upload " + o.url + " " + path;
}

std::string describeUpload(const UploadResult &r, const UploadOptions &o) {
  std::string s = "uploaded to " + origin(o.url);
  if (r.id >= 0) s += ": crash " + std::to_string(r.id);
  s += r.status == 201 ? " (new)" : " (already stored)";
  if (!r.location.empty()) s += " " + r.location;
  return s;
}

int uploadMain(int argc, char **argv) {
  UploadOptions o;
  std::vector<std::string> files;
  std::string logPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kUploadUsage;
      return 0;
    }
    if (a == "--log") {
      if (i + 1 >= argc) return usageError("upload", "--log needs a file");
      logPath = argv[++i];
      continue;
    }
    if (int r = parseUploadOption("upload", argc, argv, i, o); r >= 0) {
      if (r) return r;
      continue;
    }
    if (a.size() > 1 && a[0] == '-') return usageError("upload", "unknown option '" + a + "'");
    if (o.url.empty() && isHttpUrl(a))
      o.url = a;
    else
      files.push_back(a);
  }
  if (o.url.empty()) return usageError("upload", "the server's URL (http://HOST:PORT) is required");
  if (files.empty()) return usageError("upload", "no file to upload");
  std::ofstream log;
  if (!logPath.empty()) log.open(logPath, std::ios::app);
  auto logLine = [&](const std::string &line) {
    if (!log) return;
    log << utcNow("%Y-%m-%dT%H:%M:%SZ") << " " << line << "\n";
    log.flush();
  };
  int status = 0;
  for (const std::string &f : files) {
    llvm::Expected<UploadResult> r = uploadFile(f, o);
    if (!r) {
      std::string line = f + ": " + llvm::toString(r.takeError()) + " (send it later with: " + resendCommand(o, f) + ")";
      llvm::errs() << "bt upload: " << line << "\n";
      logLine("error: " + line);
      status = 1;
      continue;
    }
    llvm::outs() << f << ": " << describeUpload(*r, o) << "\n";
    logLine(f + ": " + describeUpload(*r, o));
  }
  return status;
}

}  // namespace bt
