// A real shmqd for tests: started with fork + exec in a test's namespace
// (--foreground; --ready-fd on a pipe tells when it serves; its stderr read
// through another pipe for the log), stopped and reaped by the destructor; and
// a config file that removes itself.
#pragma once

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "os/os.hpp"
#include "support/shmqd_ready.hpp"
#include "test_support.hpp"

namespace shmq::test {

using namespace std::chrono_literals;

// Generous bounds: a sanitizer build on a loaded 2-core machine is slow, and a
// bound only fails a broken daemon, it never paces a working one.
constexpr auto kStartLimit = 30s;
constexpr auto kStopLimit = 30s;

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

// A shmqd --foreground run as a child, with its stderr read through a pipe.
// The destructor stops it (SIGTERM, then SIGKILL after kStopLimit) and reaps it.
class Shmqd {
 public:
  explicit Shmqd(const TestNamespace& ns, const std::string& config_path = {}) {
    int err_pipe[2];
    int ready_pipe[2];
    EXPECT_EQ(::pipe2(err_pipe, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(ready_pipe, O_CLOEXEC), 0);
    std::vector<std::string> argv{SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name(), "--log-level",
                                  "debug", shmq::support::kShmqdReadyFdFlag, std::to_string(ready_pipe[1])};
    if (!config_path.empty()) argv.insert(argv.end(), {"--config", config_path});
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(err_pipe[1], 2);
      ::fcntl(ready_pipe[1], F_SETFD, 0);  // the one descriptor shmqd inherits
      ::execv(args[0], args.data());
      std::_Exit(127);
    }
    ::close(err_pipe[1]);
    ::close(ready_pipe[1]);  // so EOF on the read end means shmqd closed it (or exited)
    err_fd_ = err_pipe[0];
    ready_fd_ = ready_pipe[0];
  }

  ~Shmqd() {
    if (pid_ > 0 && !exit_) (void)stop(SIGTERM);
    if (err_fd_ >= 0) ::close(err_fd_);
    if (ready_fd_ >= 0) ::close(ready_fd_);
  }
  Shmqd(const Shmqd&) = delete;
  Shmqd& operator=(const Shmqd&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // Waits for shmqd's "ready <pid>" on --ready-fd: true once it came (naming
  // this child), with err() then holding everything shmqd logged up to it;
  // false if shmqd closed the descriptor without it (it did not start) or
  // `limit` passed. Call it once.
  bool wait_ready(std::chrono::milliseconds limit = kStartLimit) {
    const std::optional<pid_t> ready = shmq::support::wait_shmqd_ready(ready_fd_, limit);
    ::close(ready_fd_);
    ready_fd_ = -1;
    while (read_some(0)) {  // shmqd logged its ready line before it wrote the descriptor
    }
    return ready == pid_;
  }

  // Reads stderr until it contains `needle` (true), or EOF or `limit` (false).
  bool wait_for(const std::string& needle, std::chrono::milliseconds limit = kStartLimit) {
    const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(limit.count());
    while (err_.find(needle) == std::string::npos) {
      const std::uint64_t now = now_ms();
      if (now >= deadline || !read_some(static_cast<int>(deadline - now))) return false;
    }
    return true;
  }

  // Sends `signo`, reaps shmqd (SIGKILL after kStopLimit) and reads what it wrote.
  ChildExit stop(int signo) {
    ::kill(pid_, signo);
    exit_ = shmq::test::wait_child(pid_, kStopLimit);
    while (read_some(0)) {
    }
    return *exit_;
  }

  // Reads stderr for `period`: true if shmqd wrote nothing in that time.
  bool quiet_for(std::chrono::milliseconds period) {
    const std::size_t before = err_.size();
    const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(period.count());
    for (std::uint64_t now = now_ms(); now < deadline; now = now_ms())
      if (!read_some(static_cast<int>(deadline - now)) && err_fd_ < 0) break;
    return err_.size() == before;
  }

  // Everything shmqd wrote to stderr so far.
  [[nodiscard]] const std::string& err() const noexcept { return err_; }

 private:
  // One read, waiting at most `timeout_ms`; false on EOF, error or timeout.
  bool read_some(int timeout_ms) {
    if (err_fd_ < 0) return false;
    pollfd p{err_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(err_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      ::close(err_fd_);
      err_fd_ = -1;
      return false;
    }
    err_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int err_fd_ = -1;
  int ready_fd_ = -1;
  std::string err_;
  std::optional<ChildExit> exit_;
};

}  // namespace shmq::test
