// SharedLibrary: a library that is not there, or lacks a symbol, is a clear error naming it (and
// the package to install), never a crash at the first call.
#include "support/shared_library.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace bt;

TEST(SharedLibrary, OpensBindsAndSaysWhatIsMissing) {
  auto missing = SharedLibrary::open("libbt-no-such-library.so.7", "libbt-nothing1");
  ASSERT_FALSE(bool(missing));
  std::string why = llvm::toString(missing.takeError());
  EXPECT_NE(why.find("libbt-no-such-library.so.7"), std::string::npos) << why;
  EXPECT_NE(why.find("libbt-nothing1"), std::string::npos) << why;

  auto libc = SharedLibrary::open("libc.so.6", "libc6");
  ASSERT_TRUE(bool(libc)) << llvm::toString(libc.takeError());
  size_t (*len)(const char *) = nullptr;
  libc->bind(len, "strlen");
  ASSERT_TRUE(len);
  EXPECT_EQ(len("four"), 4u);
  EXPECT_FALSE(bool(libc->bound()));
  void (*none)() = nullptr;
  libc->bind(none, "bt_no_such_function");
  EXPECT_EQ(none, nullptr);
  llvm::Error e = libc->bound();
  ASSERT_TRUE(bool(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("bt_no_such_function"), std::string::npos);
}
