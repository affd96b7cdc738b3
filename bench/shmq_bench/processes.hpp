// Child processes for the benchmarks: memory they share with the parent,
// forking a pinned child, and waiting for children with a deadline.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <new>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <sys/mman.h>
#include <sys/types.h>

namespace shmq_bench {

// `n` values in an anonymous MAP_SHARED mapping: made by the parent before it
// forks, seen by the children.
template <class T>
class SharedArray {
 public:
  explicit SharedArray(std::size_t n = 1) : n_(n) {
    void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
    values_ = static_cast<T*>(p);
    for (std::size_t i = 0; i < n_; ++i) new (values_ + i) T{};
  }
  ~SharedArray() { ::munmap(values_, bytes()); }
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;

  T& operator[](std::size_t i) const noexcept { return values_[i]; }
  T& operator*() const noexcept { return values_[0]; }
  T* operator->() const noexcept { return values_; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

 private:
  [[nodiscard]] std::size_t bytes() const noexcept { return n_ * sizeof(T); }
  std::size_t n_;
  T* values_;
};

// Why a child failed, written by the child before it exits.
struct ChildError {
  char text[480];
  [[nodiscard]] bool empty() const noexcept { return text[0] == '\0'; }
};

// Forks a child pinned to `cpu` (-1: not pinned) that runs `body` and exits
// with _exit (never returning into the parent's code): 0, or 1 with the text
// of what it threw in `error`. The caller must hold no threads.
pid_t spawn(int cpu, const std::function<void()>& body, ChildError& error);

// Waits until every child has exited, at most `limit`; then kills those still
// running. Returns "" if all exited with status 0, else what went wrong.
std::string wait_all(std::span<const pid_t> children, std::chrono::milliseconds limit);

}  // namespace shmq_bench
