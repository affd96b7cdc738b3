// Every seed of fuzz/corpus/<target>/ and every finding of
// fuzz/regressions/<target>/ through its fuzz target, in every preset (ASan
// too): a finding fixed once stays fixed. A failing input aborts the test
// with the target's message; its file name is printed first.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "targets.hpp"

namespace {

namespace fs = std::filesystem;

using Target = int (*)(const std::uint8_t*, std::size_t);

// Runs every file of fuzz/<dir>/<target>/ through `body`; returns how many.
std::size_t replay(const std::string& target, Target body) {
  std::size_t count = 0;
  for (const char* dir : {"corpus", "regressions"}) {
    const fs::path path = fs::path(SHMQ_FUZZ_DIR) / dir / target;
    if (!fs::is_directory(path)) continue;
    std::vector<fs::path> files;
    for (const fs::directory_entry& e : fs::directory_iterator(path))
      if (e.is_regular_file() && e.path().filename().string().front() != '.') files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      std::fprintf(stderr, "[ replay   ] %s\n", f.string().c_str());
      EXPECT_EQ(body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0) << f;
      ++count;
    }
  }
  return count;
}

class FuzzCorpusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shmq::fuzz::set_namespace("fuzzcorpus" + std::to_string(::getpid()));
    shmq::fuzz::shutdown();  // leftovers of an earlier run with this pid
  }
  static void TearDownTestSuite() { shmq::fuzz::shutdown(); }
};

TEST_F(FuzzCorpusTest, SegmentInputsOpenOrFailCleanly) { EXPECT_GT(replay("segment", shmq_fuzz_segment), 0U); }
TEST_F(FuzzCorpusTest, ConfigInputsParseOrFailCleanly) { EXPECT_GT(replay("config", shmq_fuzz_config), 0U); }
TEST_F(FuzzCorpusTest, ControlInputsDecodeOrFailCleanly) { EXPECT_GT(replay("control", shmq_fuzz_control), 0U); }
TEST_F(FuzzCorpusTest, CliInputsParseOrFailCleanly) { EXPECT_GT(replay("cli", shmq_fuzz_cli), 0U); }

}  // namespace
