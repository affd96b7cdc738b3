// Multi-process tests of the public API (DESIGN.md §1): producers and consumers
// in separate processes exchanging messages through one queue segment.
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
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "children.hpp"
#include "os/queue_segment.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::ChildExit;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::fork_child;
using shmq::test::Pipe;
using shmq::test::SharedArray;
using shmq::test::read_exact;
using shmq::test::TestNamespace;
using shmq::test::Victim;
using shmq::test::wait_child;

// How long a child may run before the parent kills it: generous, so a slow
// sanitizer build on a loaded machine does not fail, yet nothing hangs for ever.
constexpr auto kChildDeadline = 60s;
// A single receive or blocking send that should succeed at once, bounded.
constexpr auto kOpTimeout = 10s;
// How long to wait to conclude that nothing more is coming.
constexpr auto kQuiet = 50ms;

// ---- helpers ----------------------------------------------------------------

// Creates a queue from a Client that is gone when this returns (see the top).
void create_queue(const TestNamespace& ns, const std::string& name, const shmq::QueueConfig& config) {
  shmq::Client c({.ns = ns.name()});
  c.create_queue(name, config);
}

shmq::QueueConfig queue_config(std::uint32_t capacity, std::uint32_t slot_size,
                               std::vector<std::string> groups = {"default"}) {
  shmq::QueueConfig c;
  c.capacity = capacity;
  c.slot_size = slot_size;
  c.groups.clear();
  for (std::string& g : groups) c.groups.push_back(shmq::GroupConfig{.name = std::move(g)});
  return c;
}

static_assert(std::atomic<std::uint8_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Payload of the ordered tests: a sequence number and its complement, so a
// torn or stale read shows.
constexpr std::size_t kSeqPayload = 16;

void encode_seq(std::byte* out, std::uint64_t seq) {
  const std::uint64_t check = ~seq;
  std::memcpy(out, &seq, 8);
  std::memcpy(out + 8, &check, 8);
}

std::array<std::byte, kSeqPayload> seq_payload(std::uint64_t seq) {
  std::array<std::byte, kSeqPayload> b{};
  encode_seq(b.data(), seq);
  return b;
}

// The sequence number of a message, or false if it is not a valid seq payload.
bool decode_seq(std::span<const std::byte> data, std::uint64_t& seq) {
  if (data.size() != kSeqPayload) return false;
  std::uint64_t check = 0;
  std::memcpy(&seq, data.data(), 8);
  std::memcpy(&check, data.data() + 8, 8);
  return check == ~seq;
}

// Sends seq 0..n-1 (blocking, each bounded). 0 or a failure code.
int send_sequence(const TestNamespace& ns, const std::string& queue, std::uint64_t n,
                  shmq::WaitOptions wait = {}) {
  shmq::Client c({.ns = ns.name()});
  shmq::Producer p = c.producer(queue, wait);
  for (std::uint64_t i = 0; i < n; ++i) {
    const Status s = p.send(seq_payload(i), kOpTimeout);
    if (s != Status::Ok) return fail(20, "send of seq %llu: %s", static_cast<unsigned long long>(i), shmq::to_string(s));
  }
  return 0;
}

// Receives and acks exactly seq 0..n-1 in order from `group`, each once, each
// a first delivery, ids strictly increasing (written to `ids` if given); then
// nothing more. 0 or a failure code.
int receive_sequence(const TestNamespace& ns, const std::string& queue, const std::string& group, std::uint64_t n,
                     const SharedArray<std::atomic<std::uint64_t>>* ids = nullptr) {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer(queue, group);
  std::uint64_t last_id = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    const auto ui = static_cast<unsigned long long>(i);
    if (!m) return fail(30, "group %s: receive #%llu: %s", group.c_str(), ui, shmq::to_string(m.status()));
    std::uint64_t seq = 0;
    if (!decode_seq(m.data(), seq)) return fail(31, "group %s: message #%llu has a bad payload", group.c_str(), ui);
    if (seq != i)
      return fail(32, "group %s: message #%llu carries seq %llu (lost, duplicated or out of order)", group.c_str(), ui,
                  static_cast<unsigned long long>(seq));
    if (i > 0 && m.id() <= last_id)
      return fail(33, "group %s: id %llu after %llu is not increasing", group.c_str(),
                  static_cast<unsigned long long>(m.id()), static_cast<unsigned long long>(last_id));
    if (m.delivery_count() != 1)
      return fail(34, "group %s: seq %llu has delivery count %u", group.c_str(), ui, m.delivery_count());
    last_id = m.id();
    if (ids != nullptr) (*ids)[i].store(m.id(), std::memory_order_relaxed);
    if (const Status s = m.ack(); s != Status::Ok) return fail(35, "group %s: ack: %s", group.c_str(), shmq::to_string(s));
  }
  shmq::Message extra = consumer.receive(kQuiet);
  if (extra.status() != Status::Timeout)
    return fail(36, "group %s: after the last message, receive gave %s, not Timeout", group.c_str(),
                shmq::to_string(extra.status()));
  return 0;
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

// ---- ordering and fan-out ---------------------------------------------------------

TEST(MultiProcessTest, FifoForOneProducerOneConsumer) {
  TestNamespace ns;
  constexpr std::uint64_t kMessages = 100'000;
  create_queue(ns, "fifo", queue_config(1024, 64));

  Child consumer([&] { return receive_sequence(ns, "fifo", "default", kMessages); });
  Child producer([&] { return send_sequence(ns, "fifo", kMessages); });

  EXPECT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

TEST(MultiProcessTest, FanOutDeliversEveryMessageToEachGroupExactlyOnce) {
  TestNamespace ns;
  constexpr std::uint64_t kMessages = 50'000;
  create_queue(ns, "fan", queue_config(256, 64, {"a", "b"}));
  SharedArray<std::atomic<std::uint64_t>> ids_a(kMessages);
  SharedArray<std::atomic<std::uint64_t>> ids_b(kMessages);

  Child a([&] { return receive_sequence(ns, "fan", "a", kMessages, &ids_a); });
  Child b([&] { return receive_sequence(ns, "fan", "b", kMessages, &ids_b); });
  Child producer([&] { return send_sequence(ns, "fan", kMessages); });

  EXPECT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  ASSERT_TRUE(exited_cleanly(a.wait(kChildDeadline))) << "consumer of group a";
  ASSERT_TRUE(exited_cleanly(b.wait(kChildDeadline))) << "consumer of group b";

  // One message, one id: both groups saw the same id for each message.
  std::uint64_t mismatches = 0;
  for (std::uint64_t i = 0; i < kMessages; ++i)
    if (ids_a[i].load(std::memory_order_relaxed) != ids_b[i].load(std::memory_order_relaxed)) ++mismatches;
  EXPECT_EQ(mismatches, 0U) << "messages whose id differs between the two groups";
}

TEST(MultiProcessTest, CompetingConsumersInOneGroupGetEachMessageExactlyOnce) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 1024;
  constexpr std::uint64_t kMessages = 60'000;
  constexpr int kConsumers = 3;
  create_queue(ns, "work", queue_config(kCapacity, 64));

  // seen[id - capacity]: a single producer's ids are consecutive from capacity.
  SharedArray<std::atomic<std::uint8_t>> seen(kMessages);
  SharedArray<std::atomic<std::uint64_t>> done(1);  // acked messages, all consumers
  SharedArray<std::atomic<std::uint64_t>> per_consumer(kConsumers);

  auto consume = [&](int me) {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer consumer = c.consumer("work");
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    std::uint64_t last_id = 0;
    while (done[0].load(std::memory_order_acquire) < kMessages) {
      if (std::chrono::steady_clock::now() > deadline)
        return fail(40, "consumer %d: the group got only %llu of %llu messages in time", me,
                    static_cast<unsigned long long>(done[0].load()), static_cast<unsigned long long>(kMessages));
      shmq::Message m = consumer.receive(20ms);
      if (m.status() == Status::Timeout) continue;
      if (!m) return fail(41, "consumer %d: receive: %s", me, shmq::to_string(m.status()));
      const std::uint64_t id = m.id();
      if (id < kCapacity || id - kCapacity >= kMessages)
        return fail(42, "consumer %d: id %llu is outside [capacity, capacity + messages)", me,
                    static_cast<unsigned long long>(id));
      std::uint64_t seq = 0;
      if (!decode_seq(m.data(), seq) || seq != id - kCapacity)
        return fail(43, "consumer %d: id %llu carries a bad payload", me, static_cast<unsigned long long>(id));
      // One consumer takes positions in increasing order (FIFO first deliveries).
      if (last_id != 0 && id <= last_id)
        return fail(44, "consumer %d: id %llu after %llu", me, static_cast<unsigned long long>(id),
                    static_cast<unsigned long long>(last_id));
      last_id = id;
      seen[id - kCapacity].fetch_add(1, std::memory_order_relaxed);
      if (const Status s = m.ack(); s != Status::Ok) return fail(45, "consumer %d: ack: %s", me, shmq::to_string(s));
      per_consumer[static_cast<std::size_t>(me)].fetch_add(1, std::memory_order_relaxed);
      done[0].fetch_add(1, std::memory_order_acq_rel);
    }
    return 0;
  };

  std::vector<Child> consumers;
  for (int i = 0; i < kConsumers; ++i) consumers.emplace_back([&, i] { return consume(i); });
  Child producer([&] { return send_sequence(ns, "work", kMessages); });

  EXPECT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  for (int i = 0; i < kConsumers; ++i)
    EXPECT_TRUE(exited_cleanly(consumers[static_cast<std::size_t>(i)].wait(kChildDeadline))) << "consumer " << i;

  std::uint64_t missing = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t first_bad = kMessages;
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    const std::uint8_t n = seen[i].load(std::memory_order_relaxed);
    if (n == 0) ++missing;
    if (n > 1) ++duplicated;
    if (n != 1 && first_bad == kMessages) first_bad = i;
  }
  EXPECT_EQ(missing, 0U) << "first bad seq " << first_bad;
  EXPECT_EQ(duplicated, 0U) << "first bad seq " << first_bad;
  std::uint64_t total = 0;
  for (int i = 0; i < kConsumers; ++i) total += per_consumer[static_cast<std::size_t>(i)].load();
  EXPECT_EQ(total, kMessages);
}

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

// ---- oversized messages and dropped loans ----------------------------------------------

TEST(MultiProcessTest, MessageTooLargeWritesNothing) {
  TestNamespace ns;
  constexpr std::uint32_t kSlot = 64;
  create_queue(ns, "small", queue_config(4, kSlot));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("small");
    if (p.max_message_size() != kSlot) return fail(70, "max_message_size %zu, not %u", p.max_message_size(), kSlot);
    const std::vector<std::byte> too_big(kSlot + 1, std::byte{0x5A});
    if (const Status s = p.send(too_big, kOpTimeout); s != Status::MessageTooLarge)
      return fail(71, "send of slot_size + 1 bytes: %s", shmq::to_string(s));
    if (const Status s = p.try_send(too_big); s != Status::MessageTooLarge)
      return fail(72, "try_send of slot_size + 1 bytes: %s", shmq::to_string(s));
    if (shmq::Loan l = p.loan(kSlot + 1, kOpTimeout); l.status() != Status::MessageTooLarge)
      return fail(73, "loan of slot_size + 1 bytes: %s", shmq::to_string(l.status()));
    // A commit longer than the slot writes nothing and keeps the loan.
    shmq::Loan l = p.loan(8, kOpTimeout);
    if (!l) return fail(74, "loan(8): %s", shmq::to_string(l.status()));
    std::memset(l.data().data(), 0x5A, l.data().size());
    if (l.capacity() != kSlot) return fail(75, "loan capacity %zu, not %u", l.capacity(), kSlot);
    if (const Status s = l.commit(kSlot + 1); s != Status::MessageTooLarge)
      return fail(76, "commit of slot_size + 1 bytes: %s", shmq::to_string(s));
    if (l.status() != Status::Ok) return fail(77, "the loan was lost by a MessageTooLarge commit");
    l.abandon();
    // Exactly slot_size bytes fit: the one message the consumer must see.
    std::vector<std::byte> fits(kSlot);
    for (std::size_t i = 0; i < fits.size(); ++i) fits[i] = static_cast<std::byte>(i);
    if (const Status s = p.send(fits, kOpTimeout); s != Status::Ok)
      return fail(78, "send of exactly slot_size bytes: %s", shmq::to_string(s));
    return 0;
  });
  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("small");
    shmq::Message m = cons.receive(kOpTimeout);
    if (!m) return fail(80, "receive: %s", shmq::to_string(m.status()));
    if (m.data().size() != kSlot) return fail(81, "got a message of %zu bytes, expected only the %u-byte one", m.data().size(), kSlot);
    for (std::size_t i = 0; i < kSlot; ++i)
      if (m.data()[i] != static_cast<std::byte>(i)) return fail(82, "byte %zu of the message is wrong", i);
    if (const Status s = m.ack(); s != Status::Ok) return fail(83, "ack: %s", shmq::to_string(s));
    shmq::Message extra = cons.receive(kQuiet);
    if (extra.status() != Status::Timeout)
      return fail(84, "a second message arrived (%s, %zu bytes)", shmq::to_string(extra.status()), extra.data().size());
    return 0;
  });

  EXPECT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

// Fills the queue with try_send until it refuses; returns how many it took, or
// -1 if it refused with something other than QueueFull.
long fill(shmq::Producer& p, std::uint64_t first_seq, std::uint32_t limit) {
  long n = 0;
  for (;;) {
    const Status s = p.try_send(seq_payload(first_seq + static_cast<std::uint64_t>(n)));
    if (s == Status::QueueFull) return n;
    if (s != Status::Ok) return -1;
    if (++n > static_cast<long>(limit)) return n;
  }
}

// Receives seq first..first+n-1 in order and acks them; then nothing more. 0 or a code.
int drain(shmq::Consumer& consumer, std::uint64_t first, std::uint64_t n) {
  for (std::uint64_t i = first; i < first + n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    const auto ui = static_cast<unsigned long long>(i);
    if (!m) return fail(90, "receive of seq %llu: %s", ui, shmq::to_string(m.status()));
    std::uint64_t seq = 0;
    if (!decode_seq(m.data(), seq))
      return fail(91, "expected seq %llu, got a %zu-byte message that is not one (a dropped loan?)", ui, m.data().size());
    if (seq != i) return fail(92, "expected seq %llu, got %llu", ui, static_cast<unsigned long long>(seq));
    if (const Status s = m.ack(); s != Status::Ok) return fail(93, "ack: %s", shmq::to_string(s));
  }
  shmq::Message extra = consumer.receive(kQuiet);
  if (extra.status() != Status::Timeout)
    return fail(94, "after seq %llu, receive gave %s (%zu bytes), not Timeout",
                static_cast<unsigned long long>(first + n - 1), shmq::to_string(extra.status()), extra.data().size());
  return 0;
}

// The bytes a dropped loan writes: never a valid seq payload (wrong length).
void scribble(shmq::Loan& l) { std::memset(l.data().data(), 0xEE, l.data().size()); }

TEST(MultiProcessTest, DroppedLoanIsNeverDeliveredAndItsSlotIsReused) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 4;
  constexpr std::uint64_t kRounds = 3 * kCapacity;  // every slot sees a dropped loan more than once
  create_queue(ns, "loans", queue_config(kCapacity, 64));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("loans");
    // Phase 1: each round drops a loan (by destructor, or explicitly), then sends one message.
    for (std::uint64_t i = 0; i < kRounds; ++i) {
      {
        shmq::Loan l = p.loan(kSeqPayload + 8, kOpTimeout);
        if (!l) return fail(100, "loan in round %llu: %s", static_cast<unsigned long long>(i), shmq::to_string(l.status()));
        scribble(l);
        if (i % 2 == 1) l.abandon();
      }
      if (const Status s = p.send(seq_payload(i), kOpTimeout); s != Status::Ok)
        return fail(101, "send of seq %llu: %s", static_cast<unsigned long long>(i), shmq::to_string(s));
    }
    return 0;
  });
  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("loans");
    return drain(cons, 0, kRounds);
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  ASSERT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";

  // Phase 2: every slot had a dropped loan; the queue takes `capacity` messages again.
  Child refill([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("loans");
    const long n = fill(p, kRounds, kCapacity);
    if (n != static_cast<long>(kCapacity))
      return fail(102, "after the dropped loans the queue took %ld messages, not its capacity %u", n, kCapacity);
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(refill.wait(kChildDeadline))) << "refilling producer";
  Child reader([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("loans");
    return drain(cons, kRounds, kCapacity);
  });
  EXPECT_TRUE(exited_cleanly(reader.wait(kChildDeadline))) << "consumer of the refill";
}

// "A loan dropped without commit gives the slot back" (DESIGN.md §1): right
// away, not only once a consumer has passed over the position. With no
// consumer running, an empty queue whose producer dropped a loan still takes
// `capacity` messages.
TEST(MultiProcessTest, DroppedLoanGivesItsSlotBackWithoutAConsumer) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 4;
  create_queue(ns, "loans", queue_config(kCapacity, 64));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("loans");
    {
      shmq::Loan l = p.try_loan(kSeqPayload + 8);
      if (!l) return fail(110, "try_loan on an empty queue: %s", shmq::to_string(l.status()));
      scribble(l);
    }  // dropped without commit
    const long n = fill(p, 0, kCapacity);
    if (n != static_cast<long>(kCapacity))
      return fail(111, "after one dropped loan the empty queue took %ld messages, not its capacity %u", n, kCapacity);
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";

  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("loans");
    return drain(cons, 0, kCapacity);
  });
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

// A producer may drop loans faster than consumers look: here it drops one in
// every slot twice (so each slot's abandoned position is lapped) before any
// consumer runs, then sends one message. The group must still get it: dropped
// loans are invisible to consumers, they must not wedge the group's cursor.
TEST(MultiProcessTest, ConsumerGetsMessageSentAfterProducerDroppedLoansAroundTheRing) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 2;
  create_queue(ns, "lapped", queue_config(kCapacity, 64));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("lapped");
    for (std::uint32_t i = 0; i < 2 * kCapacity; ++i) {
      shmq::Loan l = p.try_loan(kSeqPayload + 8);
      if (!l) return fail(120, "try_loan #%u on an empty queue: %s", i, shmq::to_string(l.status()));
      scribble(l);
    }  // each dropped without commit
    if (const Status s = p.try_send(seq_payload(0)); s != Status::Ok)
      return fail(121, "try_send after the dropped loans: %s", shmq::to_string(s));
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";

  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("lapped");
    shmq::Message m = cons.receive(2s);
    if (!m) return fail(122, "receive of the one message sent: %s", shmq::to_string(m.status()));
    std::uint64_t seq = 99;
    if (!decode_seq(m.data(), seq) || seq != 0) return fail(123, "received a %zu-byte message that is not seq 0", m.data().size());
    if (const Status s = m.ack(); s != Status::Ok) return fail(124, "ack: %s", shmq::to_string(s));
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

}  // namespace
