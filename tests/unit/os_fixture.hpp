// What the unit tests of the OS layer (lib/src/os) share: a deadline on every
// blocking call (a forked child that is killed if it overstays, so a broken
// implementation fails a test instead of hanging), error capture, and ShmTest,
// a namespace of the test process's own, cleaned before and after each test.
// Used by os_names_test, error_test, segment_test, futex_test, os_process_test
// and file_lock_test.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "os/futex.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"
#include "shmq/error.hpp"

namespace shmq::detail::os_tests {

using namespace std::chrono_literals;

inline constexpr auto kChildDeadline = 10s;

// A pause between polls that is not a sleep: a futex wait nobody wakes.
inline void pause_briefly() {
  const std::uint32_t idle = 0;
  futex_wait(&idle, 0, 1ms);
}

// Waits for `pid` to exit, polling with WNOHANG until a deadline. Returns its
// exit code (128+signal if killed), or -1 after killing a child that overstayed.
inline int wait_child(pid_t pid, std::chrono::nanoseconds limit = kChildDeadline) {
  const std::uint64_t deadline = monotonic_ns() + static_cast<std::uint64_t>(limit.count());
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return -1;
    if (monotonic_ns() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    pause_briefly();
  }
}

// Runs `body` in a forked child; its return value is the exit code.
inline pid_t spawn(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  return pid;
}

inline int run_in_child(const std::function<int()>& body) {
  const pid_t pid = spawn(body);
  return pid < 0 ? -1 : wait_child(pid);
}

template <typename F>
std::optional<Error> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline bool shm_file_exists(const std::string& name) {
  struct stat st {};
  return ::stat(shm_path(name).c_str(), &st) == 0;
}

// A namespace of this process's own, cleaned before and after each test.
class ShmTest : public ::testing::Test {
 protected:
  void SetUp() override { remove_all(); }
  void TearDown() override { remove_all(); }

  std::string ns() const { return "ostest-" + std::to_string(::getpid()); }
  std::string name(const std::string& queue = "") const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return queue_segment_name(ns(), std::string(info->name()) + queue);
  }
  void remove_all() const {
    for (const auto& n : Segment::list(namespace_prefix(ns()))) Segment::remove(n);
    ::unlink(namespace_lock_path(ns()).c_str());
  }
};

// The suite of os_process_test and file_lock_test (one fixture, so gtest sees
// one OsTest suite across both files).
class OsTest : public ShmTest {};

}  // namespace shmq::detail::os_tests
