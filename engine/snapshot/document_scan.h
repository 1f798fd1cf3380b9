// scanDocument: one pass over a snapshot's JSON text, before any parser sees it. It measures how
// deep the document nests (LLVM's JSON parser recurses per level: the reader refuses deep
// documents first) and cuts the top-level "backtraces" array out of the text (most of it: every
// thread's frames and values), so that the reader parses the threads one at a time. Parsed whole,
// a 1,000-thread snapshot's 85 MB document took 1.1 GB as llvm::json values. The cut follows
// JSON's strings and brackets only; whether each piece is valid JSON is for the parser to say
// (snapshot_format.cpp parses the whole text again when a piece fails).
#pragma once

#include <llvm/ADT/StringRef.h>

#include <optional>
#include <string>
#include <vector>

namespace bt {

struct SplitDocument {
  std::string top;                      // the document, its backtraces array emptied ("[]")
  std::vector<llvm::StringRef> threads;  // the array's elements, in order, spaces trimmed
};

struct DocumentScan {
  int maxDepth = 0;  // the deepest nesting of arrays and objects
  // nullopt when the document is not that simple: the key not there exactly once at the top
  // level, written with an escape, not an array, or the text cut short. The document is then
  // parsed whole.
  std::optional<SplitDocument> split;
};

DocumentScan scanDocument(llvm::StringRef text);

}  // namespace bt
