// The test hook of wait.hpp: the park slice as a process-wide setting. In a
// normal build the slice is the constant kParkSlice and this file is empty.
#include "os/wait.hpp"

#if SHMQ_TEST_HOOKS
namespace shmq::detail {

namespace {
constexpr std::int64_t kDefaultSliceNs = std::chrono::nanoseconds(kParkSlice).count();
// Relaxed: a plain setting, set by a test before it starts its waiters.
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): a per-process test hook
std::atomic<std::int64_t> g_park_slice_ns{kDefaultSliceNs};
}  // namespace

std::chrono::nanoseconds park_slice() noexcept {
  return std::chrono::nanoseconds(g_park_slice_ns.load(kRelaxed));
}

void set_park_slice(std::chrono::nanoseconds slice) noexcept {
  g_park_slice_ns.store(slice.count(), kRelaxed);
}

}  // namespace shmq::detail
#endif
