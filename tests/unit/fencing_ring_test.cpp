// Fencing in the slot state machine (heap buffer + heap registry): a session
// the watchdog fenced takes nothing new and settles nothing, even before its
// own heartbeat thread has noticed; what it claims in a race with the fence
// it gives back at once. And what recovery takes back is counted.
#include <gtest/gtest.h>

#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "core/ring.hpp"
#include "heap_queue.hpp"

namespace shmq::detail {
namespace {

using test::group;
using test::HeapQueue;
using test::HeapRegistry;
using test::params;

struct FencedSessionTest : ::testing::Test {
  FencedSessionTest() {
    h.view.sessions = reg.view.sessions;
    producer = reg.claim(1);
    zombie = reg.claim(2);
    live = reg.claim(3);
  }
  HeapRegistry reg;
  HeapQueue h{params(4, 64, {group("a"), group("m", true)})};
  Owner producer = kNoOwner, zombie = kNoOwner, live = kNoOwner;
};

TEST_F(FencedSessionTest, FirstDeliveryIsGivenBackUncounted) {
  const std::uint64_t pos = test::produce_value(h.view, 7, producer);
  ASSERT_TRUE(fence_session(reg.view, zombie));
  const std::uint32_t gen = redelivery_generation(h.view, 0);
  EXPECT_EQ(take_next(h.view, 0, zombie).status, Status::Fenced);
  // Back to Pending with count 0, announced to the group's consumers.
  const Word w = h.view.lease(0, h.view.slot_of(pos)).word.load();
  EXPECT_EQ(lease_state(w), LeaseState::Pending);
  EXPECT_EQ(word_count(w), 0U);
  EXPECT_EQ(word_owner(w), zombie);  // who owed the generation bump (see layout.hpp)
  EXPECT_NE(redelivery_generation(h.view, 0), gen);
  // The next consumer gets it as a first delivery.
  const Delivery d = take_redelivery(h.view, 0, live, 0);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(d.pos, pos);
  EXPECT_EQ(d.count, 1U);
  EXPECT_EQ(h.view.groups[0].delivered.load(), 1U);
  EXPECT_EQ(h.view.groups[0].redelivered.load(), 0U);
}

TEST_F(FencedSessionTest, AtMostOnceMessageIsGivenBackNotDropped) {
  const std::uint64_t pos = test::produce_value(h.view, 7, producer);
  ASSERT_TRUE(fence_session(reg.view, zombie));
  EXPECT_EQ(take_next(h.view, 1, zombie).status, Status::Fenced);
  const Delivery d = take_redelivery(h.view, 1, live, 0);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(d.pos, pos);
  EXPECT_EQ(d.count, 1U);
}

TEST_F(FencedSessionTest, RedeliveryIsGivenBackWithItsCount) {
  const std::uint64_t pos = test::produce_value(h.view, 7, producer);
  Delivery d = test::take_message(h.view, 0, live);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, live, LeaseState::Pending), Status::Ok);  // nack: count 1
  ASSERT_TRUE(fence_session(reg.view, zombie));
  EXPECT_EQ(take_redelivery(h.view, 0, zombie, 0).status, Status::Fenced);
  d = take_redelivery(h.view, 0, live, 0);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(d.pos, pos);
  EXPECT_EQ(d.count, 2U);
}

TEST_F(FencedSessionTest, ClaimIsGivenBackAndThePositionPassedOver) {
  ASSERT_TRUE(fence_session(reg.view, zombie));
  EXPECT_EQ(try_claim(h.view, zombie).status, Status::Fenced);
  // Nothing is loaned, the position carries no message, the ring goes on.
  const AuditReport a = audit(h.view);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.loaned, 0U);
  EXPECT_EQ(take_next(h.view, 0, live).status, Status::Empty);
  const std::uint64_t pos = test::produce_value(h.view, 8, producer);
  EXPECT_EQ(test::take_message(h.view, 0, live).pos, pos);
}

TEST_F(FencedSessionTest, HeldLoanAndLeaseAreNeitherCommittedNorSettled) {
  test::produce_value(h.view, 7, producer);
  const Delivery d = test::take_message(h.view, 0, zombie);
  ASSERT_EQ(d.status, Status::Ok);
  const Claim c = try_claim(h.view, zombie);
  ASSERT_EQ(c.status, Status::Ok);
  ASSERT_TRUE(fence_session(reg.view, zombie));
  const Word slot_before = h.view.slot(h.view.slot_of(c.pos)).state.load();
  const Word lease_before = h.view.lease(0, h.view.slot_of(d.pos)).word.load();
  EXPECT_EQ(publish(h.view, c.pos, zombie, c.pos, 1, 1, 3), Status::Fenced);
  EXPECT_EQ(settle(h.view, 0, d.pos, d.count, zombie, LeaseState::Done), Status::Fenced);
  EXPECT_EQ(settle(h.view, 0, d.pos, d.count, zombie, LeaseState::Pending), Status::Fenced);
  EXPECT_EQ(extend_lease(h.view, 0, d.pos, d.count, zombie, 0, 1'000'000), Status::Fenced);
  EXPECT_EQ(h.view.slot(h.view.slot_of(c.pos)).state.load(), slot_before);
  EXPECT_EQ(h.view.lease(0, h.view.slot_of(d.pos)).word.load(), lease_before);
  // The watchdog's recovery takes both back.
  const RecoveryResult r = recover_session(h.view, zombie, true);
  EXPECT_EQ(r.loans_aborted, 1U);
  EXPECT_EQ(r.leases_requeued, 1U);
}

TEST_F(FencedSessionTest, ReleasedSessionCountsAsFencedToo) {
  test::produce_value(h.view, 7, producer);
  ASSERT_TRUE(release_session(reg.view, zombie));
  EXPECT_EQ(take_next(h.view, 0, zombie).status, Status::Fenced);
  EXPECT_EQ(try_claim(h.view, zombie).status, Status::Fenced);
}

TEST(RecoveryCountTest, CountsEveryLeaseRequeuedAndEveryAtMostOnceLeaseDropped) {
  HeapQueue h(params(8, 64, {group("a"), group("m", true)}));
  constexpr Owner kP = make_owner(1, 1);
  constexpr Owner kDead = make_owner(2, 1);
  for (std::uint32_t i = 0; i < 3; ++i) test::produce_value(h.view, i, kP);
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_EQ(test::take_message(h.view, 0, kDead).status, Status::Ok);
    ASSERT_EQ(test::take_message(h.view, 1, kDead).status, Status::Ok);
  }
  const RecoveryResult r = recover_session(h.view, kDead, false);
  EXPECT_EQ(r.leases_requeued, 3U);
  EXPECT_EQ(r.leases_released, 3U);
  EXPECT_EQ(h.view.groups[0].recovered.load(), 3U);
  EXPECT_EQ(h.view.groups[0].dropped.load(), 0U);
  EXPECT_EQ(h.view.groups[1].recovered.load(), 0U);
  EXPECT_EQ(h.view.groups[1].dropped.load(), 3U);
}

}  // namespace
}  // namespace shmq::detail
