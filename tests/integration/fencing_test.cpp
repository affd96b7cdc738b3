// A session the watchdog declares dead while its process still runs (a
// SIGSTOP'd or hung process) is fenced: once resumed it learns so from its
// heartbeat thread, and nothing it does reaches the queue.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "client_state.hpp"
#include "queue_segment.hpp"
#include "recovery.hpp"
#include "registry.hpp"
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
  detail::MappedQueue mq = detail::open_queue_segment(ns.name(), "q");
  detail::Segment reg_seg = detail::Segment::open(detail::registry_segment_name(ns.name()));
  const detail::RegistryView reg = detail::open_registry_view(reg_seg.data(), reg_seg.size(), ns.name(), "registry");
  mq.view.sessions = reg.sessions;
  ASSERT_TRUE(detail::fence_session(reg, client.session_id()));
  const detail::RecoveryResult r = detail::recover_session(mq.view, client.session_id(), true);
  EXPECT_EQ(r.leases_requeued, 1U);
  EXPECT_EQ(r.loans_aborted, 1U);

  // The heartbeat thread notices within a few intervals (bounded wait on a condition).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!client.fenced() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_TRUE(client.fenced());

  std::memset(loan.data().data(), 0xEE, loan.data().size());  // a late write lands in a quarantined slot
  EXPECT_EQ(loan.commit(), Status::LeaseLost);
  EXPECT_EQ(held.ack(), Status::LeaseLost);
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
  const detail::AuditReport a = detail::audit(mq.view);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.quarantined, 1U);
}

}  // namespace
}  // namespace shmq
