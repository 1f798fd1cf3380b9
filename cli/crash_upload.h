// Sending a finished capture to a btengine crash server (`btengine server`, docs/server.md):
// `bt snapshot --upload URL`, `bt coredump --upload URL` and `bt upload URL FILE...`. The file
// is POSTed as it is on disk (a snapshot or a minidump) to URL/api/v1/crashes; the local file is
// never removed, so a capture whose upload failed can be sent again later with `bt upload`.
#pragma once

#include <llvm/Support/Error.h>

#include <string>

namespace bt {

struct UploadOptions {
  std::string url;    // the server's base URL (http[s]://host:port[/prefix]); empty: no upload
  std::string token;  // sent as "Authorization: Bearer TOKEN"; empty: BT_UPLOAD_TOKEN's, if set
  long timeoutSeconds = 30;  // the whole request, connection included
};

// What the server answered to an accepted upload.
struct UploadResult {
  long status = 0;       // 201 new crash, 200 already stored (the same bytes)
  int64_t id = -1;       // the crash's id on the server (-1 when the answer did not say)
  std::string location;  // the crash's page, absolute when the server gave a path
};

// Parses --upload URL, --upload-token-file FILE and --upload-timeout SECONDS at argv[i].
// Returns 0 if consumed (i advanced past the value), -1 if argv[i] is not an upload option, or a
// usage exit status.
int parseUploadOption(const char *cmd, int argc, char **argv, int &i, UploadOptions &o);

// POSTs the file at PATH (with BT_UPLOAD_TOKEN from the environment when `o` has no token). An answer other than 200/201, or no answer within the timeout, is an
// error whose message names the server and what it said.
llvm::Expected<UploadResult> uploadFile(const std::string &path, const UploadOptions &o);

// "bt upload URL PATH": how to send a file whose upload failed later.
std::string resendCommand(const UploadOptions &o, const std::string &path);
// "uploaded to URL: crash N (new|already stored)" for a capture's summary line.
std::string describeUpload(const UploadResult &r, const UploadOptions &o);

}  // namespace bt
