// Walkable values (engine/vars/value.h) on a live fixture process: vars_c parked in vc_inner
// (`vars_c pause`), its callers' variables walked field by field, element by element and through
// pointers, against the values its source sets (tests/fixtures/src/vars_c.c).
#include "symbols/symbolizer.h"
#include "target/live_process.h"
#include "unwind/backtrace.h"
#include "vars/frame_variables.h"
#include "vars/value.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

using namespace bt;

#ifdef BT_FIXTURE_BIN_DIR
namespace {

// Starts `exe pause` and waits for its "READY <pid>" line.
pid_t startPaused(const std::string &exe) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    execl(exe.c_str(), exe.c_str(), "pause", nullptr);
    _exit(127);
  }
  close(fds[1]);
  char buf[64] = {};
  size_t n = 0;
  while (n < sizeof buf - 1 && !strchr(buf, '\n')) {
    ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
    if (r <= 0) break;
    n += size_t(r);
  }
  close(fds[0]);
  return strncmp(buf, "READY", 5) == 0 ? pid : -1;
}

class ValueTest : public ::testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    pid_ = startPaused(std::string(BT_FIXTURE_BIN_DIR) + "/vars_c." + GetParam());
    ASSERT_GT(pid_, 0);
    usleep(100000);  // let it reach the park
    auto lp = LiveProcess::open(pid_);
    ASSERT_TRUE(bool(lp)) << llvm::toString(lp.takeError());
    target_ = std::move(*lp);
    SymbolizerOptions so;
    so.variables = true;
    symbols_ = std::make_unique<Symbolizer>(so);
    session_ = std::make_shared<ValueSession>(target_.get());
    fv_ = std::make_unique<FrameVariables>(*target_, *symbols_);
    fv_->keepValues(session_);
    FrameVariables *fv = fv_.get();
    auto unwound = unwindAllThreads(*target_, *symbols_);
    threads_ = symbolizeBacktraces(*target_, *symbols_, unwound, {},
                                   [fv](const UnwindResult &u, size_t i, std::optional<TailCallPosition> t) {
                                     return fv->visitorFor(u, i, t);
                                   });
  }
  void TearDown() override {
    if (session_) session_->close();
    if (target_) target_->release();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The value of variable `name` in the frame of function `fn`.
  const Value &var(const std::string &fn, const std::string &name) {
    for (const ThreadBacktrace &t : threads_)
      for (const Frame &f : t.frames)
        if (f.function == fn)
          for (const Variable &v : f.variables)
            if (v.name == name && v.handle) return *v.handle;
    ADD_FAILURE() << "no value for " << fn << ":" << name;
    static const Value none(nullptr, nullptr, "", std::nullopt);
    return none;
  }
  static int64_t i(llvm::Expected<Value> v) {
    if (!v) {
      ADD_FAILURE() << llvm::toString(v.takeError());
      return INT64_MIN;
    }
    auto s = v->asSigned();
    if (!s) {
      ADD_FAILURE() << llvm::toString(s.takeError());
      return INT64_MIN;
    }
    return *s;
  }

  pid_t pid_ = -1;
  std::unique_ptr<LiveProcess> target_;
  std::unique_ptr<Symbolizer> symbols_;
  std::shared_ptr<ValueSession> session_;
  std::unique_ptr<FrameVariables> fv_;
  std::vector<ThreadBacktrace> threads_;
};

TEST_P(ValueTest, StructsArraysBitFieldsUnions) {
  const Value &r = var("vc_middle", "r");  // {{-1, -2}, {3, 4}, "box", {10, 20, 30}}
  EXPECT_EQ(r.type().name, "struct rect");
  EXPECT_EQ(r.fieldNames(), (std::vector<std::string>{"tl", "br", "name", "tags"}));
  EXPECT_EQ(i(r.field("tl").get().field("x")), -1);
  EXPECT_EQ(i(r.field("br").get().field("y")), 4);
  EXPECT_EQ(llvm::cantFail(r.field("name").get().cString()), "box");
  Value tags = llvm::cantFail(r.field("tags"));
  EXPECT_EQ(tags.elementCount(), 3u);
  EXPECT_EQ(i(tags.element(2)), 30);
  auto oob = tags.element(3);
  ASSERT_FALSE(bool(oob));
  EXPECT_NE(llvm::toString(oob.takeError()).find("out of bounds"), std::string::npos);
  const Value &arr2 = var("vc_middle", "arr2");  // {{1, 2, 3}, {4, 5, 6}}
  EXPECT_EQ(arr2.elementCount(), 2u);
  EXPECT_EQ(i(llvm::cantFail(arr2.element(1)).element(2)), 6);
  const Value &bits = var("vc_middle", "bits");  // {1, 5, -3, 100}
  EXPECT_EQ(i(bits.field("a")), 1);
  EXPECT_EQ(i(bits.field("b")), 5);
  EXPECT_EQ(i(bits.field("c")), -3);
  EXPECT_EQ(i(bits.field("d")), 100);
  const Value &n = var("vc_middle", "n");  // union {.f = 3.14159274f}
  EXPECT_FLOAT_EQ(float(llvm::cantFail(llvm::cantFail(n.field("f")).asDouble())), 3.14159274f);
  EXPECT_EQ(i(n.field("i")), 1078530011);
}

TEST_P(ValueTest, PointersAreFollowedThroughTheTarget) {
  EXPECT_EQ(i(var("vc_middle", "p_local").deref()), 42);
  EXPECT_EQ(i(llvm::cantFail(var("vc_middle", "pp_local").deref()).deref()), 42);
  Value h = var("vc_middle", "h");  // {3, &g_rect, vc_callback, 0.5}
  Value g = llvm::cantFail(llvm::cantFail(h.field("r")).deref());
  EXPECT_EQ(llvm::cantFail(llvm::cantFail(g.field("name")).cString()), "global");
  EXPECT_EQ(i(llvm::cantFail(g.field("tags")).element(0)), 7);
  EXPECT_DOUBLE_EQ(llvm::cantFail(llvm::cantFail(h.field("w")).asDouble()), 0.5);
  EXPECT_EQ(llvm::cantFail(var("vc_middle", "s_lit").cString()), "lit\tstr");
  auto null = var("vc_middle", "p_null").deref();
  ASSERT_FALSE(bool(null));
  EXPECT_NE(llvm::toString(null.takeError()).find("null pointer"), std::string::npos);
  auto notPtr = var("vc_middle", "value").deref();
  ASSERT_FALSE(bool(notPtr));
  llvm::consumeError(notPtr.takeError());
}

TEST_P(ValueTest, EnumsTypedefsQualifiers) {
  EXPECT_EQ(var("vc_outer", "l_c").enumeratorName(), "BLUE");
  EXPECT_EQ(llvm::cantFail(var("vc_outer", "l_c").asSigned()), 6);
  EXPECT_EQ(var("vc_outer", "l_bad").enumeratorName(), "");
  const Value &t = var("vc_outer", "l_t");  // u32 0xdeadbeef
  EXPECT_EQ(t.type().name, "u32");
  EXPECT_EQ(llvm::cantFail(t.asUnsigned()), 0xdeadbeefu);
  EXPECT_EQ(llvm::cantFail(var("vc_outer", "l_cvl").asSigned()), 123456789012L);
  EXPECT_EQ(llvm::cantFail(var("vc_outer", "l_cp").cString()), "const");
  EXPECT_EQ(i(llvm::cantFail(var("vc_outer", "origin").field("y"))), 0);
}

TEST_P(ValueTest, ClosedSessionGivesAClearError) {
  Value p = var("vc_middle", "p_local");
  session_->close();
  auto d = p.deref();
  ASSERT_FALSE(bool(d));
  EXPECT_NE(llvm::toString(d.takeError()).find("closed"), std::string::npos);
  // What was read at capture stays readable.
  EXPECT_NE(llvm::cantFail(p.asUnsigned()), 0u);
}

INSTANTIATE_TEST_SUITE_P(Variants, ValueTest,
                         ::testing::Values("gcc-O0-dwarf5-pie-fp", "clang-O0-dwarf5-pie-fp",
                                           "gcc-O2-dwarf4-nopie-fp"));

}  // namespace
#endif

// Offsets and indexes from hostile DWARF or from the caller must not wrap around to bytes that
// were read for something else.
TEST(ValueBounds, HugeMemberOffsetAndElementIndexAreErrors) {
  TypeInfo u32;
  u32.kind = TypeInfo::Kind::Base;
  u32.encoding = TypeInfo::Encoding::Unsigned;
  u32.name = "u32";
  u32.size = 4;
  TypeInfo s;
  s.kind = TypeInfo::Kind::Struct;
  s.name = "struct s";
  s.size = 8;
  TypeInfo::Field f;
  f.name = "far";
  f.offset = UINT64_MAX - 1;
  f.type = &u32;
  s.fields.push_back(f);
  Value v(nullptr, &s, std::string(8, '\x11'), std::nullopt);
  auto far = v.field("far");
  ASSERT_FALSE(bool(far));
  EXPECT_NE(llvm::toString(far.takeError()).find("outside"), std::string::npos);

  TypeInfo arr;  // u32 [] (unknown bound): any index is asked for
  arr.kind = TypeInfo::Kind::Array;
  arr.name = "u32 []";
  arr.target = &u32;
  Value a(nullptr, &arr, std::string("\x01\0\0\0\x02\0\0\0", 8), std::nullopt);
  EXPECT_EQ(llvm::cantFail(llvm::cantFail(a.element(1)).asUnsigned()), 2u);
  auto wrapped = a.element(uint64_t(1) << 62);  // * 4 wraps to 0
  ASSERT_FALSE(bool(wrapped));
  llvm::consumeError(wrapped.takeError());
}
