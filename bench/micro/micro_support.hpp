// Harness shared by the micro-benchmarks: a namespace per process and its
// cleanup, queues that delete themselves, error checks that skip a benchmark,
// CPU pinning, and a round-trip-time histogram.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "bench_common.hpp"
#include "shmq/admin/system.hpp"
#include "shmq/shmq.hpp"

namespace shmq_bench {

using shmq::Status;

// ---- namespace and leftovers -------------------------------------------------

inline const std::string& bench_namespace() {
  static const std::string ns = "mb" + std::to_string(::getpid());
  return ns;
}

// This process's namespace, swept at start (a dead process with the same pid)
// and at exit, after benchmark_main's main has returned and every Client is gone.
inline const NamespaceSweep g_cleanup(bench_namespace());  // NOLINT(cert-err58-cpp): a failed sweep ends the run

// A queue with a fresh name, deleted when the benchmark function returns.
class BenchQueue {
 public:
  BenchQueue(shmq::Client& client, const char* base, const shmq::QueueConfig& config)
      : client_(client), name_(std::string(base) + "-" + std::to_string(counter_++)) {
    client_.create_queue(name_, config);
  }
  ~BenchQueue() {
    try {
      (void)client_.delete_queue(name_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): leftovers go at exit
    }
  }
  BenchQueue(const BenchQueue&) = delete;
  BenchQueue& operator=(const BenchQueue&) = delete;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  static inline std::uint32_t counter_ = 0;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): name counter
  shmq::Client& client_;
  std::string name_;
};

inline shmq::Client make_client() { return shmq::Client({.ns = bench_namespace()}); }

inline shmq::QueueConfig queue_config(std::uint32_t capacity, std::uint32_t slot_size, std::uint32_t groups = 1) {
  shmq::QueueConfig c{.capacity = capacity, .slot_size = slot_size};
  c.groups.clear();
  for (std::uint32_t g = 0; g < groups; ++g) c.groups.push_back(shmq::GroupConfig{.name = "g" + std::to_string(g)});
  return c;
}

// Runs a benchmark body; setup errors (shmq::Error) skip the benchmark with
// their message instead of aborting the whole run.
template <class Body>
void guarded(benchmark::State& state, Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

inline bool check(benchmark::State& state, Status s, const char* what) {
  if (s == Status::Ok) [[likely]]
    return true;
  state.SkipWithError((std::string(what) + ": " + shmq::to_string(s)).c_str());
  return false;
}

// ---- CPUs, clocks, latency histogram ----------------------------------------

using shmq::admin::cpu_relax;  // the library's own pause, so the floor spins like shmq does

// Pins the calling (benchmark) thread for its lifetime, then restores its mask:
// the same thread runs every later benchmark.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    CPU_ZERO(&saved_);
    saved_ok_ = ::pthread_getaffinity_np(::pthread_self(), sizeof saved_, &saved_) == 0;
    (void)pin_to(cpu);
  }
  ~ScopedPin() {
    if (saved_ok_) (void)::pthread_setaffinity_np(::pthread_self(), sizeof saved_, &saved_);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
};

// Round-trip times in a log-linear histogram: exact below 1024 ns, then 64
// sub-buckets per power of two (under 1.6% error); constant memory however many
// iterations the library picks.
class RttHistogram {
 public:
  void start() noexcept { prev_ = now_ns(); }
  // One round trip ended now.
  void lap() noexcept {
    const std::uint64_t t = now_ns();
    ++counts_[bucket(t - prev_)];
    max_ = std::max(max_, t - prev_);
    ++total_;
    prev_ = t;
  }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  // The value below which a fraction `q` of the samples lie (bucket midpoint).
  [[nodiscard]] double quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return midpoint(i);
    }
    return midpoint(counts_.size() - 1);
  }

 private:
  static constexpr std::size_t kLinear = 1024;  // 2^10
  static constexpr std::size_t kSub = 64;       // 2^6
  static constexpr std::size_t kBuckets = kLinear + (64 - 10) * kSub;

  static std::size_t bucket(std::uint64_t v) noexcept {
    if (v < kLinear) return static_cast<std::size_t>(v);
    const auto e = static_cast<std::size_t>(std::bit_width(v) - 1);  // 10..63
    return kLinear + (e - 10) * kSub + static_cast<std::size_t>((v >> (e - 6)) & (kSub - 1));
  }
  static double midpoint(std::size_t i) noexcept {
    if (i < kLinear) return static_cast<double>(i);
    const std::size_t e = (i - kLinear) / kSub + 10;
    const std::size_t sub = (i - kLinear) % kSub;
    const double width = std::ldexp(1.0, static_cast<int>(e) - 6);
    return std::ldexp(1.0, static_cast<int>(e)) + (static_cast<double>(sub) + 0.5) * width;
  }

  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kBuckets, 0);
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t prev_ = 0;
};

inline void report_rtt(benchmark::State& state, const RttHistogram& h) {
  state.counters["p50_ns"] = h.quantile(0.50);
  state.counters["p99_ns"] = h.quantile(0.99);
  state.counters["p999_ns"] = h.quantile(0.999);
  state.counters["max_ns"] = static_cast<double>(h.max());
  state.SetItemsProcessed(state.iterations());
}

}  // namespace shmq_bench
