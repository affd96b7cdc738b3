// Multi-process tests of the public API (DESIGN.md §1), waiting across
// processes: a full queue fails fast, times out, and a blocked send resumes
// after an ack in another process; two processes ping-pong over queues of
// capacity 1 with each wait strategy.
//
// Every test forks its processes, uses its own namespace, and waits with a
// deadline: a broken library fails a test instead of hanging CI. Children never
// run gtest assertions; they report through their exit code (and a line on
// stderr), and the parent asserts that each exited 0.
//
// The parent creates queues with a Client that is destroyed before it forks: a
// live Client owns a heartbeat thread, and a child forked from a multi-threaded
// process must not start threads (ThreadSanitizer refuses it, and it is unsafe).
// A parent may make a Client after its last fork.
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "children.hpp"
#include "multiprocess_support.hpp"
#include "os/queue_segment.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::Pipe;
using shmq::test::TestNamespace;
using shmq::test::Victim;
using shmq::test::multiprocess::create_queue;
using shmq::test::multiprocess::decode_seq;
using shmq::test::multiprocess::kChildDeadline;
using shmq::test::multiprocess::kOpTimeout;
using shmq::test::multiprocess::queue_config;
using shmq::test::multiprocess::seq_payload;

// ---- backpressure -------------------------------------------------------------------

TEST(MultiProcessTest, FullQueueFailsFastTimesOutAndBlockedSendResumesAfterAnAckInAnotherProcess) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 8;
  create_queue(ns, "full", queue_config(kCapacity, 64));
  Pipe about_to_block;
  // No park slice (parked.hpp): once parked, only the ack's wake-up lets the
  // blocked send through before its own timeout.
  const shmq::test::ParkSliceScope no_slice(shmq::test::kNoParkSlice);

  Victim producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("full");
    std::uint64_t accepted = 0;
    Status s = Status::Ok;
    while (accepted <= kCapacity && (s = p.try_send(seq_payload(accepted))) == Status::Ok) ++accepted;
    if (accepted != kCapacity)
      return fail(50, "try_send accepted %llu messages (stopped with %s), expected the capacity %u",
                  static_cast<unsigned long long>(accepted), shmq::to_string(s), kCapacity);
    if (s != Status::QueueFull) return fail(51, "try_send on a full queue: %s, not QueueFull", shmq::to_string(s));
    if (shmq::Loan l = p.try_loan(16); l.status() != Status::QueueFull)
      return fail(52, "try_loan on a full queue: %s, not QueueFull", shmq::to_string(l.status()));

    const auto t0 = std::chrono::steady_clock::now();
    s = p.send(seq_payload(kCapacity), 20ms);
    const auto waited = std::chrono::steady_clock::now() - t0;
    if (s != Status::Timeout) return fail(53, "send(20 ms) on a full queue: %s, not Timeout", shmq::to_string(s));
    if (waited < 20ms)
      return fail(54, "send(20 ms) gave up after %lld us",
                  static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));

    if (!about_to_block.signal()) return fail(55, "write to the pipe failed");
    s = p.send(seq_payload(kCapacity), 5s);
    if (s != Status::Ok) return fail(56, "blocked send(5 s) ended with %s, not Ok after the ack", shmq::to_string(s));
    return 0;
  });

  ASSERT_TRUE(about_to_block.wait(std::chrono::milliseconds(kChildDeadline)))
      << "the producer never got to its blocking send: " << exited_cleanly(producer.wait(1s)).message();
  {
    // The ack comes once the send is blocked (parked), not before it started.
    const shmq::detail::MappedQueue q = shmq::detail::open_queue_segment(ns.name(), "full");
    ASSERT_TRUE(shmq::test::wait_parked(producer.pid(), q.view.hot->producers_parked, shmq::test::kParkLimit))
        << "the producer never blocked on the full queue";
  }

  // No more forks in this test: the parent may have a Client now.
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer("full");
  {
    shmq::Message m = consumer.receive(kOpTimeout);
    ASSERT_EQ(m.status(), Status::Ok);
    std::uint64_t seq = 99;
    ASSERT_TRUE(decode_seq(m.data(), seq));
    EXPECT_EQ(seq, 0U);
    ASSERT_EQ(m.ack(), Status::Ok);
  }
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";

  // The queue holds seq 1..capacity: the blocked message came last.
  for (std::uint64_t i = 1; i <= kCapacity; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    ASSERT_EQ(m.status(), Status::Ok) << "message " << i;
    std::uint64_t seq = 0;
    ASSERT_TRUE(decode_seq(m.data(), seq));
    EXPECT_EQ(seq, i);
    ASSERT_EQ(m.ack(), Status::Ok);
  }
  EXPECT_EQ(consumer.try_receive().status(), Status::Empty);
}

const char* strategy_name(shmq::WaitStrategy s) {
  switch (s) {
    case shmq::WaitStrategy::BusySpin: return "BusySpin";
    case shmq::WaitStrategy::SpinYield: return "SpinYield";
    case shmq::WaitStrategy::Park: return "Park";
    case shmq::WaitStrategy::Adaptive: return "Adaptive";
  }
  return "Unknown";
}

// ---- wait strategies ----------------------------------------------------------------

// The parameter: a wait strategy that prints by name (in test names and in ctest).
struct Strategy {
  shmq::WaitStrategy value;
  friend void PrintTo(const Strategy& s, std::ostream* os) { *os << strategy_name(s.value); }
};

class MultiProcessPingPongTest : public ::testing::TestWithParam<Strategy> {};

// Two processes bounce a message over two queues of capacity 1. Each acks the
// message it got only after it sent its own, so the other side regularly finds
// its queue's only slot busy: both consumers and producers wait, by the
// strategy under test, and are woken across processes.
TEST_P(MultiProcessPingPongTest, TenThousandRoundTripsComplete) {
  TestNamespace ns;
  constexpr std::uint64_t kRoundTrips = 10'000;
  const shmq::WaitOptions wait{.strategy = GetParam().value};
  create_queue(ns, "ping", queue_config(1, 64));
  create_queue(ns, "pong", queue_config(1, 64));

  Child ponger([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer in = c.consumer("ping", "default", wait);
    shmq::Producer out = c.producer("pong", wait);
    for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
      shmq::Message m = in.receive(kOpTimeout);
      const auto ui = static_cast<unsigned long long>(i);
      if (!m) return fail(60, "ponger: receive of ping %llu: %s", ui, shmq::to_string(m.status()));
      std::uint64_t seq = 0;
      if (!decode_seq(m.data(), seq) || seq != i) return fail(61, "ponger: ping %llu carries a bad payload", ui);
      if (const Status s = out.send(seq_payload(i), kOpTimeout); s != Status::Ok)
        return fail(62, "ponger: send of pong %llu: %s", ui, shmq::to_string(s));
      if (const Status s = m.ack(); s != Status::Ok) return fail(63, "ponger: ack: %s", shmq::to_string(s));
    }
    return 0;
  });
  Child pinger([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer in = c.consumer("pong", "default", wait);
    shmq::Producer out = c.producer("ping", wait);
    shmq::Message held;  // the last pong, acked after the next ping is sent
    for (std::uint64_t i = 0; i < kRoundTrips; ++i) {
      const auto ui = static_cast<unsigned long long>(i);
      if (const Status s = out.send(seq_payload(i), kOpTimeout); s != Status::Ok)
        return fail(64, "pinger: send of ping %llu: %s", ui, shmq::to_string(s));
      if (held) {
        if (const Status s = held.ack(); s != Status::Ok) return fail(65, "pinger: ack: %s", shmq::to_string(s));
      }
      held = in.receive(kOpTimeout);
      if (!held) return fail(66, "pinger: receive of pong %llu: %s", ui, shmq::to_string(held.status()));
      std::uint64_t seq = 0;
      if (!decode_seq(held.data(), seq) || seq != i) return fail(67, "pinger: pong %llu carries a bad payload", ui);
    }
    if (const Status s = held.ack(); s != Status::Ok) return fail(65, "pinger: last ack: %s", shmq::to_string(s));
    return 0;
  });

  EXPECT_TRUE(exited_cleanly(pinger.wait(kChildDeadline))) << "pinger, " << strategy_name(GetParam().value);
  EXPECT_TRUE(exited_cleanly(ponger.wait(kChildDeadline))) << "ponger, " << strategy_name(GetParam().value);
}

INSTANTIATE_TEST_SUITE_P(AllWaitStrategies, MultiProcessPingPongTest,
                         ::testing::Values(Strategy{shmq::WaitStrategy::BusySpin}, Strategy{shmq::WaitStrategy::SpinYield},
                                           Strategy{shmq::WaitStrategy::Park}, Strategy{shmq::WaitStrategy::Adaptive}),
                         [](const ::testing::TestParamInfo<Strategy>& param) {
                           return std::string(strategy_name(param.param.value));
                         });

}  // namespace
