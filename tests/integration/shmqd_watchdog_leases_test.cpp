// shmqd's watchdog (DESIGN.md §3) with the real daemon, for leases: a lease
// that runs out is delivered again and the late ack fails, a nack redelivers
// at once with no lease running out, and a message past max_deliveries is
// dead-lettered. Dead and hung sessions: shmqd_watchdog_test.cpp.
#include <csignal>
#include <cstddef>
#include <cstdint>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "children.hpp"
#include "core/recovery.hpp"
#include "observed_queue.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "shmqd_watchdog.hpp"
#include "test_support.hpp"

namespace {

using shmq::Status;
using shmq::test::Child;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::ObservedQueue;
using shmq::test::Pipe;
using shmq::test::queue_toml;
using shmq::test::SharedArray;
using shmq::test::Shmqd;
using shmq::test::watchdog::hold_leases;
using shmq::test::watchdog::kChildDeadline;
using shmq::test::watchdog::kLogLimit;
using shmq::test::watchdog::kOpTimeout;
using shmq::test::watchdog::problems;
using shmq::test::watchdog::receive_and_ack;
using shmq::test::watchdog::Seen;
using shmq::test::watchdog::send_messages;
using shmq::test::watchdog::WatchdogTest;
using ::testing::HasSubstr;

TEST_F(WatchdogTest, MultiProcessExpiredLeaseIsRedeliveredAndTheLateAckFails) {
  ConfigFile config(queue_toml("jobs", 16, 300));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child producer([&] { return send_messages(ns_, "jobs", 1); });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));

  SharedArray<Seen> held(1), redelivered(1);
  Pipe ready, go;
  Child slow([&] { return hold_leases(ns_, "jobs", 1, held, ready, go); });
  ASSERT_TRUE(ready.wait(kChildDeadline));
  ASSERT_TRUE(daemon.wait_for("queue jobs group default: 1 lease expired, 0 dead-lettered", kLogLimit))
      << daemon.err();
  Child other([&] { return receive_and_ack(ns_, "jobs", 1, 2, redelivered); });
  ASSERT_TRUE(exited_cleanly(other.wait(kChildDeadline)));
  EXPECT_EQ(redelivered[0].id.load(), held[0].id.load());

  ASSERT_TRUE(go.signal());
  ASSERT_TRUE(exited_cleanly(slow.wait(kChildDeadline)));
  EXPECT_EQ(static_cast<Status>(held[0].status.load()), Status::LeaseLost);
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending, 0U);
}

TEST_F(WatchdogTest, MultiProcessNackRedeliversAtOnceWithTheDaemonRunning) {
  ConfigFile config(queue_toml("jobs", 16, 600'000));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child child([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer("jobs");
    shmq::Consumer consumer = c.consumer("jobs");
    if (p.send("again", kOpTimeout) != Status::Ok) return fail(70, "send");
    shmq::Message first = consumer.receive(kOpTimeout);
    if (!first || first.delivery_count() != 1) return fail(71, "first delivery: %s", shmq::to_string(first.status()));
    const std::uint64_t id = first.id();
    if (const Status s = first.nack(); s != Status::Ok) return fail(72, "nack: %s", shmq::to_string(s));
    shmq::Message second = consumer.receive(kOpTimeout);
    if (!second) return fail(73, "redelivery: %s", shmq::to_string(second.status()));
    if (second.id() != id || second.delivery_count() != 2)
      return fail(74, "redelivered id %llu count %u", static_cast<unsigned long long>(second.id()),
                  second.delivery_count());
    if (const Status s = second.ack(); s != Status::Ok) return fail(75, "ack: %s", shmq::to_string(s));
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(child.wait(kChildDeadline)));
  // Stopped, so that err() holds everything it logged: no lease ran out, the
  // nack alone redelivered.
  EXPECT_TRUE(exited_cleanly(daemon.stop(SIGTERM)));
  EXPECT_THAT(daemon.err(), HasSubstr("shmqd stopped: namespace"));
  EXPECT_THAT(daemon.err(), ::testing::Not(HasSubstr("expired")));
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending + audit.waiting, 0U);
}

TEST_F(WatchdogTest, MultiProcessMessagePastMaxDeliveriesIsDeadLettered) {
  ConfigFile config(queue_toml("jobs", 16, 200, 2));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child producer([&] { return send_messages(ns_, "jobs", 1); });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));

  SharedArray<Seen> seen(2);
  Pipe ready, go;
  // Takes the message twice, letting each lease run out; the second expiry
  // reaches max_deliveries (2): the watchdog dead-letters it.
  Child child([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Consumer consumer = c.consumer("jobs");
    for (std::size_t i = 0; i < 2; ++i) {
      shmq::Message m = consumer.receive(kOpTimeout);
      if (!m) return fail(80, "delivery %zu: %s", i + 1, shmq::to_string(m.status()));
      seen[i].id = m.id();
      seen[i].count = m.delivery_count();
      m.keep_lease();  // no ack, no nack: the lease runs out
    }
    if (!ready.signal()) return fail(81, "cannot report ready");
    if (!go.wait(kChildDeadline)) return fail(82, "no go from the parent");
    if (shmq::Message m = consumer.try_receive(); m.status() != Status::Empty)
      return fail(83, "a dead letter was delivered again: %s", shmq::to_string(m.status()));
    return 0;
  });
  ASSERT_TRUE(ready.wait(kChildDeadline));
  EXPECT_EQ(seen[0].count.load(), 1U);
  EXPECT_EQ(seen[1].count.load(), 2U);
  EXPECT_EQ(seen[1].id.load(), seen[0].id.load());
  ASSERT_TRUE(daemon.wait_for("queue jobs group default: 1 lease expired, 1 dead-lettered", kLogLimit))
      << daemon.err();
  ASSERT_TRUE(go.signal());
  ASSERT_TRUE(exited_cleanly(child.wait(kChildDeadline)));

  const ObservedQueue q(ns_, "jobs");
  const auto audit = q.audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.dead_letters, 1U);
  EXPECT_EQ(audit.leased + audit.pending, 0U);
  const shmq::detail::DlqHeader& d = q.queue.view.dlq_entry(0);
  EXPECT_EQ(d.id, seen[0].id.load());
  EXPECT_EQ(d.delivery_count, 2U);
  EXPECT_EQ(d.reason, static_cast<std::uint16_t>(shmq::detail::DeadLetterReason::MaxDeliveries));
}

}  // namespace
