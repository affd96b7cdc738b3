// The checks shmq-chaos passes its verdict with (tools/chaos/workers.hpp,
// checks.hpp): a payload names its origin only if every byte is intact and it
// carries the message's id, and the record map tells lost, duplicated, phantom
// and stray messages from allowed ones (in doubt, taken by a dead at-most-once
// consumer, dropped by a purge that reported it, dead-lettered).
#include <cstddef>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "checks.hpp"
#include "workers.hpp"

namespace shmq::chaos {
namespace {

TEST(ChaosPayloadTest, RoundTripsItsOrigin) {
  for (std::uint64_t seq : {0ULL, 1ULL, 123'456'789ULL}) {
    std::vector<std::byte> buf(payload_length(3, seq, 512));
    ASSERT_GE(buf.size(), kPayloadHeader);
    ASSERT_LE(buf.size(), 512U);
    write_payload(buf, 3, seq, seq + 7);
    Origin o;
    ASSERT_TRUE(read_payload(buf, o));
    EXPECT_EQ(o.producer, 3U);
    EXPECT_EQ(o.seq, seq);
    EXPECT_EQ(o.id, seq + 7);
  }
}

TEST(ChaosPayloadTest, AnotherMessagesIdOrAnUnknownOriginIsInvalid) {
  RunShape shape;
  shape.producers = 2;
  shape.per_producer = 100;
  std::vector<std::byte> buf(64);
  write_payload(buf, 1, 42, 1000);
  Origin o;
  EXPECT_TRUE(valid_payload(shape, buf, 1000, o));
  EXPECT_FALSE(valid_payload(shape, buf, 1001, o));  // intact, but another message's slot
  shape.producers = 1;
  EXPECT_FALSE(valid_payload(shape, buf, 1000, o));
}

TEST(ChaosPayloadTest, EveryFlippedByteIsDetected) {
  std::vector<std::byte> buf(200);
  write_payload(buf, 1, 42, 5);
  for (std::size_t i = 0; i < buf.size(); ++i) {
    std::vector<std::byte> bad = buf;
    bad[i] ^= std::byte{0x10};
    Origin o;
    EXPECT_FALSE(read_payload(bad, o)) << "byte " << i;
  }
}

TEST(ChaosPayloadTest, TruncatedOrTooShortIsDetected) {
  std::vector<std::byte> buf(100);
  write_payload(buf, 0, 7, 9);
  Origin o;
  EXPECT_FALSE(read_payload(std::span(buf).first(99), o));
  EXPECT_FALSE(read_payload(std::span(buf).first(kPayloadHeader - 1), o));
}

class ChaosRecordsTest : public ::testing::Test {
 protected:
  ChaosRecordsTest() : cells_(kGroups * 2 * 4) {
    shape_.producers = 2;
    shape_.per_producer = 4;
    shared_.records = cells_.data();
  }
  // Producer 0 committed 0..2, producer 1 nothing; every group recorded each once.
  void record_all_once() {
    for (std::uint32_t g = 0; g < kGroups; ++g)
      for (std::uint64_t seq = 0; seq < 3; ++seq) *shared_.cell(shape_, g, 0, seq) = 1;
  }
  RecordVerdict verdict(const std::vector<InDoubt>& in_doubt = {}, std::uint64_t amo_may_drop = 1,
                        const std::vector<PurgeRecord>& purges = {}, std::uint64_t replays_cut = 0) {
    return check_records(shape_, shared_, next_, Excuses{in_doubt, amo_may_drop, purges, replays_cut});
  }
  std::uint8_t& cell(std::uint32_t g, std::uint64_t seq) { return *shared_.cell(shape_, g, 0, seq); }
  // A purge that dropped `n` messages of group g, returning when producer 0
  // had committed (or was committing) `before` messages.
  static PurgeRecord purge(std::uint32_t g, std::uint64_t n, std::uint64_t before) {
    PurgeRecord r;
    r.dropped[g] = n;
    r.committed_before = {before, 0};
    return r;
  }

  RunShape shape_;
  std::vector<std::uint8_t> cells_;
  SharedLedger shared_;
  std::vector<std::uint64_t> next_{3, 0};
};

TEST_F(ChaosRecordsTest, EveryMessageOnceIsClean) {
  record_all_once();
  const RecordVerdict v = verdict();
  EXPECT_EQ(v.lost + v.duplicates + v.phantoms + v.amo_dropped, 0U);
  EXPECT_TRUE(v.samples.empty());
}

TEST_F(ChaosRecordsTest, AnUnrecordedAtLeastOnceMessageIsLost) {
  record_all_once();
  *shared_.cell(shape_, 1, 0, 2) = 0;
  const RecordVerdict v = verdict();
  EXPECT_EQ(v.lost, 1U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0], "lost: alo-short (producer 0, seq 2)");
}

TEST_F(ChaosRecordsTest, AnInDoubtMessageMayBeMissing) {
  record_all_once();
  for (std::uint32_t g = 0; g < kGroups; ++g) *shared_.cell(shape_, g, 0, 1) = 0;
  EXPECT_EQ(verdict({{0, 1}}).lost, 0U);
  EXPECT_EQ(verdict({{1, 1}}).lost, 3U);  // in doubt for another producer: no excuse
}

TEST_F(ChaosRecordsTest, AnInDoubtMessageOneGroupRecordedIsOwedToEveryGroup) {
  record_all_once();
  *shared_.cell(shape_, 1, 0, 1) = 0;  // alo-long has it: it was committed
  *shared_.cell(shape_, 2, 0, 1) = 0;
  const RecordVerdict v = verdict({{0, 1}});
  EXPECT_EQ(v.lost, 1U);
  EXPECT_EQ(v.amo_dropped, 1U);
  ASSERT_FALSE(v.samples.empty());
  EXPECT_EQ(v.samples[0], "lost: alo-short (producer 0, seq 1)");
}

TEST_F(ChaosRecordsTest, AnUnrecordedAtMostOnceMessageIsOnlyCountedWhileADeadConsumerExplainsIt) {
  record_all_once();
  *shared_.cell(shape_, 2, 0, 0) = 0;
  RecordVerdict v = verdict({}, 1);
  EXPECT_EQ(v.lost, 0U);
  EXPECT_EQ(v.amo_dropped, 1U);
  v = verdict({}, 0);  // no at-most-once consumer died: nothing explains it
  EXPECT_EQ(v.lost, 1U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0], "lost: 1 at-most-once messages missing, but only 0 consumers died or were fenced holding one");
}

TEST_F(ChaosRecordsTest, ASecondRecordNeedsARedelivery) {
  record_all_once();
  *shared_.cell(shape_, 0, 0, 0) = 2;
  EXPECT_EQ(verdict().duplicates, 1U);
  *shared_.cell(shape_, 0, 0, 0) = 2 | RecordCell::kRedelivered;
  EXPECT_EQ(verdict().duplicates, 0U);
  *shared_.cell(shape_, 2, 0, 0) = 2 | RecordCell::kRedelivered;  // at-most-once: never twice
  EXPECT_EQ(verdict().duplicates, 1U);
}

TEST_F(ChaosRecordsTest, ARecordOfANeverCommittedMessageIsAPhantom) {
  record_all_once();
  *shared_.cell(shape_, 0, 1, 0) = 1;
  *shared_.cell(shape_, 0, 0, 3) = 1;
  EXPECT_EQ(verdict().phantoms, 2U);
}

// ---- the dead-letter group ----------------------------------------------

TEST_F(ChaosRecordsTest, ALostMessageInTheDeadLetterGroupIsReported) {
  record_all_once();
  cell(kDlqGroup, 1) = 0;
  const RecordVerdict v = verdict();
  EXPECT_EQ(v.lost, 1U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0], "lost: alo-dlq (producer 0, seq 1)");
}

TEST_F(ChaosRecordsTest, ADeadLetterIsAccountedForInTheDeadLetterGroup) {
  record_all_once();
  cell(kDlqGroup, 1) = 0;
  RecordCell::dead_lettered(cell(kDlqGroup, 1));
  const RecordVerdict v = verdict();
  EXPECT_EQ(v.lost, 0U);
  EXPECT_EQ(v.dead_lettered, 1U);
  EXPECT_TRUE(v.samples.empty());
}

TEST_F(ChaosRecordsTest, AReplayedMessageMustBeAckedOrDeadLetteredAgain) {
  record_all_once();
  cell(kDlqGroup, 1) = 0;
  RecordCell::dead_lettered(cell(kDlqGroup, 1));
  RecordCell::replay_owed(cell(kDlqGroup, 1));
  RecordVerdict v = verdict();
  EXPECT_EQ(v.lost, 1U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0], "lost after a replay: alo-dlq (producer 0, seq 1)");
  RecordCell::dead_lettered(cell(kDlqGroup, 1));  // seen in the area again
  EXPECT_EQ(verdict().lost, 0U);
  RecordCell::replay_owed(cell(kDlqGroup, 1));
  RecordCell::add(cell(kDlqGroup, 1), +1, false);  // the replay acked
  EXPECT_EQ(verdict().lost, 0U);
}

TEST_F(ChaosRecordsTest, ADeadLetterInAGroupThatNeverNacksOftenIsStray) {
  record_all_once();
  RecordCell::dead_lettered(cell(0, 2));
  const RecordVerdict v = verdict();
  EXPECT_EQ(v.stray, 1U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0], "dead-lettered in a group that never nacks often: alo-long (producer 0, seq 2)");
  cell(0, 2) = RecordCell::kDeadLettered;  // and not acked: lost there too, dead letter or not
  EXPECT_EQ(verdict().lost, 1U);
}

TEST_F(ChaosRecordsTest, AnInDoubtMessageDeadLetteredSomewhereIsOwedToEveryGroup) {
  record_all_once();
  for (std::uint32_t g = 0; g < kGroups; ++g) cell(g, 1) = 0;
  RecordCell::dead_lettered(cell(kDlqGroup, 1));  // it was committed
  const RecordVerdict v = verdict({{0, 1}});
  EXPECT_EQ(v.lost, 2U);  // alo-long, alo-short
  EXPECT_EQ(v.amo_dropped, 1U);
}

TEST_F(ChaosRecordsTest, AReplayCutShortExplainsOneSecondDeliveryEach) {
  record_all_once();
  cell(kDlqGroup, 0) = 2 | RecordCell::kDeadLettered;  // two deliveries of count 1
  EXPECT_EQ(verdict().duplicates, 1U);
  RecordVerdict v = verdict({}, 1, {}, 1);
  EXPECT_EQ(v.duplicates, 0U);
  EXPECT_EQ(v.replay_duplicates, 1U);
  cell(kDlqGroup, 1) = 2 | RecordCell::kDeadLettered;
  v = verdict({}, 1, {}, 1);  // two of them, one keeper killed
  EXPECT_EQ(v.duplicates, 1U);
  EXPECT_EQ(v.replay_duplicates, 1U);
  cell(kDlqGroup, 2) = 2;  // never dead-lettered: no replay explains it
  EXPECT_EQ(verdict({}, 1, {}, 5).duplicates, 1U);
}

// ---- purges ----------------------------------------------------------------

TEST_F(ChaosRecordsTest, APurgeExcusesAtMostWhatItReported) {
  record_all_once();
  cell(0, 0) = cell(0, 1) = 0;
  RecordVerdict v = verdict({}, 1, {purge(0, 1, 3)});
  EXPECT_EQ(v.lost, 1U);
  EXPECT_EQ(v.purge_excused, 1U);
  v = verdict({}, 1, {purge(0, 2, 3)});
  EXPECT_EQ(v.lost, 0U);
  EXPECT_EQ(v.purge_excused, 2U);
  EXPECT_EQ(verdict({}, 1, {purge(1, 2, 3)}).lost, 2U);  // drops of another group excuse nothing here
}

TEST_F(ChaosRecordsTest, APurgeDoesNotCoverAMessageCommittedAfterItReturned) {
  record_all_once();
  cell(0, 2) = 0;
  const RecordVerdict v = verdict({}, 1, {purge(0, 5, 2)});  // seq 2 committed after the reply
  EXPECT_EQ(v.lost, 1U);
  EXPECT_EQ(v.purge_excused, 0U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0], "lost: alo-long (producer 0, seq 2)");
}

TEST_F(ChaosRecordsTest, ALaterPurgeMayDropAnEarlierMessageButNotTheReverse) {
  record_all_once();
  cell(0, 0) = 0;
  EXPECT_EQ(verdict({}, 1, {purge(0, 0, 1), purge(0, 1, 3)}).lost, 0U);
  cell(0, 0) = 1;
  cell(0, 2) = 0;
  EXPECT_EQ(verdict({}, 1, {purge(0, 1, 3), purge(0, 0, 3)}).lost, 0U);
  EXPECT_EQ(verdict({}, 1, {purge(0, 1, 2), purge(0, 0, 3)}).lost, 1U);  // the only drop came before seq 2
}

TEST_F(ChaosRecordsTest, AtMostOnceMissesMayBeChargedToPurgesAndDeadConsumers) {
  record_all_once();
  cell(2, 0) = cell(2, 1) = cell(2, 2) = 0;
  RecordVerdict v = verdict({}, 1, {purge(2, 1, 3)});
  EXPECT_EQ(v.lost, 1U);
  EXPECT_EQ(v.purge_excused, 1U);
  EXPECT_EQ(v.amo_dropped, 1U);
  ASSERT_EQ(v.samples.size(), 1U);
  EXPECT_EQ(v.samples[0],
            "lost: 2 at-most-once messages missing, but only 1 consumers died or were fenced holding one (purges "
            "excused 1 more)");
  EXPECT_EQ(verdict({}, 2, {purge(2, 1, 3)}).lost, 0U);
}

TEST(ChaosRecordCellTest, CountsSaturateAndKeepTheDeadLetterBits) {
  std::uint8_t c = 0;
  RecordCell::dead_lettered(c);
  RecordCell::replay_owed(c);
  for (int i = 0; i < 40; ++i) RecordCell::add(c, +1, i == 3);
  EXPECT_EQ(c & RecordCell::kCountMask, RecordCell::kCountMask);
  EXPECT_EQ(c & ~RecordCell::kCountMask, RecordCell::kRedelivered | RecordCell::kDeadLettered | RecordCell::kReplayOwed);
  RecordCell::dead_lettered(c);
  EXPECT_EQ(c & RecordCell::kReplayOwed, 0);
  for (int i = 0; i < 40; ++i) RecordCell::add(c, -1, false);
  EXPECT_EQ(c, RecordCell::kRedelivered | RecordCell::kDeadLettered);
}

}  // namespace
}  // namespace shmq::chaos
