// A deleted queue is never a silent split (DESIGN.md section 6): the
// processes that still map it get QueueDeleted from send and receive, parked
// ones are woken to get it, and a queue created again under the name is
// another queue, which the old producers and consumers never reach.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "children.hpp"
#include "os/queue_segment.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using shmq::Status;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::expect_woken;
using shmq::test::fail;
using shmq::test::kWakeChildDeadline;
using shmq::test::kWakeLimit;
using shmq::test::Parked;
using shmq::test::send_now;
using shmq::test::TestNamespace;

constexpr const char* kQueue = "q";
constexpr std::chrono::nanoseconds kNow{0};

shmq::QueueConfig small_queue() {
  shmq::QueueConfig config;
  config.capacity = 4;
  config.slot_size = 64;
  return config;
}

class QueueDeletedTest : public ::testing::Test {
 protected:
  void create() const {
    shmq::Client c({.ns = ns_.name()});
    c.create_queue(kQueue, small_queue());
  }
  // What shmqd's delete (and shmq-cli delete without shmqd) runs.
  void remove() const { ASSERT_TRUE(shmq::detail::remove_queue_segment(ns_.name(), kQueue)); }

  TestNamespace ns_;
};

TEST_F(QueueDeletedTest, ProducersAndConsumersOfTheOldQueueGetQueueDeletedAndNeverMeetTheNewOne) {
  create();
  shmq::Client c({.ns = ns_.name()});
  shmq::Producer old_producer = c.producer(kQueue);
  shmq::Consumer old_consumer = c.consumer(kQueue);
  ASSERT_EQ(old_producer.send("before", kNow), Status::Ok);
  remove();
  EXPECT_EQ(old_producer.send("after", kNow), Status::QueueDeleted);
  EXPECT_EQ(old_producer.try_loan(8).status(), Status::QueueDeleted);
  // Its messages went with it.
  EXPECT_EQ(old_consumer.try_receive().status(), Status::QueueDeleted);
  EXPECT_EQ(old_consumer.receive(kWakeLimit).status(), Status::QueueDeleted);  // at once, not after the timeout
  EXPECT_THROW((void)c.producer(kQueue), shmq::Error);

  c.create_queue(kQueue, small_queue());
  shmq::Producer new_producer = c.producer(kQueue);
  shmq::Consumer new_consumer = c.consumer(kQueue);
  ASSERT_EQ(new_producer.send("new", kNow), Status::Ok);
  EXPECT_EQ(old_producer.send("old", kNow), Status::QueueDeleted);
  EXPECT_EQ(old_consumer.try_receive().status(), Status::QueueDeleted);
  shmq::Message m = new_consumer.try_receive();
  ASSERT_TRUE(m) << shmq::to_string(m.status());
  EXPECT_EQ(m.text(), "new");
  EXPECT_EQ(m.ack(), Status::Ok);
  EXPECT_EQ(new_consumer.try_receive().status(), Status::Empty);
}

TEST_F(QueueDeletedTest, AParkedConsumerIsWokenToLearnItsQueueWasDeleted) {
  create();
  expect_woken(
      ns_, kQueue, Parked::Consumers,
      [&] {
        shmq::Client c({.ns = ns_.name()});
        shmq::Consumer consumer = c.consumer(kQueue, "default", {.strategy = shmq::WaitStrategy::Park});
        const Status s = consumer.receive(kWakeLimit).status();
        if (s != Status::QueueDeleted) return fail(10, "receive: %s, expected QueueDeleted", shmq::to_string(s));
        return 0;
      },
      [&] { remove(); });
}

TEST_F(QueueDeletedTest, AProducerParkedOnAFullQueueIsWokenToLearnItWasDeleted) {
  create();
  Child filler([&] { return send_now(ns_, kQueue, 4); });
  ASSERT_TRUE(exited_cleanly(filler.wait(kWakeChildDeadline)));
  expect_woken(
      ns_, kQueue, Parked::Producers,
      [&] {
        shmq::Client c({.ns = ns_.name()});
        shmq::Producer p = c.producer(kQueue, {.strategy = shmq::WaitStrategy::Park});
        const Status s = p.send("waits", kWakeLimit);
        if (s != Status::QueueDeleted) return fail(20, "send: %s, expected QueueDeleted", shmq::to_string(s));
        return 0;
      },
      [&] { remove(); });
}

}  // namespace
