// shmq-bench end to end, briefly: the rows asked for come back with the JSON
// shape the README documents, the plot is drawn, bad input gets exit status 2
// and a message. Nothing here judges speed (that is the benchmark's job).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::run_program;

const std::string kBench = SHMQ_TEST_SHMQ_BENCH_PATH;

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("shmq-bench-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  [[nodiscard]] std::string file(const char* name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
  shmq::test::TestNamespace ns_;  // swept even if a run is killed
};

// With stdio: GCC 12 warns (-Wnull-dereference) inside istreambuf_iterator.
std::string read_file(const std::string& path) {
  std::string text;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
  }
  return text;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

TEST_F(BenchCli, LatencyReportsEveryRowInTheDocumentedShape) {
  const auto r = run_program({kBench, "latency", "--namespace", ns_.name(), "--transports", "floor,shmq-spin,shmq-park,uds,pipe-spin", "--sizes",
                              "8,4096", "--groups", "1,2", "--samples", "300", "--duration", "0.2", "--round-ms",
                              "5", "--json", file("lat.json"), "--plot", file("lat.svg")},
                             120s);
  ASSERT_TRUE(r.exit.exited && r.exit.code == 0) << r.err;
  EXPECT_NE(r.out.find("targets"), std::string::npos) << r.out;

  const nlohmann::json doc = read_json(file("lat.json"));
  EXPECT_EQ(keys_of(doc), (std::set<std::string>{"host", "results"}));
  EXPECT_EQ(keys_of(doc["host"]), (std::set<std::string>{"cpu", "cores", "kernel"}));
  std::multiset<std::string> rows;
  for (const auto& row : doc["results"]) {
    EXPECT_EQ(keys_of(row), (std::set<std::string>{"transport", "size", "groups", "samples", "p50_ns", "p90_ns",
                                                   "p99_ns", "p999_ns", "p9999_ns", "max_ns", "ratio_to_floor"}));
    EXPECT_GT(row["samples"].get<std::uint64_t>(), 0U) << row.dump();
    EXPECT_LE(row["p50_ns"].get<std::uint64_t>(), row["p99_ns"].get<std::uint64_t>());
    EXPECT_LE(row["p99_ns"].get<std::uint64_t>(), row["max_ns"].get<std::uint64_t>());
    rows.insert(row["transport"].get<std::string>() + "/" + std::to_string(row["size"].get<int>()) + "/" +
                std::to_string(row["groups"].get<int>()));
  }
  // One floor; shmq fanned out to 1 and 2 groups; the kernel transports once per size.
  EXPECT_EQ(rows, (std::multiset<std::string>{"floor/64/1", "shmq-spin/8/1", "shmq-spin/8/2", "shmq-park/8/1",
                                               "shmq-park/8/2", "uds/8/1", "pipe-spin/8/1", "shmq-spin/4096/1",
                                               "shmq-spin/4096/2", "shmq-park/4096/1", "shmq-park/4096/2",
                                               "uds/4096/1", "pipe-spin/4096/1"}));

  const std::string text = read_file(file("lat.svg"));
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("shmq-spin"), std::string::npos);
}

TEST_F(BenchCli, ThroughputComparesShmqWithUds) {
  const auto r = run_program({kBench, "throughput", "--namespace", ns_.name(), "--sizes", "64", "--messages", "20000", "--rounds", "2", "--json",
                              file("thr.json")},
                             120s);
  ASSERT_TRUE(r.exit.exited && r.exit.code == 0) << r.err;
  const nlohmann::json doc = read_json(file("thr.json"));
  ASSERT_EQ(doc["results"].size(), 2U) << doc.dump();
  EXPECT_EQ(doc["results"][0]["transport"], "shmq-spin");
  EXPECT_EQ(doc["results"][0]["messages"], 20000);
  EXPECT_EQ(doc["results"][0]["received"], 20000);
  EXPECT_EQ(doc["results"][1]["transport"], "uds");
  EXPECT_EQ(doc["results"][1]["received"], 20000);
  EXPECT_GT(doc["results"][0]["msgs_per_s"].get<double>(), 0);
}

TEST_F(BenchCli, ManyProducersAndConsumersDeliverEveryMessage) {
  const auto r = run_program({kBench, "throughput", "--namespace", ns_.name(), "--sizes", "4096", "--producers", "3", "--consumers", "2",
                              "--messages", "30000", "--rounds", "1", "--json", file("thr.json")},
                             120s);
  ASSERT_TRUE(r.exit.exited && r.exit.code == 0) << r.err;
  const nlohmann::json doc = read_json(file("thr.json"));
  EXPECT_EQ(doc["results"][0]["transport"], "shmq-adaptive");
  EXPECT_EQ(doc["results"][0]["producers"], 3);
  EXPECT_EQ(doc["results"][0]["messages"], 30000);
  // Counted by the consumers; exit 0 also says each message arrived exactly
  // once (the bench compares the tags the consumers saw with those sent).
  EXPECT_EQ(doc["results"][0]["received"], 30000);
}

TEST_F(BenchCli, RecoveryTimesKilledAndStoppedConsumersAgainstTheTargets) {
  const auto r = run_program({kBench, "recovery", "--namespace", ns_.name(), "--rounds", "2", "--leases", "4",
                              "--heartbeat-timeout", "200", "--shmqd", SHMQ_TEST_SHMQD_PATH},
                             120s);
  ASSERT_TRUE(r.exit.exited && r.exit.code == 0) << r.out << r.err;
  for (const char* line : {"2 rounds per scenario, 4 leases held by the victim", "kill -9 -> first redelivery",
                           "kill -9 -> all redelivered", "SIGSTOP -> first redelivery", "SIGSTOP -> all redelivered",
                           "heartbeat timeout is 200 ms", "killed consumer: all redelivered, p99 < 50 ms",
                           "hung consumer: all redelivered, p99 < 200 + 50 ms"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  // Each target's line ends in its verdict: "met", or "MISSED (by N%)" (a
  // missed target is reported, not an error: this machine may be busy).
  for (const char* target : {"killed consumer: all redelivered", "hung consumer: all redelivered"}) {
    const std::size_t at = r.out.find(target);
    ASSERT_NE(at, std::string::npos) << target << "\n" << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    const bool missed = line.find(" MISSED (by ") != std::string::npos && line.ends_with("%)");
    EXPECT_TRUE(line.ends_with(" met") || missed) << line;
  }
}

struct BadInput {
  std::vector<std::string> args;
  const char* message;
};

TEST_F(BenchCli, BadInputIsAUsageErrorThatSaysWhy) {
  const std::vector<BadInput> cases{
      {{"latency", "--transports", "carrier-pigeon"}, "carrier-pigeon"},
      {{"latency", "--sizes", "4"}, "--sizes"},
      {{"latency", "--groups", "17"}, "--groups"},
      {{"latency", "--cpus", "0,0"}, "two different CPUs"},
      {{"latency", "--cpus", "0,4096"}, "--cpus"},
      {{"latency", "--plot", "chart.pdf"}, ".svg or .png"},
      {{"latency", "--json", "/nonexistent-dir/x.json"}, "cannot write"},
      {{"throughput", "--capacity", "1000"}, "power of two"},
      {{"latency", "--namespace", "no.dots"}, "--namespace"},
      {{"throughput", "--wait", "sometimes"}, "--wait"},
      {{"recovery", "--leases", "0"}, "--leases"},
      {{"recovery", "--heartbeat-timeout", "5"}, "--heartbeat-timeout"},
      {{}, "subcommand"},
  };
  for (const BadInput& c : cases) {
    std::vector<std::string> argv{kBench};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const auto r = run_program(argv, 30s);
    EXPECT_TRUE(r.exit.exited && r.exit.code == 2) << c.message << " exit " << r.exit.code;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

}  // namespace
