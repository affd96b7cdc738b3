// Purge on a heap queue: what it drops (ready and pending messages, per
// group), what it leaves (leases, loans), and that the queue works as before
// afterwards, also while producers and consumers run.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/purge.hpp"
#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/ring.hpp"
#include "heap_queue.hpp"

namespace shmq::detail {
namespace {

using test::group;
using test::HeapQueue;
using test::params;

constexpr Owner kProducer = make_owner(1, 1);
constexpr Owner kConsumer = make_owner(2, 1);

std::uint64_t produce(const QueueView& q, std::uint32_t value, std::uint16_t mask = 0xFFFF) {
  return test::produce_value(q, value, kProducer, 7, mask);
}

std::uint32_t value_at(const QueueView& q, std::uint64_t pos) {
  std::uint32_t v = 0;
  std::memcpy(&v, q.payload(q.slot_of(pos)), sizeof v);
  return v;
}

Delivery take(const QueueView& q, std::uint32_t g = 0, Owner me = kConsumer) { return test::take_message(q, g, me); }

TEST(PurgeTest, DropsReadyMessagesOfEveryGroup) {
  HeapQueue h(params(8, 64, {group("a"), group("b")}));
  for (std::uint32_t i = 0; i < 5; ++i) produce(h.view, i);
  const PurgeResult r = purge(h.view);
  EXPECT_EQ(r.group_count, 2U);
  EXPECT_EQ(r.ready[0], 5U);
  EXPECT_EQ(r.ready[1], 5U);
  EXPECT_EQ(r.pending[0] + r.pending[1], 0U);
  EXPECT_EQ(r.total(), 10U);
  EXPECT_EQ(take(h.view, 0).status, Status::Empty);
  EXPECT_EQ(take(h.view, 1).status, Status::Empty);
  // The cursors moved past what was dropped: depth (tail - next) is 0 at once.
  EXPECT_EQ(h.view.groups[0].next.load(), h.view.hot->tail.load());
  EXPECT_EQ(h.view.groups[1].next.load(), h.view.hot->tail.load());
  const AuditReport a = audit(h.view);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.free, 8U);
  EXPECT_EQ(purge(h.view).total(), 0U);  // nothing left: a second purge drops nothing
}

TEST(PurgeTest, CountsOnlyTheGroupsAMessageWasFor) {
  HeapQueue h(params(8, 64, {group("a"), group("b")}));
  produce(h.view, 1, 0b01);  // for group a only
  produce(h.view, 2);
  const PurgeResult r = purge(h.view);
  EXPECT_EQ(r.ready[0], 2U);
  EXPECT_EQ(r.ready[1], 1U);
  EXPECT_TRUE(audit(h.view).ok());
  EXPECT_EQ(audit(h.view).free, 8U);
}

TEST(PurgeTest, DropsPendingMessagesAndLeavesLeasedOnesAckable) {
  HeapQueue h(params(8));
  for (std::uint32_t i = 0; i < 4; ++i) produce(h.view, i);
  const Delivery nacked = take(h.view);
  const Delivery held = take(h.view);
  ASSERT_EQ(nacked.status, Status::Ok);
  ASSERT_EQ(held.status, Status::Ok);
  ASSERT_EQ(settle(h.view, 0, nacked.pos, nacked.count, kConsumer, LeaseState::Pending), Status::Ok);

  const PurgeResult r = purge(h.view);
  EXPECT_EQ(r.ready[0], 2U);    // messages 2 and 3
  EXPECT_EQ(r.pending[0], 1U);  // message 0
  EXPECT_EQ(take(h.view).status, Status::Empty);
  AuditReport a = audit(h.view);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.leased, 1U);
  EXPECT_EQ(a.waiting + a.pending, 0U);

  // The holder's lease is untouched: its ack works and frees the slot.
  EXPECT_EQ(value_at(h.view, held.pos), 1U);
  EXPECT_EQ(settle(h.view, 0, held.pos, held.count, kConsumer, LeaseState::Done), Status::Ok);
  a = audit(h.view);
  EXPECT_EQ(a.free, 8U);
}

TEST(PurgeTest, LeasedMessageNackedAfterThePurgeIsDeliveredAgain) {
  HeapQueue h(params(4));
  produce(h.view, 9);
  const Delivery d = take(h.view);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(purge(h.view).total(), 0U);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kConsumer, LeaseState::Pending), Status::Ok);
  const Delivery again = take(h.view);
  ASSERT_EQ(again.status, Status::Ok);
  EXPECT_EQ(again.pos, d.pos);
  EXPECT_EQ(again.count, 2U);
}

TEST(PurgeTest, LoanedSlotIsLeftAndDeliveredOnceCommitted) {
  HeapQueue h(params(4));
  produce(h.view, 1);
  const Claim loan = try_claim(h.view, kProducer);
  ASSERT_EQ(loan.status, Status::Ok);
  produce(h.view, 3);  // ready behind the loaned position
  const PurgeResult r = purge(h.view);
  EXPECT_EQ(r.ready[0], 2U);
  std::uint32_t two = 2;
  std::memcpy(h.view.payload(h.view.slot_of(loan.pos)), &two, sizeof two);
  ASSERT_EQ(publish(h.view, loan.pos, kProducer, loan.pos, sizeof two, 7, 1), Status::Ok);
  const Delivery d = take(h.view);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(value_at(h.view, d.pos), 2U);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kConsumer, LeaseState::Done), Status::Ok);
  EXPECT_EQ(take(h.view).status, Status::Empty);  // message 3 stays dropped
  EXPECT_TRUE(audit(h.view).ok());
}

TEST(PurgeTest, ProducersFillTheRingAgainAfterAPurgeOfAFullQueue) {
  HeapQueue h(params(4, 64, {group("a"), group("b", /*at_most_once=*/true)}));
  for (std::uint32_t i = 0; i < 4; ++i) produce(h.view, i);
  EXPECT_EQ(try_claim(h.view, kProducer).status, Status::QueueFull);
  EXPECT_EQ(purge(h.view).total(), 8U);
  for (std::uint32_t i = 10; i < 14; ++i) produce(h.view, i);
  EXPECT_EQ(try_claim(h.view, kProducer).status, Status::QueueFull);
  for (std::uint32_t g = 0; g < 2; ++g) {
    for (std::uint32_t i = 10; i < 14; ++i) {  // FIFO, only the new ones
      const Delivery d = take(h.view, g);
      ASSERT_EQ(d.status, Status::Ok);
      EXPECT_EQ(value_at(h.view, d.pos), i);
      ASSERT_EQ(settle(h.view, g, d.pos, d.count, kConsumer, LeaseState::Done), Status::Ok);
    }
    EXPECT_EQ(take(h.view, g).status, Status::Empty);
  }
  const AuditReport a = audit(h.view);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.free, 4U);
}

// Every committed message is acked or dropped by exactly one purge, while a
// producer, a consumer (nacking some) and purges run at once. Acks are counted
// per message (its payload), so a message acked twice cannot make up for one
// that went missing.
TEST(PurgeTest, ConcurrentWithProducerAndConsumerLosesAndDuplicatesNothing) {
  HeapQueue h(params(16));
  const QueueView& q = h.view;
  constexpr std::uint32_t kMessages = 20'000;
  std::atomic<bool> produced{false};
  std::vector<std::uint8_t> acks(kMessages, 0);  // the consumer thread's own
  std::atomic<std::uint64_t> purged{0};

  std::thread producer([&] {
    for (std::uint32_t i = 0; i < kMessages;) {
      const Claim c = try_claim(q, kProducer);
      if (c.status != Status::Ok) {
        std::this_thread::yield();
        continue;
      }
      std::memcpy(q.payload(q.slot_of(c.pos)), &i, sizeof i);
      if (publish(q, c.pos, kProducer, c.pos, sizeof i, 7, 1) != Status::Ok) {
        ADD_FAILURE() << "publish failed";
        break;
      }
      ++i;
    }
    produced.store(true);
  });
  std::thread consumer([&] {
    while (!produced.load() || audit(q).waiting + audit(q).pending != 0) {
      const Delivery d = take(q);
      if (d.status != Status::Ok) {
        std::this_thread::yield();
        continue;
      }
      std::uint32_t value = 0;
      std::memcpy(&value, q.payload(q.slot_of(d.pos)), sizeof value);
      ASSERT_LT(value, kMessages);
      const bool nack = d.count == 1 && d.pos % 5 == 0;
      EXPECT_EQ(settle(q, 0, d.pos, d.count, kConsumer, nack ? LeaseState::Pending : LeaseState::Done), Status::Ok);
      if (!nack) ++acks[value];
    }
  });
  std::thread purger([&] {
    while (!produced.load()) {
      purged.fetch_add(purge(q).total());
      std::this_thread::yield();
    }
  });
  producer.join();
  purger.join();
  consumer.join();
  purged.fetch_add(purge(q).total());

  std::uint64_t acked = 0;
  for (std::uint32_t i = 0; i < kMessages; ++i) {
    EXPECT_LE(acks[i], 1U) << "message " << i << " acked twice";
    acked += acks[i] != 0 ? 1 : 0;
  }
  EXPECT_EQ(acked + purged.load(), kMessages) << acked << " acked, " << purged.load() << " purged";
  const AuditReport a = audit(q);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.free, 16U);
}

}  // namespace
}  // namespace shmq::detail
