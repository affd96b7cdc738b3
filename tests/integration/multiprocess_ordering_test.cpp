// Multi-process tests of the public API (DESIGN.md §1), ordering and fan-out:
// one producer and one consumer see FIFO order; every group of a fan-out gets
// every message once, under one id; competing consumers of one group share
// the messages, each exactly once.
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
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "children.hpp"
#include "multiprocess_support.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::SharedArray;
using shmq::test::TestNamespace;
using shmq::test::multiprocess::create_queue;
using shmq::test::multiprocess::decode_seq;
using shmq::test::multiprocess::kChildDeadline;
using shmq::test::multiprocess::kOpTimeout;
using shmq::test::multiprocess::queue_config;
using shmq::test::multiprocess::seq_payload;
using shmq::test::multiprocess::kQuiet;

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

}  // namespace
