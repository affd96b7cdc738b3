// Promises of the public API (README "API and its contracts") that only a
// whole Client shows: extend_lease keeps a message from shmqd's expiry, an
// at-most-once nack or drop releases the message for good, and one Client may
// be used from several threads at once (run under TSan too).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::ConfigFile;
using shmq::test::now_ms;
using shmq::test::queue_toml;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;

// A lease of 300 ms extended every 100 ms is not taken back by shmqd for
// three lease timeouts; once extensions stop, it is.
TEST(ApiPromisesTest, MultiProcessExtendedLeaseOutlivesItsTimeout) {
  TestNamespace ns;
  ConfigFile config(queue_toml("jobs", 4, 300));
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  shmq::Client c({.ns = ns.name()});
  ASSERT_EQ(c.producer("jobs").send("m"), Status::Ok);
  shmq::Consumer holder = c.consumer("jobs");
  shmq::Consumer other = c.consumer("jobs");
  shmq::Message m = holder.receive(20s);
  ASSERT_TRUE(m);
  const std::uint64_t until = now_ms() + 900;
  while (now_ms() < until) {
    ASSERT_EQ(m.extend_lease(300ms), Status::Ok);
    // Doubles as the pause between extensions: nothing must arrive.
    const shmq::Message stolen = other.receive(100ms);
    ASSERT_EQ(stolen.status(), Status::Timeout) << "shmqd took an extended lease back";
  }
  m.keep_lease();  // stop extending: the lease runs out and shmqd takes it back
  const shmq::Message again = other.receive(20s);
  ASSERT_TRUE(again) << daemon.err();
  EXPECT_EQ(again.delivery_count(), 2U);
}

shmq::QueueConfig at_most_once_queue(std::uint32_t capacity) {
  return {.capacity = capacity,
          .slot_size = 16,
          .groups = {shmq::GroupConfig{.name = "default", .mode = shmq::DeliveryMode::AtMostOnce}}};
}

// At-most-once: nack() and dropping a Message both release it; it is never
// delivered again, and its slot is free for the producer.
TEST(ApiPromisesTest, AtMostOnceNackAndDropRelease) {
  TestNamespace ns;
  shmq::Client c({.ns = ns.name()});
  c.create_queue("q", at_most_once_queue(2));
  shmq::Producer p = c.producer("q");
  shmq::Consumer consumer = c.consumer("q");
  ASSERT_EQ(p.send("a", 0ms), Status::Ok);
  ASSERT_EQ(p.send("b", 0ms), Status::Ok);
  ASSERT_EQ(p.send("c", 0ms), Status::QueueFull);
  {
    shmq::Message a = consumer.try_receive();
    ASSERT_TRUE(a);
    EXPECT_EQ(a.nack(), Status::Ok);
    const shmq::Message b = consumer.try_receive();
    ASSERT_TRUE(b);
    EXPECT_EQ(b.text(), "b");
  }  // b dropped without ack
  EXPECT_EQ(consumer.try_receive().status(), Status::Empty);
  // Both slots are free again.
  EXPECT_EQ(p.send("c", 0ms), Status::Ok);
  EXPECT_EQ(p.send("d", 0ms), Status::Ok);
  for (const char* text : {"c", "d"}) {
    shmq::Message m = consumer.try_receive();
    ASSERT_TRUE(m);
    EXPECT_EQ(m.text(), text);
    EXPECT_EQ(m.delivery_count(), 1U);
    EXPECT_EQ(m.ack(), Status::Ok);
  }
}

// One Client, many threads: each makes its own Producer or Consumer from it
// (the documented use), while others do the same; every message arrives once.
TEST(ApiPromisesTest, OneClientServesManyThreads) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  constexpr int kPerProducer = 2000;
  TestNamespace ns;
  shmq::Client c({.ns = ns.name()});
  c.create_queue("q", {.capacity = 64, .slot_size = 16});
  std::atomic<int> received{0};
  std::vector<std::set<std::string>> seen(kConsumers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kConsumers; ++i)
    threads.emplace_back([&, i] {
      shmq::Consumer consumer = c.consumer("q");
      const std::uint64_t deadline = now_ms() + 60'000;
      while (received.load() < kProducers * kPerProducer && now_ms() < deadline) {
        shmq::Message m = consumer.receive(10ms);
        if (!m) continue;
        seen[static_cast<std::size_t>(i)].insert(std::string(m.text()));
        if (m.ack() == Status::Ok) received.fetch_add(1);
      }
    });
  for (int i = 0; i < kProducers; ++i)
    threads.emplace_back([&, i] {
      shmq::Producer p = c.producer("q");
      for (int n = 0; n < kPerProducer; ++n)
        EXPECT_EQ(p.send(std::to_string(i) + "." + std::to_string(n), 20s), Status::Ok);
      (void)c.list_queues();  // management calls from threads too
    });
  for (std::thread& t : threads) t.join();
  std::set<std::string> all;
  std::size_t total = 0;
  for (const auto& s : seen) {
    total += s.size();
    all.insert(s.begin(), s.end());
  }
  EXPECT_EQ(received.load(), kProducers * kPerProducer);
  EXPECT_EQ(total, all.size()) << "a message went to two consumers";
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kProducers * kPerProducer));
}

}  // namespace
