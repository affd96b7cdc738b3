// Findings of the segment fuzzer (fuzz/targets/segment_target.cpp), one test
// each: a queue segment whose state words are corrupt is refused when it is
// opened, or its readers stay inside it. The fuzzer's inputs for them are in
// fuzz/regressions/segment/ (fuzz_corpus_test replays them).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "core/dlq.hpp"
#include "core/inspect.hpp"
#include "core/ring.hpp"
#include "heap_queue.hpp"
#include "layout/header.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

using test::group;
using test::HeapQueue;
using test::params;

constexpr Owner kA = make_owner(1, 1);
constexpr std::uint32_t kSlotSize = 64;

// The errc that opening the queue's bytes again throws (nullopt if none).
std::optional<errc> open_error(const HeapQueue& h) {
  try {
    (void)open_queue_view(h.bytes.get(), h.size, "unit", "heap queue");
  } catch (const Error& e) {
    return e.value();
  }
  return std::nullopt;
}

// fuzz/regressions/segment/group-cursor-at-end: a consumer's redelivery scan
// (pos <= next) and the lease expiry (pos += capacity) never ended.
TEST(CorruptSegmentTest, OpenRefusesAGroupCursorNearTheEndOfPositions) {
  HeapQueue h(params(4));
  h.view.groups[0].next.store(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(open_error(h), errc::corrupt_segment);
}

// fuzz/regressions/segment/tail-at-end
TEST(CorruptSegmentTest, OpenRefusesATailCursorNearTheEndOfPositions) {
  HeapQueue h(params(4));
  h.view.hot->tail.store(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(open_error(h), errc::corrupt_segment);
}

TEST(CorruptSegmentTest, OpenRefusesCursorsBelowTheFirstPositionOrARingPastTheTail) {
  HeapQueue h(params(4));
  h.view.groups[0].next.store(3);  // positions start at capacity
  EXPECT_EQ(open_error(h), errc::corrupt_segment);
  h.view.groups[0].next.store(4 + 4 + 1);  // tail 4
  EXPECT_EQ(open_error(h), errc::corrupt_segment);
  h.view.groups[0].next.store(4 + 4);
  EXPECT_EQ(open_error(h), std::nullopt);
}

// fuzz/regressions/segment/receive-length-past-slot: try_receive gave a
// message as long as the slot header said, past the end of the slot.
TEST(CorruptSegmentTest, ReadersNeverTakeMoreThanTheSlotSize) {
  HeapQueue h(params(4, kSlotSize));
  const std::uint64_t pos = test::produce_value(h.view, 42, kA);
  h.view.slot(h.view.slot_of(pos)).length = 1U << 20;
  EXPECT_EQ(h.view.payload_length(h.view.slot_of(pos)), kSlotSize);
  const std::vector<PeekedMessage> peeked = peek_messages(h.view, 0, 4);
  ASSERT_EQ(peeked.size(), 1U);
  EXPECT_EQ(peeked[0].data.size(), kSlotSize);
}

// fuzz/regressions/segment/dead-letter-length-past-slot: moving a message to
// the dead-letter area copied as many bytes as the slot header said (1 MiB
// here) over the rest of the segment.
TEST(CorruptSegmentTest, DeadLetterCopiesAtMostTheSlotSize) {
  HeapQueue h(params(4, kSlotSize, {group("default", false, 1)}));
  const std::uint64_t pos = test::produce_value(h.view, 42, kA);
  const Delivery d = test::take_message(h.view, 0, kA);
  ASSERT_EQ(d.status, Status::Ok);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kA, LeaseState::Pending), Status::Ok);
  const std::uint32_t s = h.view.slot_of(pos);
  h.view.slot(s).length = 1U << 20;
  const Word pending = h.view.lease(0, s).word.load();
  ASSERT_TRUE(dead_letter(h.view, 0, pos, pending, kA, 0));
  const std::vector<DeadLetter> dead = list_dead_letters(h.view);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].data.size(), kSlotSize);
  EXPECT_EQ(h.view.dlq_entry(dead[0].index).length, kSlotSize);
}

// fuzz/regressions/segment/group-cursor-lap-ahead: every lease word of the
// group a lap behind what its cursor expects made take_next walk 2^24 laps
// (seconds at capacity 4, hours for a large queue) before it found a match.
TEST(CorruptSegmentTest, TakeNextStopsARingPastTheTail) {
  HeapQueue h(params(4));
  (void)test::produce_value(h.view, 42, kA);          // tail 5
  h.view.groups[0].next.store(9);                      // lap 2, leases at lap 0
  ASSERT_EQ(open_error(h), std::nullopt);            // within a ring of the tail
  EXPECT_EQ(take_next(h.view, 0, kA).status, Status::Empty);
  EXPECT_LE(h.view.groups[0].next.load(), h.view.hot->tail.load() + h.view.capacity);
}

// ---- settings rewritten after open ------------------------------------------------
// The queue's owner may rewrite its QueueInfo while shmqd and other users'
// processes have it mapped (DESIGN.md section 6): what the view copied at
// open stays what bounds every copy and lease.

QueueInfo& shared_info(const HeapQueue& h) {
  return *reinterpret_cast<QueueInfo*>(h.bytes.get() + sizeof(SegmentHeader));
}

// Seals the header again after a rewrite, as a writer that wants it opened would.
void reseal(const HeapQueue& h) {
  seal_segment_header(h.bytes.get(), kQueueMagic, SegmentKind::Queue, sizeof(QueueInfo), h.size);
}

TEST(CorruptSegmentTest, ASlotSizeRewrittenAfterOpenBoundsNoCopy) {
  HeapQueue h(params(4, kSlotSize, {group("default", false, 1)}));
  const std::uint64_t pos = test::produce_value(h.view, 42, kA);
  const std::uint32_t s = h.view.slot_of(pos);
  shared_info(h).slot_size = 1U << 24;
  h.view.slot(s).length = 1U << 20;
  EXPECT_EQ(h.view.slot_size(), kSlotSize);
  EXPECT_EQ(h.view.payload_length(s), kSlotSize);
  const std::vector<PeekedMessage> peeked = peek_messages(h.view, 0, 4);
  ASSERT_EQ(peeked.size(), 1U);
  EXPECT_EQ(peeked[0].data.size(), kSlotSize);
  // The dead-letter move (shmqd's, as root) copies no more than the slot either.
  const Delivery d = test::take_message(h.view, 0, kA);
  ASSERT_EQ(d.status, Status::Ok);
  ASSERT_EQ(settle(h.view, 0, d.pos, d.count, kA, LeaseState::Pending), Status::Ok);
  ASSERT_TRUE(dead_letter(h.view, 0, pos, h.view.lease(0, s).word.load(), kA, 0));
  const std::vector<DeadLetter> dead = list_dead_letters(h.view);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].data.size(), kSlotSize);
}

TEST(CorruptSegmentTest, GroupSettingsRewrittenAfterOpenAreNotRead) {
  HeapQueue h(params(4, kSlotSize, {group("default", false, 5, 1000)}));
  GroupInfo& shared = shared_info(h).groups[0];
  shared.at_most_once = 1;
  shared.max_deliveries = 0;
  shared.lease_timeout_ms = std::numeric_limits<std::uint64_t>::max();
  std::memset(shared.name, 'x', sizeof shared.name);  // no terminating NUL
  EXPECT_EQ(h.view.group_info(0).at_most_once, 0U);
  EXPECT_EQ(h.view.group_info(0).max_deliveries, 5U);
  EXPECT_EQ(h.view.group_info(0).lease_timeout_ms, 1000U);
  EXPECT_EQ(find_group(h.view, "default"), 0);
  // A lease still gets the deadline the queue was created with.
  (void)test::produce_value(h.view, 42, kA);
  const Delivery d = test::take_message(h.view, 0, kA, 5);
  ASSERT_EQ(d.status, Status::Ok);
  EXPECT_EQ(deadline_ms(h.view.lease(0, h.view.slot_of(d.pos)).deadline.load()), 1005U);
}

TEST(CorruptSegmentTest, OpenRefusesALeaseTimeoutPastAYear) {
  HeapQueue h(params(4));
  shared_info(h).groups[0].lease_timeout_ms = kMaxLeaseTimeoutMs + 1;
  reseal(h);
  EXPECT_EQ(open_error(h), errc::corrupt_segment);
}

}  // namespace
}  // namespace shmq::detail
