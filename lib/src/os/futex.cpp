#include "os/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <ctime>

namespace shmq::detail {

void futex_wait(const std::uint32_t* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept {
  timespec ts{};
  timespec* tsp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    tsp = &ts;
  }
  // FUTEX_WAIT only reads the word; the kernel API takes a non-const pointer.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): see above
  ::syscall(SYS_futex, const_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, tsp, nullptr, 0);
}

void futex_wake_all(const std::uint32_t* word) noexcept {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): FUTEX_WAKE does not write the word either
  ::syscall(SYS_futex, const_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace shmq::detail
