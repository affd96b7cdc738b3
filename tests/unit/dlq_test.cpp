// The dead-letter area as tools use it, on a heap queue: list, replay for the
// group that gave up (same id, through a claimed slot), purge, and what a
// replayer killed between its steps leaves (a duplicate at worst, never a loss).
#include <gtest/gtest.h>

#include <cstring>

#include "core/dlq.hpp"
#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/ring.hpp"
#include "heap_queue.hpp"

namespace shmq::detail {
namespace {

using test::group;
using test::HeapQueue;
using test::HeapRegistry;
using test::params;

constexpr Owner kA = make_owner(1, 1);
constexpr Owner kB = make_owner(2, 1);

std::uint64_t produce(const QueueView& q, std::uint32_t value) { return test::produce_value(q, value, kA, 55); }

Delivery take(const QueueView& q, std::uint32_t g, Owner me = kB) { return test::take_message(q, g, me); }

// Group 0 ("a", max_deliveries 1) gives up on one message carrying `value`;
// group 1 ("b"), if there, acks it. Returns the message's id.
std::uint64_t dead_letter_one(const QueueView& q, std::uint32_t value) {
  const std::uint64_t pos = produce(q, value);
  const Delivery d = take(q, 0);
  EXPECT_EQ(settle(q, 0, d.pos, d.count, kB, LeaseState::Pending), Status::Ok);
  EXPECT_EQ(take(q, 0).status, Status::Empty);  // moved to the DLQ on the way
  if (q.group_count > 1) {
    const Delivery e = take(q, 1);
    EXPECT_EQ(settle(q, 1, e.pos, e.count, kB, LeaseState::Done), Status::Ok);
  }
  return pos;
}

std::uint32_t value_at(const QueueView& q, std::uint64_t pos) {
  std::uint32_t v = 0;
  std::memcpy(&v, q.payload(q.slot_of(pos)), sizeof v);
  return v;
}

HeapQueue two_groups(std::uint32_t capacity = 4) {
  return HeapQueue(params(capacity, 64, {group("a", false, 1), group("b")}));
}

TEST(DlqTest, ListShowsEveryDeadLetterWithItsPayloadAndOrigin) {
  HeapQueue h = two_groups();
  const std::uint64_t id = dead_letter_one(h.view, 77);
  const std::vector<DeadLetter> l = list_dead_letters(h.view);
  ASSERT_EQ(l.size(), 1U);
  EXPECT_EQ(l[0].id, id);
  EXPECT_EQ(l[0].group, 0U);
  EXPECT_EQ(l[0].delivery_count, 1U);
  EXPECT_EQ(l[0].commit_ns, 55U);
  EXPECT_EQ(l[0].reason, static_cast<std::uint16_t>(DeadLetterReason::MaxDeliveries));
  EXPECT_EQ(l[0].replaying, kNoOwner);
  ASSERT_EQ(l[0].data.size(), 4U);
  std::uint32_t v = 0;
  std::memcpy(&v, l[0].data.data(), 4);
  EXPECT_EQ(v, 77U);
}

// Found by the segment fuzzer (fuzz/regressions/segment/dead-letter-empty-listed):
// copying an empty dead letter was memcpy(nullptr, p, 0), undefined behaviour.
TEST(DlqTest, ListShowsAnEmptyDeadLetter) {
  HeapQueue h = two_groups();
  const Claim c = try_claim(h.view, kA);
  ASSERT_EQ(c.status, Status::Ok);
  ASSERT_EQ(publish(h.view, c.pos, kA, c.pos, 0, 55, 1), Status::Ok);  // group "a" only
  const Delivery d = take(h.view, 0);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Pending), Status::Ok);
  EXPECT_EQ(take(h.view, 0).status, Status::Empty);  // moved to the DLQ on the way
  const std::vector<DeadLetter> l = list_dead_letters(h.view);
  ASSERT_EQ(l.size(), 1U);
  EXPECT_EQ(l[0].id, c.pos);
  EXPECT_TRUE(l[0].data.empty());
}

TEST(DlqTest, ReplayDeliversAgainToTheGroupThatGaveUpWithTheSameId) {
  HeapQueue h = two_groups();
  const std::uint64_t id = dead_letter_one(h.view, 77);
  const std::uint32_t index = list_dead_letters(h.view).at(0).index;
  ASSERT_EQ(replay_dead_letter(h.view, index, kA, 999), Status::Ok);
  EXPECT_TRUE(list_dead_letters(h.view).empty());

  EXPECT_EQ(take(h.view, 1).status, Status::Empty);  // b acked it already
  const Delivery d = take(h.view, 0);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(d.count, 1U);
  EXPECT_EQ(h.view.slot(h.view.slot_of(d.pos)).id, id);
  EXPECT_EQ(h.view.slot(h.view.slot_of(d.pos)).commit_ns, 999U);
  EXPECT_EQ(value_at(h.view, d.pos), 77U);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);

  // The slot is free again: every slot of the ring can be used.
  const AuditReport a = audit(h.view);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.free, 4U);
  for (std::uint32_t i = 0; i < 4; ++i) produce(h.view, i);
}

TEST(DlqTest, ReplayOnAFullQueueChangesNothing) {
  HeapQueue h = two_groups(2);
  dead_letter_one(h.view, 77);
  produce(h.view, 1);
  produce(h.view, 2);
  EXPECT_EQ(replay_dead_letter(h.view, 0, kA, 1), Status::QueueFull);
  const std::vector<DeadLetter> l = list_dead_letters(h.view);
  ASSERT_EQ(l.size(), 1U);
  EXPECT_EQ(l[0].replaying, kNoOwner);  // given back
}

TEST(DlqTest, PurgeFreesTheEntryAndItCanBeReused) {
  HeapQueue h(params(4, 64, {group("a", false, 1)}, 1));
  dead_letter_one(h.view, 1);
  EXPECT_FALSE(purge_dead_letter(h.view, 1));  // out of range
  EXPECT_TRUE(purge_dead_letter(h.view, 0));
  EXPECT_FALSE(purge_dead_letter(h.view, 0));  // already free
  EXPECT_TRUE(list_dead_letters(h.view).empty());
  dead_letter_one(h.view, 2);  // the only entry is free for the next one
  EXPECT_EQ(list_dead_letters(h.view).size(), 1U);
  EXPECT_EQ(queue_stats(h.view).dead_letters, 1U);
}

// Step 1 of a replay, by hand: the entry names `replayer`.
bool stamp_replayer(const QueueView& q, std::uint32_t index, Owner replayer) {
  Word w = q.dlq_entry(index).state.load();
  return q.dlq_entry(index).state.compare_exchange_strong(
      w, make_word(word_lap(w), static_cast<std::uint8_t>(DlqState::Full), 0, replayer));
}

TEST(DlqTest, EntryHeldByALiveReplayerIsLeftAloneAndTakenOverOnceItIsGone) {
  HeapRegistry reg;
  reg.make_alive(kA);
  reg.make_alive(kB);
  HeapQueue h = two_groups();
  h.view.sessions = reg.view.sessions;
  dead_letter_one(h.view, 77);
  // A replayer claimed the entry (step 1) and stopped there.
  const Owner replayer = reg.claim(10);
  ASSERT_TRUE(stamp_replayer(h.view, 0, replayer));
  EXPECT_EQ(list_dead_letters(h.view).at(0).replaying, replayer);
  EXPECT_EQ(replay_dead_letter(h.view, 0, kA, 1), Status::InvalidHandle);
  EXPECT_FALSE(purge_dead_letter(h.view, 0));
  EXPECT_TRUE(audit(h.view).ok());

  // It died: the next replay takes the entry over, and nothing was lost.
  ASSERT_TRUE(release_session(reg.view, replayer));
  ASSERT_EQ(replay_dead_letter(h.view, 0, kA, 1), Status::Ok);
  const Delivery d = take(h.view, 0);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(value_at(h.view, d.pos), 77U);
}

TEST(DlqTest, ReplayerKilledBeforeFreeingTheEntryLeavesADuplicateNotALoss) {
  HeapRegistry reg;
  reg.make_alive(kA);
  reg.make_alive(kB);
  HeapQueue h = two_groups();
  h.view.sessions = reg.view.sessions;
  const std::uint64_t id = dead_letter_one(h.view, 77);
  const Owner replayer = reg.claim(10);
  const Word full = h.view.dlq_entry(0).state.load();
  ASSERT_EQ(replay_dead_letter(h.view, 0, replayer, 1), Status::Ok);
  // Rewind the last step (entry Full(lap, me) -> Free), as if killed before it.
  h.view.dlq_entry(0).state.store(make_word(word_lap(full), static_cast<std::uint8_t>(DlqState::Full), 0, replayer));
  ASSERT_TRUE(release_session(reg.view, replayer));
  (void)recover_session(h.view, replayer, false);
  EXPECT_TRUE(audit(h.view).ok());

  // The message is in the ring (delivered), and a second replay delivers it again.
  ASSERT_EQ(replay_dead_letter(h.view, 0, kA, 2), Status::Ok);
  for (int n = 0; n < 2; ++n) {
    const Delivery d = take(h.view, 0);
    ASSERT_EQ(d.status, Status::Ok);
    EXPECT_EQ(h.view.slot(h.view.slot_of(d.pos)).id, id);
    ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kB, LeaseState::Done), Status::Ok);
  }
  EXPECT_EQ(take(h.view, 0).status, Status::Empty);
  EXPECT_TRUE(list_dead_letters(h.view).empty());
}

TEST(DlqTest, ReplayerKilledAfterClaimingASlotLosesNothing) {
  HeapRegistry reg;
  reg.make_alive(kA);
  reg.make_alive(kB);
  HeapQueue h = two_groups();
  h.view.sessions = reg.view.sessions;
  dead_letter_one(h.view, 77);
  const Owner replayer = reg.claim(10);
  // Steps 1 and 2 done by hand, then the replayer dies.
  ASSERT_TRUE(stamp_replayer(h.view, 0, replayer));
  ASSERT_EQ(try_claim(h.view, replayer).status, Status::Ok);
  ASSERT_TRUE(release_session(reg.view, replayer));
  EXPECT_EQ(recover_session(h.view, replayer, false).loans_aborted, 1U);
  EXPECT_TRUE(audit(h.view).ok());

  ASSERT_EQ(replay_dead_letter(h.view, 0, kA, 1), Status::Ok);
  const Delivery d = take(h.view, 0);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(value_at(h.view, d.pos), 77U);
}

}  // namespace
}  // namespace shmq::detail
