// A real shmqd for tests: support::ShmqdLauncher (tools/support) in a test's
// namespace, at debug level, its output read through a pipe for the log,
// stopped and reaped by the destructor; and a config file that removes itself.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "os/process.hpp"
#include "support/shmqd_launcher.hpp"
#include "test_support.hpp"

namespace shmq::test {

using namespace std::chrono_literals;

// Generous bounds (the launcher's): a sanitizer build on a loaded 2-core
// machine is slow, and a bound only fails a broken daemon, it never paces a
// working one.
constexpr auto kStartLimit = support::kShmqdStartLimit;
constexpr auto kStopLimit = support::kShmqdStopLimit;

inline std::uint64_t now_ms() { return shmq::detail::monotonic_ns() / 1'000'000; }

// A config file in /tmp, removed at the end of the test.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    char name[] = "/tmp/shmqd_test_XXXXXX.toml";
    const int fd = ::mkstemps(name, 5);
    EXPECT_GE(fd, 0) << "mkstemps: " << std::strerror(errno);
    path_ = name;
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  ~ConfigFile() { ::unlink(path_.c_str()); }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// A [queues.NAME] section: one group "default", slot_size 64, dlq_capacity 4.
inline std::string queue_toml(const std::string& name, std::uint32_t capacity, std::uint32_t lease_timeout_ms,
                              std::uint32_t max_deliveries = 5) {
  return "[queues." + name + "]\ncapacity = " + std::to_string(capacity) +
         "\nslot_size = 64\ndlq_capacity = 4\n\n[[queues." + name +
         ".groups]]\nname = \"default\"\nlease_timeout_ms = " + std::to_string(lease_timeout_ms) +
         "\nmax_deliveries = " + std::to_string(max_deliveries) + "\n";
}

// The shmqd under test (SHMQ_TEST_SHMQD_PATH) started by the launcher, its
// output (stderr, where it logs) kept in err(). The destructor stops it
// (SIGTERM, then SIGKILL after kStopLimit) and reaps it.
class Shmqd {
 public:
  explicit Shmqd(const TestNamespace& ns, const std::string& config_path = {})
      : launcher_(options(ns, config_path)) {
    launcher_.start();
    pid_ = launcher_.pid();
  }
  ~Shmqd() = default;  // the launcher stops shmqd if it still runs
  Shmqd(const Shmqd&) = delete;
  Shmqd& operator=(const Shmqd&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // Waits for shmqd's "ready <pid>" on --ready-fd: true once it came (naming
  // this child), with err() then holding everything shmqd logged up to it;
  // false if shmqd closed the descriptor without it (it did not start) or
  // `limit` passed. Call it once.
  bool wait_ready(std::chrono::milliseconds limit = kStartLimit) {
    const bool ready = launcher_.wait_ready(limit);
    launcher_.read_output(err_, 0ms);  // shmqd logged its ready line before it wrote the descriptor
    return ready;
  }

  // Reads stderr until it contains `needle` (true), or EOF or `limit` (false).
  bool wait_for(const std::string& needle, std::chrono::milliseconds limit = kStartLimit) {
    const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(limit.count());
    while (err_.find(needle) == std::string::npos) {
      const std::uint64_t now = now_ms();
      if (now >= deadline || !launcher_.read_output(err_, std::chrono::milliseconds(deadline - now))) return false;
    }
    return true;
  }

  // Sends `signo`, reaps shmqd (SIGKILL after kStopLimit) and reads what it wrote.
  ChildExit stop(int signo) {
    const support::ShmqdExit e = launcher_.stop(signo, kStopLimit);
    while (launcher_.read_output(err_, 0ms)) {
    }
    return {.exited = e.exited, .code = e.code, .signal = e.signal, .timed_out = e.timed_out};
  }

  // Reads stderr for `period`: true if shmqd wrote nothing in that time.
  bool quiet_for(std::chrono::milliseconds period) {
    const std::size_t before = err_.size();
    const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(period.count());
    for (std::uint64_t now = now_ms(); now < deadline; now = now_ms())
      if (!launcher_.read_output(err_, std::chrono::milliseconds(deadline - now)) && launcher_.output_fd() < 0) break;
    return err_.size() == before;
  }

  // Everything shmqd wrote to stderr so far.
  [[nodiscard]] const std::string& err() const noexcept { return err_; }

 private:
  static support::ShmqdOptions options(const TestNamespace& ns, const std::string& config_path) {
    support::ShmqdOptions o;
    o.program = SHMQ_TEST_SHMQD_PATH;
    o.ns = ns.name();
    o.config = config_path;
    o.log_level = "debug";
    return o;
  }

  support::ShmqdLauncher launcher_;
  pid_t pid_ = -1;  // kept after the launcher reaped it
  std::string err_;
};

}  // namespace shmq::test
