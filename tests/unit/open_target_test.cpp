// Unit tests of the engine's front door and pipeline on synthetic inputs (tests/synth): what
// openTarget opens by content, that it never blocks on a FIFO, and the order of the pipeline's
// steps (memory copied before release, release once, analysis after).
#include "snapshot/open_target.h"
#include "snapshot/pipeline.h"
#include "support/error.h"
#include "synth/core_builder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <thread>

using namespace bt;

namespace {

class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/bt_open_target_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string write(const std::string &name, const std::string &data) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

// Forwards to a Target and records the pipeline's calls to release().
class ReleaseCounter : public Target {
public:
  explicit ReleaseCounter(Target &inner) : inner_(inner) {
    facts_ = inner.process();
    threads_ = inner.threads();
    regions_ = inner.regions();
    modules_ = inner.modules();
    signal_ = inner.signal();
    crashedTid_ = inner.crashedTid();
  }
  const char *kind() const override { return inner_.kind(); }
  size_t readMemory(uint64_t a, void *b, size_t n) override {
    if (released) ++readsAfterRelease;
    return inner_.readMemory(a, b, n);
  }
  void release() override { ++released; }
  void releaseKeepingStacks(uint64_t stackBytes, uint64_t totalBytes) override {
    ++keptStacks;
    EXPECT_GT(stackBytes, 0u);
    EXPECT_GE(totalBytes, stackBytes);
    release();
  }
  int released = 0;
  int keptStacks = 0;
  int readsAfterRelease = 0;

private:
  Target &inner_;
};

}  // namespace

TEST(OpenTarget, RecognisesEachSourceByContent) {
  TempDir d;
  EXPECT_EQ(sourceKindOf(TargetRequest::forPid(1)), "live");
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile(d.write("a", synth::sampleCore()))), "core");
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile(d.write("b", "BTSNAP\x01\x00rest"))), "snapshot");
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile(d.write("c", "MDMP\x93\xa7"))), "minidump");
  // Anything else is "unknown" (openTarget lets the core reader say what it is not).
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile(d.write("t", "just text"))), "unknown");
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile("/proc/self/exe")), "unknown");  // ET_DYN/ET_EXEC
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile(d.path() + "/missing")), "unknown");
  // Names say nothing: a core called .btsnap is a core.
  EXPECT_EQ(sourceKindOf(TargetRequest::forFile(d.write("x.btsnap", synth::sampleCore()))), "core");
}

TEST(OpenTarget, OpensACoreAsATargetWithThePostMortemSeam) {
  TempDir d;
  auto t = openTarget(TargetRequest::forFile(d.write("core", synth::sampleCore())));
  ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
  EXPECT_STREQ((*t)->kind(), "core");
  EXPECT_EQ((*t)->threads().size(), 2u);
  EXPECT_EQ((*t)->crashedTid(), 100);
  (*t)->release();  // a no-op, twice
  (*t)->release();
  EXPECT_EQ((*t)->stoppedMs(), -1);
}

TEST(OpenTarget, BytesFromAPipeAreOpenedByContentToo) {
  auto t = openTargetBuffer(llvm::MemoryBuffer::getMemBufferCopy(synth::sampleCore()), "stdin");
  ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
  EXPECT_STREQ((*t)->kind(), "core");
  auto bad = openTargetBuffer(llvm::MemoryBuffer::getMemBufferCopy("BTSNAP garbage"), "stdin");
  ASSERT_FALSE(bool(bad));
  ErrorReport r = takeErrorReport(bad.takeError());
  // Read as the snapshot it claims to be (too short for one), not as a core.
  EXPECT_TRUE(r.kind == ErrorKind::Truncated || r.kind == ErrorKind::BadInput) << r.message;
  EXPECT_NE(r.message.find("stdin"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("snapshot"), std::string::npos) << r.message;
}

TEST(OpenTarget, AFifoOrADirectoryIsRefusedWithoutBlocking) {
  TempDir d;
  std::string fifo = d.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string &path : {fifo, d.path()}) {
    // No writer ever opens the FIFO: a blocking open would never return (the thread is
    // detached so that a hang fails the test instead of hanging it).
    std::packaged_task<ErrorReport()> task([path] {
      auto t = openTarget(TargetRequest::forFile(path));
      return t ? ErrorReport{ErrorKind::Generic, "opened"} : takeErrorReport(t.takeError());
    });
    std::future<ErrorReport> f = task.get_future();
    std::thread(std::move(task)).detach();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << path;
    ErrorReport r = f.get();
    EXPECT_EQ(r.kind, ErrorKind::BadInput) << r.message;
    EXPECT_NE(r.message.find("not a regular file"), std::string::npos) << r.message;
  }
  auto missing = openTarget(TargetRequest::forFile(d.path() + "/nothing"));
  ASSERT_FALSE(bool(missing));
  EXPECT_EQ(takeErrorReport(missing.takeError()).kind, ErrorKind::MissingFile);
}

// The pipeline's tests: the sample core, opened, behind a ReleaseCounter.
class Pipeline : public ::testing::Test {
protected:
  void SetUp() override {
    auto opened = openTarget(TargetRequest::forFile(dir.write("core", synth::sampleCore())));
    ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
    core = std::move(*opened);
    counter = std::make_unique<ReleaseCounter>(*core);
  }
  TempDir dir;
  std::unique_ptr<Target> core;
  std::unique_ptr<ReleaseCounter> counter;
  Symbolizer symbols{SymbolizerOptions{}};
};

TEST_F(Pipeline, ByDefaultTheTargetGoesOnceItsStacksAreCopiedBeforeUnwinding) {
  ReleaseCounter &t = *counter;
  PipelineOptions opts;
  opts.variables = true;
  int calls = 0;
  PipelineResult r = runPipeline(t, symbols, opts, [&](const PipelineResult &soFar) {
    ++calls;
    EXPECT_EQ(t.released, 0);  // still frozen
    EXPECT_TRUE(soFar.unwound.empty());
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(t.keptStacks, 1);
  EXPECT_EQ(t.released, 1);
  EXPECT_TRUE(r.releasedEarly);
  EXPECT_EQ(r.backtraces.size(), 2u);  // unwound from what was kept
  // Keeping it stopped: released once, after the variables, with the ordinary release.
  ReleaseCounter late(*core);
  opts.releaseEarly = false;
  r = runPipeline(late, symbols, opts, [&](const PipelineResult &soFar) {
    EXPECT_EQ(soFar.backtraces.size(), 2u);
  });
  EXPECT_EQ(late.keptStacks, 0);
  EXPECT_EQ(late.released, 1);
  EXPECT_FALSE(r.releasedEarly);
}

TEST_F(Pipeline, WithoutVariablesTheTargetGoesBeforeSymbolizingAndOnlyOnce) {
  ReleaseCounter &t = *counter;
  int calls = 0;
  size_t backtracesAtRelease = 99;
  PipelineOptions late;
  late.releaseEarly = false;
  PipelineResult r = runPipeline(t, symbols, late, [&](const PipelineResult &soFar) {
    ++calls;
    EXPECT_EQ(t.released, 0);  // still frozen
    backtracesAtRelease = soFar.backtraces.size();
    EXPECT_EQ(soFar.unwound.size(), 2u);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(t.released, 1);
  EXPECT_EQ(backtracesAtRelease, 0u);
  EXPECT_EQ(t.readsAfterRelease, 0);
  ASSERT_EQ(r.backtraces.size(), 2u);
  // The crashed thread's frame 0 is its pc; the analysis ran on the result.
  const ThreadBacktrace &crashed = r.backtraces[0].crashed ? r.backtraces[0] : r.backtraces[1];
  EXPECT_EQ(crashed.tid, 100);
  ASSERT_FALSE(crashed.frames.empty());
  EXPECT_EQ(crashed.frames[0].pc, 0x401000u);
  EXPECT_EQ(r.analysis.fingerprint.hash, crashFingerprint(t.signal(), r.backtraces).hash);
  EXPECT_EQ(r.analysis.fingerprint.hash.size(), 16u);
  EXPECT_EQ(r.stoppedMs, -1);
}

TEST_F(Pipeline, WithGlobalsTheTargetStaysUntilTheyAreReadAndMissingOnesAreMarked) {
  ReleaseCounter &t = *counter;
  PipelineOptions opts;
  opts.globals = {"g_config"};
  opts.releaseEarly = false;
  size_t backtracesAtRelease = 0;
  PipelineResult r = runPipeline(t, symbols, opts, [&](const PipelineResult &soFar) {
    backtracesAtRelease = soFar.backtraces.size();
  });
  EXPECT_EQ(backtracesAtRelease, 2u);
  EXPECT_EQ(t.released, 1);
  ASSERT_EQ(r.globals.size(), 1u);
  EXPECT_TRUE(r.globals[0].error);
  EXPECT_NE(r.globals[0].value.find("no global variable named g_config"), std::string::npos);
  opts.missingGlobalsAsErrors = false;
  EXPECT_TRUE(runPipeline(t, symbols, opts).globals.empty());
  // The caller may keep the target frozen (the Python API walks values until close()).
  opts.releaseWhenDone = false;
  t.released = 0;
  runPipeline(t, symbols, opts);
  EXPECT_EQ(t.released, 0);
}
