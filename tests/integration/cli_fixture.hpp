// What the shmq-cli end-to-end tests share: running the real binary in a
// namespace of the test's own, reading its exit and its JSON, and the two
// fixtures, Cli (cli_read_test, cli_data_test, cli_errors_test,
// cli_admin_test, cli_watch_test) and CliPromises (cli_promises_test,
// cli_session_states_test).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace shmq::test::cli_tests {

using namespace std::chrono_literals;

inline const std::string kCli = SHMQ_TEST_SHMQ_CLI_PATH;
inline constexpr auto kLimit = 60s;  // only a broken program reaches it

inline std::string describe(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit.code) + " signal " + std::to_string(r.exit.signal) +
         (r.exit.timed_out ? " (timed out)" : "") + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

inline bool exited_with(const ProgramResult& r, int code) { return r.exit.exited && r.exit.code == code; }

// shmq-cli --namespace <ns> args...
inline ProgramResult cli(const TestNamespace& ns, std::vector<std::string> args, const std::string& input = {}) {
  args.insert(args.begin(), {kCli, "--namespace", ns.name()});
  return run_program(args, kLimit, input);
}

inline std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    if (end > start) out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
  return out;
}

inline std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

inline bool has_keys(const nlohmann::json& object, const std::set<std::string>& wanted) {
  const std::set<std::string> keys = keys_of(object);
  for (const std::string& k : wanted)
    if (keys.count(k) == 0) return false;
  return true;
}

class Cli : public ::testing::Test {
 protected:
  // shmq-cli --namespace <ns> args...
  ProgramResult cli(std::vector<std::string> args, const std::string& input = {}) const {
    return cli_in(ns_, std::move(args), input);
  }
  static ProgramResult cli_in(const TestNamespace& ns, std::vector<std::string> args, const std::string& input = {}) {
    return cli_tests::cli(ns, std::move(args), input);
  }
  void create(const std::string& queue, std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"create", queue, "--capacity", "1024", "--slot-size", "64"};
    args.insert(args.end(), extra.begin(), extra.end());
    const ProgramResult r = cli(args);
    ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  }
  [[nodiscard]] const std::string& ns() const { return ns_.name(); }

  TestNamespace ns_;
};

// ---- CliPromises: the README's promises --------------------------------------

inline constexpr std::uint64_t kStateLimitMs = 20'000;  // a state the CLI must come to show

// Polls `reached` until it holds or kStateLimitMs passed.
template <class Condition>
bool eventually(Condition reached) {
  const std::uint64_t deadline = now_ms() + kStateLimitMs;
  while (!reached()) {
    if (now_ms() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// `shmq-cli ARGS --json` parsed; null when it failed or printed no JSON.
inline nlohmann::json cli_json(const TestNamespace& ns, std::vector<std::string> args) {
  args.emplace_back("--json");
  const ProgramResult r = cli(ns, std::move(args));
  if (!exited_with(r, 0)) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

inline void create_queue(const TestNamespace& ns, const std::string& queue, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"create", queue, "--capacity", "16", "--slot-size", "64"};
  args.insert(args.end(), extra.begin(), extra.end());
  const ProgramResult r = cli(ns, args);
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
}

class CliPromises : public ::testing::Test {
 protected:
  TestNamespace ns_;
};

}  // namespace shmq::test::cli_tests
