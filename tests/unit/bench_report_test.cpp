// Unit tests of shmq-bench's report (bench/shmq_bench/report.hpp): nearest-rank
// percentiles, the ratios to the floor and to uds, size labels, the JSON
// file's exact shape, the table's alignment and the target verdicts.
#include "report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace shmq_bench {
namespace {

std::vector<std::uint32_t> one_to(std::uint32_t n) {
  std::vector<std::uint32_t> v(n);
  std::iota(v.begin(), v.end(), 1U);
  std::shuffle(v.begin(), v.end(), std::mt19937(42));
  return v;
}

LatencySeries series(std::string transport, std::uint64_t size, std::uint32_t groups, std::uint32_t p50) {
  return {std::move(transport), size, groups, {p50, p50, p50}};
}

std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

// What `print` writes to a FILE*, as a string.
template <typename Print>
std::string captured(Print print) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  print(out);
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST(BenchReportTest, PercentilesUseNearestRankAndSortInPlace) {
  std::vector<std::uint32_t> samples = one_to(1000);
  const Percentiles p = percentiles(samples);
  EXPECT_EQ(p.samples, 1000U);
  EXPECT_EQ(p.p50, 500U);
  EXPECT_EQ(p.p90, 900U);
  EXPECT_EQ(p.p99, 990U);
  EXPECT_EQ(p.p999, 999U);
  EXPECT_EQ(p.p9999, 1000U);  // rank ceil(999.9)
  EXPECT_EQ(p.max, 1000U);
  EXPECT_TRUE(std::is_sorted(samples.begin(), samples.end()));
}

TEST(BenchReportTest, PercentileRankIsExactWhereFloatingPointWouldRoundUp) {
  std::vector<std::uint32_t> samples = one_to(10000);
  EXPECT_EQ(percentiles(samples).p9999, 9999U);  // 0.9999 * 10000 is 9999.000000000002
}

TEST(BenchReportTest, PercentilesOfNoSamplesAreZero) {
  std::vector<std::uint32_t> samples;
  const Percentiles p = percentiles(samples);
  EXPECT_EQ(p.samples, 0U);
  EXPECT_EQ(p.p50, 0U);
  EXPECT_EQ(p.p9999, 0U);
  EXPECT_EQ(p.max, 0U);
}

TEST(BenchReportTest, SummarizeGivesRatiosToFloorAndToUdsAtTheSameSize) {
  std::vector<LatencySeries> in = {series("floor", 64, 1, 100), series("shmq-spin", 64, 1, 150),
                                   series("shmq-spin", 64, 4, 300), series("uds", 64, 1, 6000),
                                   series("shmq-spin", 1024, 1, 200)};
  const std::vector<LatencyResult> out = summarize(in);
  ASSERT_EQ(out.size(), in.size());
  EXPECT_EQ(out[1].transport, "shmq-spin");
  EXPECT_EQ(out[1].groups, 1U);
  EXPECT_DOUBLE_EQ(out[0].ratio_to_floor, 1.0);
  EXPECT_DOUBLE_EQ(out[1].ratio_to_floor, 1.5);
  EXPECT_DOUBLE_EQ(out[1].ratio_to_uds, 150.0 / 6000);
  EXPECT_DOUBLE_EQ(out[2].ratio_to_uds, 300.0 / 6000);  // fan-out rows compare with uds too
  EXPECT_DOUBLE_EQ(out[3].ratio_to_uds, 1.0);
  EXPECT_DOUBLE_EQ(out[4].ratio_to_uds, 0.0);  // no uds at 1 KiB
  EXPECT_DOUBLE_EQ(out[4].ratio_to_floor, 2.0);
}

TEST(BenchReportTest, SummarizeWithoutFloorGivesZeroRatio) {
  std::vector<LatencySeries> in = {series("shmq-spin", 64, 1, 150), series("uds", 64, 1, 6000)};
  const std::vector<LatencyResult> out = summarize(in);
  EXPECT_DOUBLE_EQ(out[0].ratio_to_floor, 0.0);
  EXPECT_DOUBLE_EQ(out[1].ratio_to_uds, 1.0);
}

TEST(BenchReportTest, HumanBytesUsesTheLargestExactUnit) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(8), "8 B");
  EXPECT_EQ(human_bytes(64), "64 B");
  EXPECT_EQ(human_bytes(1024), "1 KiB");
  EXPECT_EQ(human_bytes(65536), "64 KiB");
  EXPECT_EQ(human_bytes(1048576), "1 MiB");
  EXPECT_EQ(human_bytes(1500), "1500 B");
}

TEST(BenchReportTest, HostLineNamesCpuCoresAndKernel) {
  EXPECT_EQ(host_line({"AMD EPYC 7B13", 2, "6.1.0-18-amd64"}), "AMD EPYC 7B13, 2 cores, Linux 6.1.0-18-amd64");
  EXPECT_FALSE(host_info().cpu.empty());
  EXPECT_GT(host_info().cores, 0U);
}

TEST(BenchReportTest, JsonHasExactlyTheDocumentedKeys) {
  std::vector<LatencySeries> in = {series("floor", 64, 1, 100), series("shmq-spin", 64, 1, 150)};
  const std::vector<LatencyResult> results = summarize(in);
  const std::string path = ::testing::TempDir() + "bench_report_test." + std::to_string(getpid()) + ".json";
  write_latency_json(path, {"cpu x", 2, "6.1"}, results);
  std::ifstream file(path);
  const nlohmann::json doc = nlohmann::json::parse(file);
  std::filesystem::remove(path);

  EXPECT_EQ(keys_of(doc), (std::set<std::string>{"host", "results"}));
  EXPECT_EQ(keys_of(doc["host"]), (std::set<std::string>{"cpu", "cores", "kernel"}));
  EXPECT_EQ(doc["host"]["cores"], 2);
  ASSERT_EQ(doc["results"].size(), 2U);
  const std::set<std::string> row_keys = {"transport", "size",    "groups",   "samples", "p50_ns",        "p90_ns",
                                          "p99_ns",    "p999_ns", "p9999_ns", "max_ns",  "ratio_to_floor"};
  for (const nlohmann::json& row : doc["results"]) EXPECT_EQ(keys_of(row), row_keys);
  const nlohmann::json& spin = doc["results"][1];
  EXPECT_EQ(spin["transport"], "shmq-spin");
  EXPECT_EQ(spin["size"], 64);
  EXPECT_EQ(spin["samples"], 3);
  EXPECT_EQ(spin["p50_ns"], 150);
  EXPECT_DOUBLE_EQ(spin["ratio_to_floor"].get<double>(), 1.5);
}

TEST(BenchReportTest, JsonToAnUnwritablePathThrowsNamingIt) {
  try {
    write_latency_json("/nonexistent-dir/x.json", {"cpu", 1, "6.1"}, {});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write /nonexistent-dir/x.json: No such file or directory");
  }
}

TEST(BenchReportTest, TableStartsWithHostLineAndAlignsColumns) {
  std::vector<LatencySeries> in = {series("floor", 64, 1, 100), series("shmq-spin-touch", 1048576, 1, 123456)};
  const std::vector<LatencyResult> results = summarize(in);
  std::istringstream table(captured([&](std::FILE* out) { print_latency_table(out, {"cpu", 2, "6.1"}, results); }));
  std::string line;
  std::getline(table, line);
  EXPECT_EQ(line, "cpu, 2 cores, Linux 6.1");
  std::set<std::size_t> widths;
  while (std::getline(table, line)) {
    if (!line.empty()) widths.insert(line.size());
  }
  EXPECT_EQ(widths.size(), 1U);  // header and rows end in the same column
}

TEST(BenchReportTest, TargetsCountMissesAndNameWhatWasNotMeasured) {
  std::vector<LatencySeries> in = {series("floor", 64, 1, 100), series("shmq-spin", 64, 1, 300),
                                   series("uds", 64, 1, 60000)};
  const std::vector<LatencyResult> results = summarize(in);
  int missed = -1;
  const std::string text = captured([&](std::FILE* out) { missed = print_latency_targets(out, results); });
  EXPECT_EQ(missed, 1);  // p50 3x floor; p99 3x is within 4x; 200x faster than uds
  EXPECT_NE(text.find("3.00x  MISSED (by 50%)"), std::string::npos) << text;
  EXPECT_NE(text.find("200.00x  met"), std::string::npos) << text;
  std::size_t not_measured = 0;
  for (std::size_t at = text.find("not measured"); at != std::string::npos; at = text.find("not measured", at + 1))
    ++not_measured;
  EXPECT_EQ(not_measured, 3U);  // uds-spin, 1 MiB, shmq-park
}

}  // namespace
}  // namespace shmq_bench
