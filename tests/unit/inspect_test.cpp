// Statistics and peek on a heap queue: what stat, list, watch and peek show is
// derived from the words alone.
#include <gtest/gtest.h>

#include <cstring>

#include "core/inspect.hpp"
#include "core/ring.hpp"
#include "heap_queue.hpp"

namespace shmq::detail {
namespace {

using test::group;
using test::HeapQueue;
using test::params;

constexpr Owner kA = make_owner(1, 1);
constexpr Owner kB = make_owner(2, 1);
constexpr Owner kC = make_owner(3, 1);

// Publishes `value` to the groups of `mask` (default all) at commit time `commit_ns`.
std::uint64_t produce(const QueueView& q, std::uint32_t value, std::uint64_t commit_ns, std::uint16_t mask = 0xFFFF) {
  return test::produce_value(q, value, kA, commit_ns, mask);
}

Delivery take(const QueueView& q, std::uint32_t g, Owner me) { return test::take_message(q, g, me); }

std::uint32_t value_of(const PeekedMessage& m) {
  std::uint32_t v = 0;
  EXPECT_EQ(m.data.size(), sizeof v);
  std::memcpy(&v, m.data.data(), sizeof v);
  return v;
}

TEST(InspectTest, StatsCountReadyLeasedPendingPerGroupAndWhoHoldsWhat) {
  HeapQueue h(params(8, 64, {group("a"), group("b")}));
  for (std::uint32_t i = 0; i < 4; ++i) produce(h.view, i, 100 + i);
  const Delivery acked = take(h.view, 0, kB);
  ASSERT_EQ(settle(h.view, 0, acked.pos, acked.count, kB, LeaseState::Done), Status::Ok);
  const Delivery held = take(h.view, 0, kB);
  const Delivery nacked = take(h.view, 0, kC);
  ASSERT_EQ(settle(h.view, 0, nacked.pos, nacked.count, kC, LeaseState::Pending), Status::Ok);
  ASSERT_EQ(held.status, Status::Ok);

  const QueueStats st = queue_stats(h.view);
  EXPECT_EQ(st.capacity, 8U);
  EXPECT_EQ(st.slot_size, 64U);
  EXPECT_EQ(st.free, 4U);  // four never used; the four messages still wait for b
  EXPECT_EQ(st.loaned, 0U);
  ASSERT_EQ(st.groups.size(), 2U);
  const GroupStats& a = st.groups[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.ready, 1U);
  EXPECT_EQ(a.leased, 1U);
  EXPECT_EQ(a.pending, 1U);
  EXPECT_EQ(a.delivered, 3U);
  EXPECT_EQ(a.acked, 1U);
  EXPECT_EQ(a.lag, 1U);
  EXPECT_EQ(a.oldest_unacked_commit_ns, 101U);  // the held one; the acked 100 is done
  ASSERT_EQ(a.holders.size(), 1U);
  EXPECT_EQ(a.holders[0].owner, kB);
  EXPECT_EQ(a.holders[0].leased, 1U);
  EXPECT_EQ(a.holders[0].oldest_commit_ns, 101U);
  const GroupStats& b = st.groups[1];
  EXPECT_EQ(b.ready, 4U);
  EXPECT_EQ(b.leased + b.pending, 0U);
  EXPECT_EQ(b.lag, 4U);
  EXPECT_EQ(b.oldest_unacked_commit_ns, 100U);
  EXPECT_TRUE(b.holders.empty());
}

TEST(InspectTest, StatsCountLoansAttachmentsAndAFreeQueue) {
  HeapQueue h(params(4));
  QueueStats st = queue_stats(h.view);
  EXPECT_EQ(st.free, 4U);
  EXPECT_EQ(st.groups[0].oldest_unacked_commit_ns, 0U);
  EXPECT_TRUE(st.attachments.empty());

  ASSERT_EQ(try_claim(h.view, kA).status, Status::Ok);
  h.view.attachments[owner_index(kA)].owner.store(kA);
  h.view.attachments[owner_index(kA)].roles.store(kRoleProducer);
  st = queue_stats(h.view);
  EXPECT_EQ(st.loaned, 1U);
  EXPECT_EQ(st.free, 3U);
  EXPECT_EQ(st.groups[0].ready, 0U);  // a loan is not a message yet
  ASSERT_EQ(st.attachments.size(), 1U);
  EXPECT_EQ(st.attachments[0].owner, kA);
  EXPECT_TRUE(st.attachments[0].producer);
  EXPECT_FALSE(st.attachments[0].consumer);
}

TEST(InspectTest, StatsSkipMessagesOfOtherGroups) {
  HeapQueue h(params(4, 64, {group("a"), group("b")}));
  produce(h.view, 1, 5, 0b01);
  const QueueStats st = queue_stats(h.view);
  EXPECT_EQ(st.groups[0].ready, 1U);
  EXPECT_EQ(st.groups[1].ready, 0U);
}

TEST(InspectTest, PeekShowsWaitingMessagesInOrderWithoutTakingThem) {
  HeapQueue h(params(8));
  for (std::uint32_t i = 0; i < 5; ++i) produce(h.view, 10 + i, 1);
  const Delivery first = take(h.view, 0, kB);
  ASSERT_EQ(settle(h.view, 0, first.pos, first.count, kB, LeaseState::Pending), Status::Ok);
  (void)take(h.view, 0, kB);  // the redelivery of 10, still held
  (void)take(h.view, 0, kB);  // 11, held

  std::vector<PeekedMessage> m = peek_messages(h.view, 0, 10);
  ASSERT_EQ(m.size(), 3U);
  EXPECT_EQ(value_of(m[0]), 12U);
  EXPECT_EQ(m[0].id, m[0].pos);
  EXPECT_EQ(m[0].delivery_count, 0U);
  EXPECT_EQ(value_of(m[2]), 14U);
  EXPECT_EQ(peek_messages(h.view, 0, 2).size(), 2U);
  EXPECT_TRUE(peek_messages(h.view, 1, 10).empty());  // no such group

  // Peeking took nothing: the next deliveries are still 12, 13, 14.
  EXPECT_EQ(take(h.view, 0, kC).pos, m[0].pos);
}

// Found by the segment fuzzer (fuzz/regressions/segment/dead-letter-empty-listed):
// copying an empty payload was memcpy(nullptr, p, 0), undefined behaviour.
TEST(InspectTest, PeekShowsAnEmptyMessage) {
  HeapQueue h(params(4));
  const Claim c = try_claim(h.view, kA);
  ASSERT_EQ(c.status, Status::Ok);
  ASSERT_EQ(publish(h.view, c.pos, kA, c.pos, 0, 1, 1), Status::Ok);
  const std::vector<PeekedMessage> m = peek_messages(h.view, 0, 10);
  ASSERT_EQ(m.size(), 1U);
  EXPECT_TRUE(m[0].data.empty());
}

TEST(InspectTest, PeekShowsPendingMessagesWithTheirDeliveryCount) {
  HeapQueue h(params(4));
  produce(h.view, 7, 1);
  produce(h.view, 8, 1);
  const Delivery d = take(h.view, 0, kB);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Pending), Status::Ok);
  const std::vector<PeekedMessage> m = peek_messages(h.view, 0, 10);
  ASSERT_EQ(m.size(), 2U);
  EXPECT_EQ(value_of(m[0]), 7U);
  EXPECT_EQ(m[0].delivery_count, 1U);
  EXPECT_EQ(value_of(m[1]), 8U);
  EXPECT_EQ(m[1].delivery_count, 0U);
}

TEST(InspectTest, PeekFollowsTheRingAcrossLaps) {
  HeapQueue h(params(4));
  for (std::uint32_t i = 0; i < 10; ++i) {
    produce(h.view, i, 1);
    const Delivery d = take(h.view, 0, kB);
    ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);
  }
  produce(h.view, 100, 1);
  produce(h.view, 101, 1);
  const std::vector<PeekedMessage> m = peek_messages(h.view, 0, 10);
  ASSERT_EQ(m.size(), 2U);
  EXPECT_EQ(value_of(m[0]), 100U);
  EXPECT_EQ(value_of(m[1]), 101U);
  EXPECT_EQ(queue_stats(h.view).groups[0].ready, 2U);
}

}  // namespace
}  // namespace shmq::detail
