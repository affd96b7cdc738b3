// Lease expiry as users see it (DESIGN.md §1 "lease"): shmqd watches a queue
// from its creation, so a lease runs out on time from the first message; a
// late ack succeeds exactly until shmqd takes the lease back; with no shmqd,
// nobody takes leases back.
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "os/queue_segment.hpp"
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

constexpr auto kOpTimeout = 20s;  // a receive that must succeed

bool watched_by_someone(const shmq::detail::QueueView& q) {
  for (std::uint32_t i = 0; i < shmq::detail::kMaxSessions; ++i)
    if (q.attachments[i].owner.load() != shmq::detail::kNoOwner) return true;
  return false;
}

class ExpiryTest : public ::testing::Test {
 protected:
  TestNamespace ns_;
};

// shmqd used to find a queue a client created directly only at its next look
// at /dev/shm, once a second: a lease on a new queue then ran out up to a
// second late. Now inotify tells it at once. The bound is far above one tick
// (even under a sanitizer on a loaded machine) and far below the second the
// periodic look took: six queues all within it by chance would be 1 in 64.
TEST_F(ExpiryTest, MultiProcessQueueCreatedDirectlyIsWatchedAtOnce) {
  constexpr int kQueues = 6;
  constexpr std::uint64_t kLimitMs = 500;
  Shmqd daemon(ns_);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  for (int i = 0; i < kQueues; ++i) {
    const std::string name = "q" + std::to_string(i);
    const std::uint64_t created = now_ms();
    const shmq::detail::MappedQueue q =
        shmq::detail::create_queue_segment(ns_.name(), name, {.capacity = 4, .slot_size = 16});
    while (!watched_by_someone(q.view) && now_ms() - created < 10 * kLimitMs)
      std::this_thread::sleep_for(1ms);  // a poll interval, not a synchronisation
    EXPECT_LT(now_ms() - created, kLimitMs) << name << " was watched late\n" << daemon.err();
  }
}

// A consumer holds a message past its lease: until shmqd takes it back its
// ack would succeed; once another consumer has it, the late ack is LeaseLost.
TEST_F(ExpiryTest, MultiProcessLateAckFailsOnceShmqdTookTheLeaseBack) {
  ConfigFile config(queue_toml("jobs", 4, 300));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  shmq::Client c({.ns = ns_.name()});
  ASSERT_EQ(c.producer("jobs").send("m"), Status::Ok);
  shmq::Consumer first = c.consumer("jobs");
  shmq::Message late = first.receive(kOpTimeout);
  ASSERT_TRUE(late);
  const std::uint64_t leased = now_ms();
  shmq::Consumer second = c.consumer("jobs");
  shmq::Message again = second.receive(kOpTimeout);
  ASSERT_TRUE(again) << daemon.err();
  EXPECT_GE(now_ms() - leased, 300U);
  EXPECT_EQ(again.id(), late.id());
  EXPECT_EQ(again.delivery_count(), 2U);
  EXPECT_EQ(late.ack(), Status::LeaseLost);
  EXPECT_EQ(again.ack(), Status::Ok);
}

// No shmqd: nothing takes a lease back, so an ack after the deadline still
// succeeds. extend_lease refuses a lease whose deadline has passed.
TEST(LateAckTest, WithNoShmqdAnAckAfterTheDeadlineSucceeds) {
  TestNamespace ns;
  shmq::Client c({.ns = ns.name()});
  c.create_queue("q", {.capacity = 4, .slot_size = 16, .groups = {shmq::GroupConfig{.lease_timeout = 50ms}}});
  shmq::Producer p = c.producer("q");
  ASSERT_EQ(p.send("a"), Status::Ok);
  ASSERT_EQ(p.send("b"), Status::Ok);
  shmq::Consumer consumer = c.consumer("q");
  shmq::Message a = consumer.try_receive();
  shmq::Message b = consumer.try_receive();
  ASSERT_TRUE(a && b);
  // Time passing is the subject here: wait past both deadlines.
  const auto past = std::chrono::steady_clock::now() + 150ms;
  while (std::chrono::steady_clock::now() < past) std::this_thread::sleep_until(past);
  EXPECT_EQ(b.extend_lease(1s), Status::LeaseLost);
  EXPECT_EQ(a.ack(), Status::Ok);
  EXPECT_EQ(b.ack(), Status::Ok);
  EXPECT_EQ(consumer.try_receive().status(), Status::Empty);
}

}  // namespace
