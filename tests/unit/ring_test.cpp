// The slot state machine on a heap buffer: semantics of every operation.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/ring.hpp"
#include "heap_queue.hpp"

namespace shmq::detail {
namespace {

using test::group;
using test::HeapQueue;
using test::params;

constexpr Owner kA = make_owner(1, 1);
constexpr Owner kB = make_owner(2, 1);

// Produces one message carrying `value`; returns its position.
std::uint64_t produce(const QueueView& q, std::uint32_t value, Owner me = kA) {
  return test::produce_value(q, value, me);
}

std::uint32_t value_at(const QueueView& q, std::uint64_t pos) {
  std::uint32_t v = 0;
  std::memcpy(&v, q.payload(q.slot_of(pos)), sizeof v);
  return v;
}

Delivery take(const QueueView& q, std::uint32_t g = 0, Owner me = kB, std::uint64_t now_ms = 0) {
  return test::take_message(q, g, me, now_ms);
}

TEST(RingTest, RoundTripCarriesPayloadIdAndCount) {
  HeapQueue h(params(8));
  const std::uint64_t pos = produce(h.view, 42);
  const Delivery d = take(h.view);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(d.pos, pos);
  EXPECT_EQ(d.count, 1U);
  EXPECT_EQ(value_at(h.view, d.pos), 42U);
  EXPECT_EQ(h.view.slot(h.view.slot_of(pos)).id, pos);
  EXPECT_EQ(h.view.slot(h.view.slot_of(pos)).length, 4U);
  EXPECT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);
  EXPECT_EQ(take(h.view).status, Status::Empty);
}

TEST(RingTest, TakeIsEmptyWhileLoaned) {
  HeapQueue h(params(8));
  const Claim c = try_claim(h.view, kA);
  ASSERT_EQ(c.status, Status::Ok);
  EXPECT_EQ(take(h.view).status, Status::Empty);
}

TEST(RingTest, TryClaimFailsWhenFullAndSucceedsAfterAck) {
  HeapQueue h(params(4));
  for (std::uint32_t i = 0; i < 4; ++i) produce(h.view, i);
  EXPECT_EQ(try_claim(h.view, kA).status, Status::QueueFull);
  const Delivery d = take(h.view);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(try_claim(h.view, kA).status, Status::QueueFull);  // leased is not free
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);
  EXPECT_EQ(try_claim(h.view, kA).status, Status::Ok);
}

TEST(RingTest, FifoAcrossManyLaps) {
  HeapQueue h(params(4));
  std::uint32_t next_expected = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    produce(h.view, i);
    if (i % 3 == 2) {  // drain in bursts
      for (Delivery d = take(h.view); d.status == Status::Ok; d = take(h.view)) {
        ASSERT_EQ(value_at(h.view, d.pos), next_expected++);
        ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);
      }
    }
  }
  EXPECT_EQ(next_expected, 999U);
}

TEST(RingTest, AbortedLoanIsPassedOverAndItsSlotReused) {
  HeapQueue h(params(2));
  const Claim c = try_claim(h.view, kA);
  ASSERT_EQ(c.status, Status::Ok);
  ASSERT_EQ(abort_loan(h.view, c.pos, kA), Status::Ok);
  produce(h.view, 5);
  const Delivery d = take(h.view);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(value_at(h.view, d.pos), 5U);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);
  produce(h.view, 6);
  produce(h.view, 7);  // both slots reusable
  EXPECT_EQ(try_claim(h.view, kA).status, Status::QueueFull);
}

TEST(RingTest, ConsumerLappedByDroppedLoansCatchesUp) {
  HeapQueue h(params(2));
  for (int i = 0; i < 5; ++i) {  // no consumer runs: the producer passes over for it
    const Claim c = try_claim(h.view, kA);
    ASSERT_EQ(c.status, Status::Ok) << i;
    ASSERT_EQ(abort_loan(h.view, c.pos, kA), Status::Ok);
  }
  const std::uint64_t pos = produce(h.view, 3);
  const Delivery d = take(h.view);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(d.pos, pos);
  EXPECT_TRUE(audit(h.view).ok());
}

TEST(RingTest, FanOutDeliversToEveryGroupAndFreesAfterTheLast) {
  HeapQueue h(params(1, 64, {group("a"), group("b")}));
  produce(h.view, 9);
  const Delivery a = take(h.view, 0);
  const Delivery b = take(h.view, 1);
  ASSERT_EQ(a.status, Status::Ok);
  ASSERT_EQ(b.status, Status::Ok);
  EXPECT_EQ(a.pos, b.pos);
  ASSERT_EQ(settle(h.view, 0, a.pos, a.count, kB, LeaseState::Done), Status::Ok);
  EXPECT_EQ(try_claim(h.view, kA).status, Status::QueueFull);
  ASSERT_EQ(settle(h.view, 1, b.pos, b.count, kB, LeaseState::Done), Status::Ok);
  EXPECT_EQ(try_claim(h.view, kA).status, Status::Ok);
}

TEST(RingTest, CompetingConsumersGetDistinctMessages) {
  HeapQueue h(params(8));
  for (std::uint32_t i = 0; i < 6; ++i) produce(h.view, i);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 6; ++i) {
    const Delivery d = take(h.view, 0, i % 2 == 0 ? kA : kB);
    ASSERT_EQ(d.status, Status::Ok);
    EXPECT_TRUE(seen.insert(d.pos).second);
  }
  EXPECT_EQ(take(h.view).status, Status::Empty);
}

TEST(RingTest, NackRedeliversSameIdWithCountPlusOne) {
  HeapQueue h(params(8));
  produce(h.view, 1);
  produce(h.view, 2);
  const Delivery first = take(h.view);
  ASSERT_EQ(settle(h.view, 0, first.pos, first.count, kB, LeaseState::Pending), Status::Ok);
  const Delivery again = take(h.view);
  ASSERT_EQ(again.status, Status::Ok);
  EXPECT_EQ(again.pos, first.pos);
  EXPECT_EQ(again.count, 2U);
  EXPECT_EQ(take(h.view).pos, first.pos + 1);
}

TEST(RingTest, LateAckAfterRecoveryIsLeaseLost) {
  HeapQueue h(params(8));
  produce(h.view, 1);
  const Delivery d = take(h.view, 0, kB);
  const RecoveryResult r = recover_session(h.view, kB, false);
  EXPECT_EQ(r.leases_requeued, 1U);
  const Delivery other = take(h.view, 0, kA);
  ASSERT_EQ(other.status, Status::Ok);
  EXPECT_EQ(other.count, 2U);
  EXPECT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::LeaseLost);
  EXPECT_EQ(settle(h.view, 0, other.pos, other.count, kA, LeaseState::Done), Status::Ok);
}

TEST(RingTest, CommitAfterRecoveryIsLeaseLost) {
  HeapQueue h(params(8));
  const Claim c = try_claim(h.view, kA);
  EXPECT_EQ(recover_session(h.view, kA, false).loans_aborted, 1U);
  EXPECT_EQ(publish(h.view, c.pos, kA, c.pos, 1, 0, 1), Status::LeaseLost);
  EXPECT_EQ(take(h.view).status, Status::Empty);
  EXPECT_TRUE(audit(h.view).ok());
}

TEST(RingTest, ExpiredLeaseIsRedeliveredAndExtendedOneIsNot) {
  HeapQueue h(params(8, 64, {group("g", false, 5, 100)}));
  produce(h.view, 1);
  produce(h.view, 2);
  const Delivery a = take(h.view, 0, kB, 1000);  // deadline 1100
  const Delivery b = take(h.view, 0, kB, 1000);
  ASSERT_EQ(extend_lease(h.view, 0, b.pos, b.count, kB, 1050, 5000), Status::Ok);
  EXPECT_EQ(expire_leases(h.view, 1100, kA).expired, 0U);  // not yet past
  EXPECT_EQ(expire_leases(h.view, 1101, kA).expired, 1U);
  const Delivery again = take(h.view, 0, kA, 1200);
  EXPECT_EQ(again.pos, a.pos);
  EXPECT_EQ(again.count, 2U);
  EXPECT_EQ(settle(h.view, 0, a.pos, a.count, kB, LeaseState::Done), Status::LeaseLost);
  EXPECT_EQ(extend_lease(h.view, 0, a.pos, a.count, kB, 1200, 9000), Status::LeaseLost);
  EXPECT_EQ(settle(h.view, 0, b.pos, b.count, kB, LeaseState::Done), Status::Ok);
}

TEST(RingTest, ExtendAfterDeadlineIsLeaseLost) {
  HeapQueue h(params(8, 64, {group("g", false, 5, 100)}));
  produce(h.view, 1);
  const Delivery d = take(h.view, 0, kB, 1000);
  EXPECT_EQ(extend_lease(h.view, 0, d.pos, d.count, kB, 1101, 5000), Status::LeaseLost);
}

TEST(RingTest, MaxDeliveriesMovesMessageToDeadLetters) {
  HeapQueue h(params(2, 64, {group("g", false, 2)}));
  const std::uint64_t pos = produce(h.view, 77);
  for (std::uint32_t n = 1; n <= 2; ++n) {
    const Delivery d = take(h.view);
    ASSERT_EQ(d.count, n);
    ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Pending), Status::Ok);
  }
  EXPECT_EQ(take(h.view).status, Status::Empty);  // dead-lettered on the way
  const int i = find_dead_letter(h.view, 0, h.view.slot_of(pos), h.view.lap_of(pos));
  ASSERT_GE(i, 0);
  const DlqHeader& e = h.view.dlq_entry(static_cast<std::uint32_t>(i));
  EXPECT_EQ(e.id, pos);
  EXPECT_EQ(e.delivery_count, 2U);
  std::uint32_t v = 0;
  std::memcpy(&v, h.view.dlq_payload(static_cast<std::uint32_t>(i)), sizeof v);
  EXPECT_EQ(v, 77U);
  const AuditReport a = audit(h.view);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.dead_letters, 1U);
  EXPECT_EQ(a.free, 2U);
}

TEST(RingTest, FullDeadLetterAreaKeepsMessagePending) {
  HeapQueue h(params(2, 64, {group("g", false, 1)}, 0));
  produce(h.view, 1);
  const Delivery d = take(h.view);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Pending), Status::Ok);
  EXPECT_EQ(take(h.view).status, Status::Empty);
  const AuditReport a = audit(h.view);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.pending, 1U);  // kept, never lost
}

TEST(RingTest, AtMostOnceRecoveryDropsTheLease) {
  HeapQueue h(params(2, 64, {group("g", true)}));
  produce(h.view, 1);
  ASSERT_EQ(take(h.view).status, Status::Ok);
  const RecoveryResult r = recover_session(h.view, kB, false);
  EXPECT_EQ(r.leases_released, 1U);
  EXPECT_EQ(take(h.view).status, Status::Empty);
  EXPECT_EQ(audit(h.view).free, 2U);
}

TEST(RingTest, RecoveryIsIdempotent) {
  HeapQueue h(params(4));
  produce(h.view, 1);
  (void)try_claim(h.view, kB);
  ASSERT_EQ(take(h.view).status, Status::Ok);
  EXPECT_EQ(recover_session(h.view, kB, false).total(), 2U);
  EXPECT_EQ(recover_session(h.view, kB, false).total(), 0U);
}

TEST(RingTest, QuarantinedSlotIsSkippedUntilTheOwnerIsGone) {
  test::HeapRegistry reg;
  HeapQueue h(params(2));
  h.view.sessions = reg.view.sessions;
  const Owner zombie = reg.claim(100);
  const Owner live = reg.claim(200);
  const Claim c = try_claim(h.view, zombie);
  ASSERT_TRUE(fence_session(reg.view, zombie));
  EXPECT_EQ(recover_session(h.view, zombie, true).loans_aborted, 1U);
  // Lap 1: the other slot is used; lap 2: the quarantined slot is skipped.
  for (std::uint32_t i = 0; i < 3; ++i) {
    const Claim k = try_claim(h.view, live);
    ASSERT_EQ(k.status, Status::Ok);
    EXPECT_NE(h.view.slot_of(k.pos), h.view.slot_of(c.pos));
    ASSERT_EQ(publish(h.view, k.pos, live, k.pos, 0, 0, 1), Status::Ok);
    const Delivery d = take(h.view, 0, live);
    ASSERT_EQ(d.pos, k.pos);
    ASSERT_EQ(settle(h.view, 0, d.pos, d.count, live, LeaseState::Done), Status::Ok);
  }
  EXPECT_EQ(audit(h.view).quarantined, 1U);
  // The zombie's late commit fails; once it is gone the slot is used again.
  EXPECT_EQ(publish(h.view, c.pos, zombie, c.pos, 0, 0, 1), Status::Fenced);
  ASSERT_TRUE(release_session(reg.view, zombie));
  bool reused = false;
  for (int i = 0; i < 2 && !reused; ++i) {
    const Claim k = try_claim(h.view, live);
    ASSERT_EQ(k.status, Status::Ok);
    reused = h.view.slot_of(k.pos) == h.view.slot_of(c.pos);
    ASSERT_EQ(abort_loan(h.view, k.pos, live), Status::Ok);
    ASSERT_EQ(take(h.view, 0, live).status, Status::Empty);
  }
  EXPECT_TRUE(reused);
  EXPECT_TRUE(audit(h.view).ok());
}

TEST(RingTest, AuditFindsLoansAndLeasesOfGoneSessions) {
  test::HeapRegistry reg;
  HeapQueue h(params(4));
  h.view.sessions = reg.view.sessions;
  const Owner p = reg.claim(1);
  const Owner c = reg.claim(2);
  produce(h.view, 1, p);
  (void)try_claim(h.view, p);
  ASSERT_EQ(take(h.view, 0, c).status, Status::Ok);
  EXPECT_TRUE(audit(h.view).ok());
  ASSERT_TRUE(release_session(reg.view, p));
  ASSERT_TRUE(release_session(reg.view, c));
  const AuditReport bad = audit(h.view);
  EXPECT_EQ(bad.problems.size(), 2U);
  recover_session(h.view, p, false);
  recover_session(h.view, c, false);
  EXPECT_TRUE(audit(h.view).ok());
}

TEST(RingTest, AuditCountsEveryState) {
  HeapQueue h(params(8, 64, {group("g", false)}));
  produce(h.view, 1);                          // ready
  produce(h.view, 2);                          // will be leased
  (void)try_claim(h.view, kA);                 // loaned
  ASSERT_EQ(take(h.view).status, Status::Ok);  // leases position of value 1
  const AuditReport a = audit(h.view);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.leased, 1U);
  EXPECT_EQ(a.waiting, 1U);
  EXPECT_EQ(a.loaned, 1U);
  EXPECT_EQ(a.free, 5U);
}

TEST(RegistryTest, ClaimFenceReleaseMoveGenerations) {
  test::HeapRegistry reg;
  const Owner a = reg.claim(10);
  ASSERT_NE(a, kNoOwner);
  EXPECT_EQ(session_state_of(reg.view, a), SessionState::Alive);
  EXPECT_TRUE(fence_session(reg.view, a));
  EXPECT_FALSE(fence_session(reg.view, a));
  EXPECT_EQ(session_state_of(reg.view, a), SessionState::Fenced);
  EXPECT_TRUE(release_session(reg.view, a));
  EXPECT_EQ(session_state_of(reg.view, a), SessionState::Free);
  const Owner b = reg.claim(11);
  EXPECT_EQ(owner_index(b), owner_index(a));
  EXPECT_NE(owner_generation(b), owner_generation(a));
  EXPECT_EQ(session_state_of(reg.view, a), SessionState::Free);  // the old owner stays gone
  EXPECT_FALSE(release_session(reg.view, a));
}

TEST(RegistryTest, FullTableReturnsNoOwner) {
  test::HeapRegistry reg;
  for (std::uint32_t i = 0; i < kMaxSessions; ++i) ASSERT_NE(reg.claim(i + 1), kNoOwner);
  EXPECT_EQ(reg.claim(9999), kNoOwner);
}

}  // namespace
}  // namespace shmq::detail
