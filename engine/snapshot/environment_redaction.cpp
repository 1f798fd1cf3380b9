#include "snapshot/environment_redaction.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

#include <algorithm>

namespace bt {

namespace {

// Whether an environment variable's name says it holds a secret (API_KEY, DB_PASSWORD, ...).
bool secretName(llvm::StringRef name) {
  std::string up = name.upper();
  for (const char *w : {"KEY", "TOKEN", "SECRET", "PASS", "PWD", "AUTH", "CRED", "COOKIE", "SESSION",
                        "PRIVATE", "CERT"})
    if (up.find(w) != std::string::npos && up != "PWD" && up != "OLDPWD") return true;
  return false;
}

}  // namespace

// Scrubbing every value from rendered values would also hit "true", "/usr/bin" and the like:
// only values of secret-named variables are.
void redactEnvironment(SnapshotData &s, uint64_t envStart, uint64_t envEnd) {
  std::vector<std::string> secrets;
  for (std::string &e : s.process.environment) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) continue;
    std::string value = e.substr(eq + 1);
    if (value.size() >= 6 && secretName(llvm::StringRef(e).substr(0, eq))) secrets.push_back(value);
    e = e.substr(0, eq + 1) + redactedValue(value);
  }
  if (envEnd > envStart)
    for (MemorySlice &m : s.memory) {
      uint64_t from = std::max(m.address, envStart), to = std::min(m.end(), envEnd);
      bool inValue = false;
      // Walk the NUL-separated "KEY=VALUE" strings; a slice may begin mid-string: then the
      // state is unknown and the safe choice is to blank until the next NUL.
      if (from > envStart) inValue = true;
      for (uint64_t a = from; a < to; ++a) {
        char &c = m.bytes[a - m.address];
        if (c == '\0') inValue = false;
        else if (!inValue && c == '=') inValue = true;
        else if (inValue) c = '*';
      }
    }
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string &a, const std::string &b) { return a.size() > b.size(); });
  auto scrub = [&](std::string &text) {
    for (const std::string &v : secrets)
      for (size_t p = text.find(v); p != std::string::npos; p = text.find(v, p + 10))
        text.replace(p, v.size(), "<redacted>");
  };
  for (ThreadBacktrace &t : s.backtraces)
    for (Frame &f : t.frames)
      for (Variable &v : f.variables) {
        scrub(v.value);
        scrub(v.entryValue);
      }
  for (Variable &v : s.globals) scrub(v.value);
}


std::string redactedValue(llvm::StringRef value) {
  std::array<uint8_t, 32> h = llvm::SHA256::hash(llvm::arrayRefFromStringRef(value));
  return "sha256:" + llvm::toHex(llvm::ArrayRef(h).take_front(8), /*LowerCase=*/true);
}

}  // namespace bt
