// Helpers for tests that fork children: reaping, reporting, shared results.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#include "test_support.hpp"

namespace shmq::test {

// A child's failure: one line on stderr, and `code` as the exit code.
[[gnu::format(printf, 2, 3)]] inline int fail(int code, const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fprintf(stderr, "[child %d] ", static_cast<int>(::getpid()));
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
  return code;
}

inline ::testing::AssertionResult exited_cleanly(const ChildExit& e) {
  if (e.exited && e.code == 0) return ::testing::AssertionSuccess();
  if (e.timed_out) return ::testing::AssertionFailure() << "child overstayed its deadline and was killed";
  if (e.exited) return ::testing::AssertionFailure() << "child exited with code " << e.code;
  return ::testing::AssertionFailure() << "child was killed by signal " << e.signal;
}

// A forked child (fork_child), reaped exactly once: by wait(), or, when a
// failed assertion left the test early, on destruction (killed at once).
class Child {
 public:
  explicit Child(const std::function<int()>& body) : pid_(fork_child(body)) {}
  ~Child() {
    if (!reaped_) (void)wait_child(pid_, std::chrono::milliseconds(0));
  }
  Child(Child&& other) noexcept : pid_(other.pid_), reaped_(std::exchange(other.reaped_, true)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child& operator=(Child&&) = delete;

  // How it ended; killed if it is still running after `timeout`.
  ChildExit wait(std::chrono::milliseconds timeout) {
    reaped_ = true;
    return wait_child(pid_, timeout);
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// A child the test signals (SIGKILL, SIGSTOP, SIGCONT): a Child whose pid is
// not hidden. Killed and reaped on destruction if still there.
class Victim {
 public:
  explicit Victim(const std::function<int()>& body) : pid_(fork_child(body)) {}
  ~Victim() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      (void)wait_child(pid_, std::chrono::milliseconds(0));
    }
  }
  Victim(const Victim&) = delete;
  Victim& operator=(const Victim&) = delete;
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool signal(int signo) const noexcept { return ::kill(pid_, signo) == 0; }
  ChildExit wait(std::chrono::milliseconds limit) {
    reaped_ = true;
    return wait_child(pid_, limit);
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// `n` objects of T in memory shared with the children forked after it was made
// (MAP_SHARED | MAP_ANONYMOUS): how children report details to the parent.
template <class T>
class SharedArray {
 public:
  explicit SharedArray(std::size_t n) : n_(n) {
    void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap of shared test memory");
    data_ = static_cast<T*>(p);
    std::uninitialized_value_construct_n(data_, n_);
  }
  ~SharedArray() {
    std::destroy_n(data_, n_);
    ::munmap(data_, bytes());
  }
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;

  T& operator[](std::size_t i) const noexcept { return data_[i]; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  [[nodiscard]] std::size_t bytes() const noexcept { return n_ * sizeof(T); }
  std::size_t n_;
  T* data_ = nullptr;
};

// A pipe between a test and its children, closed on destruction: one byte
// says "done" from a child, or "go on" from the parent.
class Pipe {
 public:
  Pipe() {
    if (::pipe(fds_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  }
  ~Pipe() {
    for (int fd : fds_) ::close(fd);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  [[nodiscard]] bool signal() const noexcept {
    const char b = 1;
    return ::write(fds_[1], &b, 1) == 1;
  }
  // False if no byte came within `limit`.
  [[nodiscard]] bool wait(std::chrono::milliseconds limit) const {
    char b = 0;
    return read_exact(fds_[0], &b, 1, limit);
  }

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace shmq::test
