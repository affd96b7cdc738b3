// The checks shmq-chaos passes its verdict with (tools/chaos/workers.hpp): a
// payload names its origin only if every byte is intact, and the record map
// tells lost, duplicated and phantom messages from allowed ones.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "workers.hpp"

namespace shmq::chaos {
namespace {

TEST(ChaosPayloadTest, RoundTripsItsOrigin) {
  for (std::uint64_t seq : {0ULL, 1ULL, 123'456'789ULL}) {
    std::vector<std::byte> buf(payload_length(3, seq, 512));
    ASSERT_GE(buf.size(), kPayloadHeader);
    ASSERT_LE(buf.size(), 512U);
    write_payload(buf, 3, seq);
    Origin o;
    ASSERT_TRUE(read_payload(buf, o));
    EXPECT_EQ(o.producer, 3U);
    EXPECT_EQ(o.seq, seq);
  }
}

TEST(ChaosPayloadTest, EveryFlippedByteIsDetected) {
  std::vector<std::byte> buf(200);
  write_payload(buf, 1, 42);
  for (std::size_t i = 0; i < buf.size(); ++i) {
    std::vector<std::byte> bad = buf;
    bad[i] ^= std::byte{0x10};
    Origin o;
    EXPECT_FALSE(read_payload(bad, o)) << "byte " << i;
  }
}

TEST(ChaosPayloadTest, TruncatedOrTooShortIsDetected) {
  std::vector<std::byte> buf(100);
  write_payload(buf, 0, 7);
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
  RecordVerdict verdict(const std::vector<InDoubt>& in_doubt = {}, std::uint64_t amo_may_drop = 1) {
    return check_records(shape_, shared_, next_, in_doubt, amo_may_drop);
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
  EXPECT_EQ(verdict({{1, 1}}).lost, 2U);  // in doubt for another producer: no excuse
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

}  // namespace
}  // namespace shmq::chaos
