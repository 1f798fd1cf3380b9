// scanDocument (engine/snapshot/document_scan.h): the top-level "backtraces" array is cut out of
// a snapshot document by JSON's strings and brackets, anything unusual is left to the
// whole-document parser, and the nesting is measured outside strings.
#include "snapshot/document_scan.h"

#include <gtest/gtest.h>
#include <llvm/Support/JSON.h>

using namespace bt;

namespace {

std::vector<std::string> texts(const SplitDocument &d) {
  std::vector<std::string> out;
  for (llvm::StringRef t : d.threads) out.push_back(t.str());
  return out;
}

}  // namespace

TEST(DocumentScan, CutsTheTopLevelArrayIntoItsElements) {
  std::string doc = R"({"schema":"s","backtraces": [ {"tid":1,"frames":[{"a":[1,2]}]} ,
    {"tid":2,"name":"x],\"y\\\":[{"} ],"threads":[{"tid":1},{"tid":2}],"z":{"backtraces":[9]}})";
  std::optional<SplitDocument> d = scanDocument(doc).split;
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->top, R"({"schema":"s","backtraces": [],"threads":[{"tid":1},{"tid":2}],"z":{"backtraces":[9]}})");
  ASSERT_EQ(d->threads.size(), 2u);
  EXPECT_EQ(texts(*d)[0], R"({"tid":1,"frames":[{"a":[1,2]}]})");
  EXPECT_EQ(texts(*d)[1], R"({"tid":2,"name":"x],\"y\\\":[{"})");
  // Each piece is the JSON value the whole document holds there.
  llvm::Expected<llvm::json::Value> whole = llvm::json::parse(doc);
  ASSERT_TRUE(bool(whole)) << llvm::toString(whole.takeError());
  const llvm::json::Array *threads = whole->getAsObject()->getArray("backtraces");
  ASSERT_NE(threads, nullptr);
  for (size_t i = 0; i < threads->size(); ++i) {
    llvm::Expected<llvm::json::Value> piece = llvm::json::parse(d->threads[i]);
    ASSERT_TRUE(bool(piece)) << llvm::toString(piece.takeError());
    EXPECT_EQ(*piece, (*threads)[i]) << i;
  }
  llvm::Expected<llvm::json::Value> top = llvm::json::parse(d->top);
  ASSERT_TRUE(bool(top)) << llvm::toString(top.takeError());
}

TEST(DocumentScan, AnEmptyArrayHasNoThreads) {
  std::optional<SplitDocument> d = scanDocument(R"({"backtraces":[ ],"x":1})").split;
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->threads.empty());
  EXPECT_EQ(d->top, R"({"backtraces":[],"x":1})");
}

TEST(DocumentScan, LeavesUnusualDocumentsWhole) {
  for (const char *doc : {
           R"({"x":1})",                                     // no backtraces
           R"({"backtraces":{"tid":1}})",                   // not an array
           R"({"backtraces":[1],"backtraces":[2]})",        // twice
           R"({"backtr\u0061ces":[1]})",                    // the key with an escape
           R"({"backtraces":[{"tid":1})",                   // cut short
           R"({"backtraces":[{"name":"unterminated}]})",     // a string never closed
       })
    EXPECT_FALSE(scanDocument(doc).split.has_value()) << doc;
}

TEST(DocumentScan, BrokenPiecesAreTheParsersToRefuse) {
  // A trailing comma gives an empty last piece; the reader then parses the whole text, whose
  // parser names the error and its place.
  std::optional<SplitDocument> d = scanDocument(R"({"backtraces":[{"tid":1},]})").split;
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->threads.size(), 2u);
  EXPECT_EQ(d->threads[1], "");
  EXPECT_FALSE(bool(llvm::json::parse(d->threads[1])));
  llvm::consumeError(llvm::json::parse(d->threads[1]).takeError());
}

TEST(DocumentScan, MeasuresNestingOutsideStrings) {
  EXPECT_EQ(scanDocument(R"({"a":[[{"b":1}]],"c":"[[[[{{{{"})").maxDepth, 4);
  EXPECT_EQ(scanDocument(R"({"backtraces":[{"name":"\"[[[["}]})").maxDepth, 3);
  EXPECT_EQ(scanDocument(std::string(300, '[') + std::string(300, ']')).maxDepth, 300);
  EXPECT_EQ(scanDocument("]]]][").maxDepth, 0);  // the running count: stray closers count down
  EXPECT_EQ(scanDocument("").maxDepth, 0);
}
