// A session the watchdog declares dead while its process still runs (a
// SIGSTOP'd or hung process) is fenced: from the moment the watchdog fences
// it, whether or not its heartbeat thread has noticed, nothing it does
// reaches the queue.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "client/client_state.hpp"
#include "observed_queue.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq {
namespace {

using namespace std::chrono_literals;

TEST(FencingTest, FencedSessionGetsFencedAndLeaseLostAndChangesNothing) {
  test::TestNamespace ns;
  Client client({.ns = ns.name(), .heartbeat_interval = 5ms, .heartbeat_timeout = 100ms});
  client.create_queue("q", {.capacity = 4, .slot_size = 16});
  Producer producer = client.producer("q");
  Consumer consumer = client.consumer("q");
  ASSERT_EQ(producer.send("one"), Status::Ok);
  Message held = consumer.try_receive();
  ASSERT_TRUE(held);
  Loan loan = producer.try_loan(8);
  ASSERT_TRUE(loan);

  // The watchdog's part, done from outside the client's objects.
  const test::ObservedQueue q(ns, "q");
  ASSERT_TRUE(detail::fence_session(q.registry, client.session_id()));
  const detail::RecoveryResult r = detail::recover_session(q.view(), client.session_id(), true);
  EXPECT_EQ(r.leases_requeued, 1U);
  EXPECT_EQ(r.loans_aborted, 1U);

  // The heartbeat thread notices within a few intervals (bounded wait on a condition).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!client.fenced() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(client.fenced());

  std::memset(loan.data().data(), 0xEE, loan.data().size());  // a late write lands in a quarantined slot
  EXPECT_EQ(loan.commit(), Status::Fenced);
  EXPECT_EQ(held.ack(), Status::Fenced);
  EXPECT_EQ(producer.try_loan(8).status(), Status::Fenced);
  EXPECT_EQ(consumer.try_receive().status(), Status::Fenced);

  // Another session gets the message again, intact, and the queue is accounted for.
  Client other({.ns = ns.name()});
  Consumer c2 = other.consumer("q");
  Message again = c2.try_receive();
  ASSERT_TRUE(again);
  EXPECT_EQ(again.text(), "one");
  EXPECT_EQ(again.delivery_count(), 2U);
  EXPECT_EQ(again.ack(), Status::Ok);
  const detail::AuditReport a = q.audit();
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.quarantined, 1U);
}

// The watchdog fences a session whose heartbeat thread sleeps for a whole
// interval: the data path must not wait for it to notice.
TEST(FencingTest, FencedSessionTakesNothingBeforeItsHeartbeatNotices) {
  test::TestNamespace ns;
  Client client({.ns = ns.name(), .heartbeat_interval = 60s, .heartbeat_timeout = 120s});
  client.create_queue("q", {.capacity = 4, .slot_size = 16});
  Producer producer = client.producer("q");
  Consumer consumer = client.consumer("q");
  ASSERT_EQ(producer.send("one"), Status::Ok);
  Message held = consumer.try_receive();
  ASSERT_TRUE(held);
  ASSERT_EQ(producer.send("two"), Status::Ok);

  const test::ObservedQueue q(ns, "q");
  ASSERT_TRUE(detail::fence_session(q.registry, client.session_id()));

  EXPECT_TRUE(client.fenced());
  EXPECT_EQ(consumer.try_receive().status(), Status::Fenced);
  EXPECT_EQ(producer.try_loan(8).status(), Status::Fenced);
  EXPECT_EQ(held.extend_lease(1s), Status::Fenced);
  EXPECT_EQ(held.ack(), Status::Fenced);

  // "two" was never taken; "one" is still leased by the fenced session until
  // the watchdog's recovery (done here by hand) takes it back.
  EXPECT_EQ(detail::recover_session(q.view(), client.session_id(), true).leases_requeued, 1U);
  Client other({.ns = ns.name()});
  Consumer c2 = other.consumer("q");
  for (const char* text : {"one", "two"}) {
    Message m = c2.try_receive();
    ASSERT_TRUE(m) << text;
    EXPECT_EQ(m.ack(), Status::Ok);
  }
  EXPECT_EQ(c2.try_receive().status(), Status::Empty);
}

}  // namespace
}  // namespace shmq
