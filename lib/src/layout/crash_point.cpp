#include "layout/crash_point.hpp"

#if SHMQ_CRASH_POINTS

#include <atomic>
#include <csignal>
#include <cstdlib>

#include "layout/memory_order.hpp"

namespace shmq::detail {
namespace {

constexpr std::size_t kNone = kCrashPoints.size();

std::size_t index_of(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kCrashPoints.size(); ++i)
    if (kCrashPoints[i] == name) return i;
  return kNone;
}

// NOLINTBEGIN(cppcoreguidelines-avoid-non-const-global-variables): per-process test hooks
std::array<std::atomic<std::uint64_t>, kCrashPoints.size()> g_hits{};
std::atomic<std::size_t> g_armed{kNone};
std::atomic<std::uint64_t> g_remaining{0};
// NOLINTEND(cppcoreguidelines-avoid-non-const-global-variables)

}  // namespace

void crash_point(std::string_view name) noexcept {
  const std::size_t i = index_of(name);
  if (i == kNone) std::abort();  // a step without a name in kCrashPoints
  g_hits[i].fetch_add(1, kRelaxed);
  if (g_armed.load(kRelaxed) == i &&
      g_remaining.fetch_sub(1, kRelaxed) == 1) {
    std::raise(SIGKILL);
  }
}

void arm_crash_point(std::string_view name, std::uint32_t nth) noexcept {
  g_remaining.store(nth, kRelaxed);
  g_armed.store(index_of(name), kRelaxed);
}

std::uint64_t crash_point_hits(std::string_view name) noexcept {
  const std::size_t i = index_of(name);
  return i == kNone ? 0 : g_hits[i].load(kRelaxed);
}

}  // namespace shmq::detail

#endif
