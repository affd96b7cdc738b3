// What both benchmark programs need: CPUs to pin to, a clock, and a sweep of
// a namespace's leftovers in /dev/shm.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <pthread.h>
#include <sched.h>

#include "shmq/admin/namespace.hpp"

namespace shmq_bench {

inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// The first two CPUs this process may run on (CPUs 0 and 1 here), read once
// before any thread is pinned; {-1, -1} with fewer than two.
inline std::array<int, 2> two_cpus() {
  static const std::array<int, 2> cpus = [] {
    std::array<int, 2> found{-1, -1};
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) return found;
    std::size_t n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; ++c)
      if (CPU_ISSET(c, &set)) found[n++] = c;
    return found;
  }();
  return cpus;
}

// Pins the calling thread to `cpu` (-1: leaves it free). False if refused.
inline bool pin_to(int cpu) noexcept {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

// Unlinks every object of namespace `ns` ("shmq.<ns>." covers the queues, the
// registry and the lock file) when made and when destroyed: for a namespace
// private to one benchmark run, which a dead run with the same name may have left.
class NamespaceSweep {
 public:
  explicit NamespaceSweep(std::string ns) : ns_(std::move(ns)) { sweep(); }
  ~NamespaceSweep() { sweep(); }
  NamespaceSweep(const NamespaceSweep&) = delete;
  NamespaceSweep& operator=(const NamespaceSweep&) = delete;

 private:
  void sweep() const noexcept {
    try {
      shmq::admin::remove_namespace(ns_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): best effort; nothing to report it to
    }
  }
  std::string ns_;
};

}  // namespace shmq_bench
