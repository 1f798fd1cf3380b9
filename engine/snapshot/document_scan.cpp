#include "snapshot/document_scan.h"

#include <algorithm>

namespace bt {

DocumentScan scanDocument(llvm::StringRef text) {
  DocumentScan scan;
  int depth = 0, keys = 0;
  bool splittable = true;  // until the key is seen twice or written with an escape
  bool inString = false, escaped = false, stringEscaped = false, inArray = false;
  size_t stringStart = 0, open = 0, close = 0, elementStart = 0;
  llvm::StringRef lastString, key;
  std::vector<llvm::StringRef> elements;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = stringEscaped = true;
      } else if (c == '"') {
        inString = false;
        lastString = text.slice(stringStart, i);
      }
      continue;
    }
    switch (c) {
      case '"':
        inString = true;
        stringEscaped = false;
        stringStart = i + 1;
        break;
      case ':':
        if (depth != 1) break;
        if (stringEscaped) splittable = false;
        key = lastString;
        if (key == "backtraces" && ++keys > 1) splittable = false;
        break;
      case '[':
      case '{':
        if (depth == 1 && c == '[' && key == "backtraces") {
          inArray = true;
          open = i;
          elementStart = i + 1;
        }
        scan.maxDepth = std::max(scan.maxDepth, ++depth);
        break;
      case ']':
      case '}':
        --depth;
        if (inArray && depth == 1) {
          elements.push_back(text.slice(elementStart, i).trim(" \t\r\n"));
          inArray = false;
          close = i;
        }
        break;
      case ',':
        if (inArray && depth == 2) {
          elements.push_back(text.slice(elementStart, i).trim(" \t\r\n"));
          elementStart = i + 1;
        }
        break;
      default:
        break;
    }
  }
  if (!splittable || inString || inArray || !close) return scan;
  if (elements.size() == 1 && elements[0].empty()) elements.clear();  // []
  SplitDocument &d = scan.split.emplace();
  d.top.reserve(open + 1 + (text.size() - close));
  d.top.append(text.data(), open + 1);
  d.top.append(text.data() + close, text.size() - close);
  d.threads = std::move(elements);
  return scan;
}

}  // namespace bt
