// shmqd's control socket (daemon/src/control.cpp, lib/src/control_client.cpp):
// queues created, deleted and purged through a real daemon. Permissions:
// shmqd_control_permissions_test.cpp; malformed requests, limits and the
// fall-back without a daemon: shmqd_control_protocol_test.cpp.
//
// Every test starts shmqd (a fork), so every name contains "MultiProcess"
// (they run under ThreadSanitizer too), and a test makes its shmq::Client only
// after its last fork (see multiprocess_test.cpp).
#include <chrono>
#include <string>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "observed_queue.hpp"
#include "os/queue_segment.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_control.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::errc;
using shmq::Status;
using shmq::admin::ControlOp;
using shmq::test::kNoParkSlice;
using shmq::test::kParkLimit;
using shmq::test::kWakeLimit;
using shmq::test::ObservedQueue;
using shmq::test::ParkSliceScope;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::wait_parked;
using shmq::test::control::exists;
using shmq::test::control::outcome;
using shmq::test::control::request;
using shmq::test::control::small_queue;
using ::testing::HasSubstr;

TEST(ShmqdControlTest, MultiProcessCreateAndDeleteGoThroughTheDaemon) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  struct stat sock {};
  ASSERT_EQ(::stat(shmq::admin::control_socket_path(ns.name()).c_str(), &sock), 0);
  EXPECT_TRUE(S_ISSOCK(sock.st_mode));
  EXPECT_EQ(sock.st_mode & 0777U, 0666U);

  shmq::Client client({.ns = ns.name()});
  shmq::QueueConfig config = small_queue(0640);
  config.groups = {{"billing", shmq::DeliveryMode::AtLeastOnce, 3, 5000ms},
                   {"audit", shmq::DeliveryMode::AtMostOnce, 5, 30'000ms}};
  client.create_queue("jobs", config);
  EXPECT_TRUE(daemon.wait_for("uid 0: create jobs: ok")) << daemon.err();
  struct stat st {};
  ASSERT_EQ(::stat(ns.queue_path("jobs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0640U);  // its owner: MultiProcessQueueIsOwnedByTheRequestersUidAndGid

  // Visible and usable like any queue.
  EXPECT_THAT(client.list_queues(), ::testing::Contains("jobs"));
  shmq::Producer producer = client.producer("jobs");
  shmq::Consumer billing = client.consumer("jobs", "billing");
  ASSERT_EQ(producer.send("hello", 10s), Status::Ok);
  shmq::Message m = billing.receive(10s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.text(), "hello");
  EXPECT_EQ(m.ack(), Status::Ok);

  // An existing queue, a bad setting, a bad name: the daemon's errors.
  try {
    client.create_queue("jobs", small_queue());
    ADD_FAILURE() << "created jobs twice";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::already_exists) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("already exists"));
  }
  shmq::QueueConfig bad = small_queue();
  bad.capacity = 1000;
  try {
    client.create_queue("odd", bad);
    ADD_FAILURE() << "created a queue of capacity 1000";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_THAT(e.what(), HasSubstr("capacity 1000 is invalid"));
  }
  bad = small_queue();
  bad.groups[0].max_deliveries = 0;
  try {
    client.create_queue("odd", bad);
    ADD_FAILURE() << "created a queue with max_deliveries 0";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_THAT(e.what(), HasSubstr("max deliveries 0 of group 'default'"));
  }
  try {
    client.create_queue("no/slash", small_queue());
    ADD_FAILURE() << "created a queue with a slash in its name";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::invalid_argument);
    EXPECT_THAT(e.what(), HasSubstr("queue name 'no/slash' is invalid"));
  }
  EXPECT_FALSE(exists(ns.queue_path("odd")));
  EXPECT_TRUE(daemon.wait_for("create odd: invalid_argument: capacity 1000 is invalid")) << daemon.err();

  EXPECT_TRUE(client.delete_queue("jobs"));
  EXPECT_FALSE(exists(ns.queue_path("jobs")));
  EXPECT_FALSE(client.delete_queue("jobs"));  // absent: false, as without a daemon
  EXPECT_TRUE(daemon.wait_for("delete jobs: not_found")) << daemon.err();
  // The attached producer and consumer are told, at once.
  EXPECT_EQ(producer.send("after delete", 10s), Status::QueueDeleted);
  EXPECT_EQ(billing.receive(10s).status(), Status::QueueDeleted);
  EXPECT_TRUE(daemon.wait_for("queue jobs was deleted: unmapped; processes still using it get QueueDeleted"))
      << daemon.err();
}

// shmqd maps a queue it creates, and watches it, before it answers, and
// unmaps one it deletes (detaching from it) before it answers: neither waits
// for its next look at /dev/shm.
TEST(ShmqdControlTest, MultiProcessQueueIsWatchedOnceCreatedAndLetGoOnceDeleted) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_EQ(outcome(ns, request(ControlOp::Create, "watched")), "ok");
  const ObservedQueue q(ns, "watched");
  EXPECT_EQ(q.attached(), 1U) << "shmqd did not watch the queue when it answered the create\n" << daemon.err();
  ASSERT_EQ(outcome(ns, request(ControlOp::Delete, "watched")), "ok");
  EXPECT_EQ(q.attached(), 0U) << "shmqd still watched the queue when it answered the delete\n" << daemon.err();
}

TEST(ShmqdControlTest, MultiProcessPurgeDropsReadyAndPendingAndKeepsLeased) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  shmq::Client client({.ns = ns.name()});
  client.create_queue("work", small_queue());
  shmq::Producer producer = client.producer("work");
  shmq::Consumer consumer = client.consumer("work");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(producer.send("m" + std::to_string(i), 10s), Status::Ok);
  shmq::Message held = consumer.try_receive();
  ASSERT_TRUE(held);
  EXPECT_EQ(held.text(), "m0");
  {
    shmq::Message nacked = consumer.try_receive();
    ASSERT_TRUE(nacked);
    ASSERT_EQ(nacked.nack(), Status::Ok);  // Pending: purged too
  }

  EXPECT_EQ(client.purge_queue("work"), 4U);  // m1 (pending), m2..m4 (ready)
  EXPECT_TRUE(daemon.wait_for("purge work: ok, 4 messages dropped")) << daemon.err();
  EXPECT_FALSE(consumer.try_receive());
  EXPECT_EQ(held.ack(), Status::Ok);  // the leased one is untouched

  // Every slot is free again: a full ring goes in and comes out, in order.
  for (int i = 0; i < 8; ++i) ASSERT_EQ(producer.send("n" + std::to_string(i), 10s), Status::Ok) << i;
  for (int i = 0; i < 8; ++i) {
    shmq::Message m = consumer.try_receive();
    ASSERT_TRUE(m) << i;
    EXPECT_EQ(m.text(), "n" + std::to_string(i));
    EXPECT_EQ(m.ack(), Status::Ok);
  }
  EXPECT_EQ(client.purge_queue("work"), 0U);

  // Purge of a queue that does not exist.
  try {
    (void)client.purge_queue("nothere");
    ADD_FAILURE() << "purged a missing queue";
  } catch (const shmq::Error& e) {
    EXPECT_EQ(e.value(), errc::not_found);
    EXPECT_THAT(e.what(), HasSubstr("queue 'nothere' not found"));
  }
}

// The producer blocks in this process's main thread; another thread asks for
// the purge once the main thread is asleep on the queue's futex. The park
// slice is off (parked.hpp): a purge that forgot to wake leaves the producer
// asleep until its send gives up after kWakeLimit, and the test fails.
TEST(ShmqdControlTest, MultiProcessPurgeWakesAProducerBlockedOnAFullQueue) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const ParkSliceScope no_slice(kNoParkSlice);
  shmq::Client client({.ns = ns.name()});
  client.create_queue("full", small_queue());
  shmq::Producer producer = client.producer("full", {shmq::WaitStrategy::Park});
  for (int i = 0; i < 8; ++i) ASSERT_EQ(producer.send("x", 10s), Status::Ok);
  ASSERT_FALSE(producer.try_loan(1)) << "the queue should be full";
  const shmq::detail::MappedQueue q = shmq::detail::open_queue_segment(ns.name(), "full");
  std::thread purger([&] {
    // Without the purge the producer's send fails after kWakeLimit: no hang.
    if (!wait_parked(::getpid(), q.view.hot->producers_parked, kParkLimit)) {
      ADD_FAILURE() << "the producer never parked on the full queue";
      return;
    }
    EXPECT_EQ(client.purge_queue("full"), 8U);
  });
  EXPECT_EQ(producer.send("after purge", kWakeLimit), Status::Ok) << "a purge must wake a parked producer";
  purger.join();
}

}  // namespace
