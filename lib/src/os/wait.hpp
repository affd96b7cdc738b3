// Wait strategies for consumers waiting for a message and producers waiting for
// a free slot, and the wake-up that pairs with parking.
//
// Parking protocol (no lost wake-ups, no system call when nobody is parked):
//   waiter:  raise own lane (seq_cst); f = futex (seq_cst); try again;
//            if still nothing: futex_wait(futex, f); lower own lane
//   waker:   change the state (a seq_cst CAS); if any lane != 0 (seq_cst):
//            futex += 1; futex_wake_all
// All four are seq_cst, so either the waker sees a raised lane and changes the
// futex word (the waiter's futex_wait returns at once), or the waiter's retry
// sees the new state. Waits are cut into slices (park_slice(), 100 ms), so
// even a wake-up lost to a crashed process only costs one slice. A test build
// (SHMQ_TEST_HOOKS) can make the slice huge, so that a lost wake-up hangs and
// its test fails instead of passing one slice late.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

#include <sched.h>

#include "core/parking.hpp"
#include "layout/crash_point.hpp"
#include "layout/queue_view.hpp"
#include "os/futex.hpp"
#include "os/process.hpp"
#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

// Where a waiter parks: the futex word, the lanes, and this session's lane.
struct ParkSite {
  std::atomic<std::uint32_t>* futex;
  ParkedLanes* lanes;
  std::uint32_t session_index;
};

inline constexpr std::chrono::milliseconds kParkSlice{100};

#if SHMQ_TEST_HOOKS
// The slice of every park in this process (and its children forked later).
std::chrono::nanoseconds park_slice() noexcept;
// Test hook: sets it; kParkSlice until called.
void set_park_slice(std::chrono::nanoseconds slice) noexcept;
#else
inline constexpr std::chrono::nanoseconds park_slice() noexcept { return kParkSlice; }
#endif

// Wakes everyone parked on `futex` if anyone is.
inline void notify(std::atomic<std::uint32_t>& futex, const ParkedLanes& lanes) noexcept {
  if (!any_parked(lanes)) return;
  futex.fetch_add(1, kSeqCst);
  futex_wake_all(reinterpret_cast<const std::uint32_t*>(&futex));
}

// Wakes parked consumers and producers of `q`: after a recovery, which may
// have freed slots and requeued messages at once.
inline void wake_everyone(const QueueView& q) noexcept {
  notify(q.hot->data_futex, q.hot->consumers_parked);
  notify(q.hot->space_futex, q.hot->producers_parked);
}

template <class Try>
Status park_once(Try& try_once, Status again, const ParkSite& site, std::uint64_t deadline_ns) noexcept {
  if (!raise_lane(*site.lanes, site.session_index)) {  // lane full: do not sleep
    sched_yield();
    return try_once();
  }
  SHMQ_CRASH_POINT("park.counted");
  const std::uint32_t seen = site.futex->load(kSeqCst);
  Status s = try_once();
  if (s == again) {
    const std::uint64_t now = monotonic_ns();
    const auto left = std::chrono::nanoseconds(deadline_ns > now ? deadline_ns - now : 0);
    if (left.count() > 0)
      futex_wait(reinterpret_cast<const std::uint32_t*>(site.futex), seen, std::min(left, park_slice()));
  }
  lower_lane(*site.lanes, site.session_index);
  return s;
}

// Calls try_once until it returns something other than `again`, waiting between
// calls by `w`; Timeout once `timeout` has passed.
template <class Try>
Status wait_until(Try&& try_once, Status again, const WaitOptions& w, std::chrono::nanoseconds timeout,
                  const ParkSite& site) noexcept {
  Status s = try_once();
  if (s != again || timeout.count() <= 0) return s;
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline =
      timeout >= std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max() / 2)
          ? std::numeric_limits<std::uint64_t>::max()
          : start + static_cast<std::uint64_t>(timeout.count());
  const auto spin_ns = static_cast<std::uint64_t>(w.spin.count() > 0 ? w.spin.count() : 0);
  std::uint64_t now = start;
  for (std::uint32_t i = 1;; ++i) {
    const bool park = w.strategy == WaitStrategy::Park || (w.strategy == WaitStrategy::Adaptive && now - start >= spin_ns);
    if (park) {
      s = park_once(try_once, again, site, deadline);
    } else {
      if (w.strategy == WaitStrategy::SpinYield && i > 64) sched_yield();
      else cpu_relax();
      s = try_once();
    }
    if (s != again) return s;
    if (park || (i & 63U) == 0) {
      now = monotonic_ns();
      if (now >= deadline) return Status::Timeout;
    }
  }
}

}  // namespace shmq::detail
