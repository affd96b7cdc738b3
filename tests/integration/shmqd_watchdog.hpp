// What the tests of shmqd's watchdog with the real daemon
// (shmqd_watchdog*_test.cpp) share: the bounds, what a consumer child saw,
// producer and consumer children, and the fixture.
//
// Every producer and consumer runs in a forked child (a Client owns a
// heartbeat thread: the test process forks only while it holds none) and
// reports through shared memory, pipes and its exit code. Each wait is
// bounded; the bounds are generous (a sanitizer build on a loaded 2-core
// machine), and the speed targets are shmq-bench's business (`recovery`).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "children.hpp"
#include "core/inspect.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace shmq::test::watchdog {

using namespace std::chrono_literals;

inline constexpr auto kChildDeadline = 60s;
inline constexpr auto kOpTimeout = 20s;  // a receive that must succeed
inline constexpr auto kLogLimit = 20s;   // a line shmqd must write

// What a consumer child saw: message ids and delivery counts.
struct Seen {
  std::atomic<std::uint64_t> id{0};
  std::atomic<std::uint32_t> count{0};
  std::atomic<std::uint32_t> status{0};  // of its ack, as a Status
};

inline std::string problems(const shmq::detail::AuditReport& a) {
  std::string s;
  for (const std::string& p : a.problems) s += p + "\n";
  return s;
}

inline int send_messages(const TestNamespace& ns, const std::string& queue, int n) {
  shmq::Client c({.ns = ns.name()});
  shmq::Producer p = c.producer(queue);
  for (int i = 0; i < n; ++i)
    if (const Status s = p.send("message " + std::to_string(i), kOpTimeout); s != Status::Ok)
      return fail(20, "send %d: %s", i, shmq::to_string(s));
  return 0;
}

// Receives `n` messages, records them, and acks them (expecting delivery count `count`).
inline int receive_and_ack(const TestNamespace& ns, const std::string& queue, int n, std::uint32_t count,
                           SharedArray<Seen>& seen, std::atomic<std::uint64_t>* last_ms = nullptr) {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer(queue);
  for (int i = 0; i < n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    if (!m) return fail(30, "receive %d: %s", i, shmq::to_string(m.status()));
    if (last_ms != nullptr) last_ms->store(now_ms());
    seen[static_cast<std::size_t>(i)].id = m.id();
    seen[static_cast<std::size_t>(i)].count = m.delivery_count();
    if (m.delivery_count() != count) return fail(31, "message %d has delivery count %u", i, m.delivery_count());
    if (const Status s = m.ack(); s != Status::Ok) return fail(32, "ack %d: %s", i, shmq::to_string(s));
  }
  if (shmq::Message extra = consumer.receive(50ms); extra.status() != Status::Timeout)
    return fail(33, "an extra message (id %llu)", static_cast<unsigned long long>(extra.id()));
  return 0;
}

// Leases `n` messages without acking, reports their ids, signals `ready`,
// then waits (SIGKILL, SIGSTOP) until `go`; then acks each, recording the
// status, and waits until its client sees itself fenced when `expect_fenced`.
inline int hold_leases(const TestNamespace& ns, const std::string& queue, int n, SharedArray<Seen>& seen,
                       const Pipe& ready, const Pipe& go, shmq::ClientOptions options = {}, bool expect_fenced = false,
                       std::atomic<std::uint32_t>* session = nullptr) {
  options.ns = ns.name();
  shmq::Client c(options);
  if (session != nullptr) session->store(c.session_id());
  shmq::Consumer consumer = c.consumer(queue);
  std::vector<shmq::Message> held;
  for (int i = 0; i < n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    if (!m) return fail(40, "receive %d: %s", i, shmq::to_string(m.status()));
    seen[static_cast<std::size_t>(i)].id = m.id();
    seen[static_cast<std::size_t>(i)].count = m.delivery_count();
    held.push_back(std::move(m));
  }
  if (!ready.signal()) return fail(41, "cannot report ready");
  if (!go.wait(kChildDeadline)) return fail(42, "no go from the parent");
  for (std::size_t i = 0; i < held.size(); ++i) seen[i].status = static_cast<std::uint32_t>(held[i].ack());
  if (expect_fenced) {
    const std::uint64_t deadline = now_ms() + 10'000;
    // A poll interval, not a synchronisation: the heartbeat thread's next beat sets fenced().
    while (!c.fenced() && now_ms() < deadline) std::this_thread::sleep_for(10ms);
    if (!c.fenced()) return fail(43, "the client does not see itself fenced");
  }
  return 0;
}

class WatchdogTest : public ::testing::Test {
 protected:
  TestNamespace ns_;
};

}  // namespace shmq::test::watchdog
