// Wake-up tests: a waiter child parks on a queue (Park strategy), the test
// waits until it is asleep on the queue's futex, so that only a wake-up can
// get it going again (the queue's lanes count a parked thread and the child's
// main thread sleeps in the kernel's futex wait: its wchan), and then makes
// another process act. With the park slice made huge (set_park_slice in
// wait.hpp) a lost wake-up hangs the waiter until its own timeout, kWakeLimit,
// and it fails: the slice no longer hides it.
#pragma once

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <sys/types.h>

#include <gtest/gtest.h>

#include "children.hpp"
#include "core/parking.hpp"
#include "os/queue_segment.hpp"
#include "os/wait.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq::test {

// Longer than any test: a parked thread wakes only when someone wakes it.
inline constexpr std::chrono::hours kNoParkSlice{1};
// How long a parked waiter waits for the other side's action before it fails.
// A wake-up takes microseconds; only a lost one (or a machine stalled for
// seconds) misses this bound.
inline constexpr std::chrono::seconds kWakeLimit{10};
// Bounds on children that only catch a broken test, never pace a working one.
inline constexpr std::chrono::seconds kParkLimit{30};
inline constexpr std::chrono::seconds kWakeChildDeadline{60};

// Sets the park slice of this process and the children it forks from now on
// to `slice`, and back to the default when it goes.
class ParkSliceScope {
 public:
  explicit ParkSliceScope(std::chrono::nanoseconds slice) { detail::set_park_slice(slice); }
  ~ParkSliceScope() { detail::set_park_slice(detail::kParkSlice); }
  ParkSliceScope(const ParkSliceScope&) = delete;
  ParkSliceScope& operator=(const ParkSliceScope&) = delete;
};

// Where the main thread of `pid` sleeps in the kernel ("" if it runs).
inline std::string wchan_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/wchan");
  std::string s;
  std::getline(f, s);
  return s == "0" ? std::string() : s;
}

// True once `lanes` counts a parked thread while the main thread of `pid`
// sleeps in a futex wait; false if that did not happen within `limit`.
inline bool wait_parked(pid_t pid, const detail::ParkedLanes& lanes, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!(detail::any_parked(lanes) && wchan_of(pid).find("futex") != std::string::npos)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a poll interval, not a synchronisation
  }
  return true;
}

// Waiter bodies for a forked child: 0 once through, or a failure code.

// Receives one message from `group` with the Park strategy, expects delivery
// count `count`, acks it.
inline int receive_parked(const TestNamespace& ns, const std::string& queue, std::uint32_t count,
                          const std::string& group = "default") {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer(queue, group, {.strategy = shmq::WaitStrategy::Park});
  shmq::Message m = consumer.receive(kWakeLimit);
  if (m.status() == shmq::Status::Timeout) return fail(10, "parked consumer never woken: a lost wake-up");
  if (!m) return fail(11, "receive: %s", shmq::to_string(m.status()));
  if (m.delivery_count() != count) return fail(12, "delivery count %u, expected %u", m.delivery_count(), count);
  if (const shmq::Status s = m.ack(); s != shmq::Status::Ok) return fail(13, "ack: %s", shmq::to_string(s));
  return 0;
}

// Sends one message with the Park strategy (into a full queue: it parks).
inline int send_parked(const TestNamespace& ns, const std::string& queue) {
  shmq::Client c({.ns = ns.name()});
  shmq::Producer p = c.producer(queue, {.strategy = shmq::WaitStrategy::Park});
  const shmq::Status s = p.send("after the wait", kWakeLimit);
  if (s == shmq::Status::Timeout) return fail(20, "parked producer never woken: a lost wake-up");
  if (s != shmq::Status::Ok) return fail(21, "send: %s", shmq::to_string(s));
  return 0;
}

// Sends `n` messages without waiting (fills a queue).
inline int send_now(const TestNamespace& ns, const std::string& queue, int n) {
  shmq::Client c({.ns = ns.name()});
  shmq::Producer p = c.producer(queue);
  for (int i = 0; i < n; ++i)
    if (const shmq::Status s = p.send("fill", std::chrono::nanoseconds::zero()); s != shmq::Status::Ok)
      return fail(30, "send %d: %s", i, shmq::to_string(s));
  return 0;
}

// Which side of a queue waits.
enum class Parked { Consumers, Producers };

// Forks `waiter` with the park slice off, waits until it is parked on
// `queue`, calls `act` (which makes another process wake it), and expects the
// waiter to get through (it fails itself after kWakeLimit). Call it with no
// Client in this process (it forks).
inline void expect_woken(const TestNamespace& ns, const std::string& queue, Parked side,
                         const std::function<int()>& waiter, const std::function<void()>& act) {
  const ParkSliceScope no_slice(kNoParkSlice);
  Victim w(waiter);
  {
    const detail::MappedQueue q = detail::open_queue_segment(ns.name(), queue);
    const detail::ParkedLanes& lanes =
        side == Parked::Consumers ? q.view.hot->consumers_parked : q.view.hot->producers_parked;
    ASSERT_TRUE(wait_parked(w.pid(), lanes, kParkLimit)) << "the waiter never parked";
  }
  act();
  EXPECT_TRUE(exited_cleanly(w.wait(kWakeChildDeadline))) << "see the child's line above";
}

}  // namespace shmq::test
