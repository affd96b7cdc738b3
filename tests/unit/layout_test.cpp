// Pins the shared layout field by field: two builds that disagree on one offset
// would corrupt each other's queues. Changing anything here means bumping
// kLayoutVersion.
#include <gtest/gtest.h>

#include <cstring>

#include "heap_queue.hpp"
#include "layout/header.hpp"
#include "layout/layout.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

TEST(LayoutTest, VersionAndMagicArePinned) {
  EXPECT_EQ(kLayoutVersion, 4U);
  EXPECT_EQ(kQueueMagic, 0x3145555151'4d4853ULL);
  EXPECT_EQ(kRegistryMagic, 0x3147455251'4d4853ULL);
}

TEST(LayoutTest, StructSizesAndOffsetsArePinned) {
  EXPECT_EQ(sizeof(SegmentHeader), 64U);
  EXPECT_EQ(offsetof(SegmentHeader, removed), 40U);
  EXPECT_EQ(sizeof(QueueInfo), 1600U);
  EXPECT_EQ(offsetof(QueueInfo, name), 40U);
  EXPECT_EQ(offsetof(QueueInfo, slot_size), 116U);
  EXPECT_EQ(offsetof(QueueInfo, dlq_offset), 184U);
  EXPECT_EQ(sizeof(GroupInfo), 88U);
  EXPECT_EQ(offsetof(GroupInfo, lease_timeout_ms), 80U);
  EXPECT_EQ(sizeof(QueueHot), 640U);
  EXPECT_EQ(offsetof(QueueHot, producers_parked), 256U);
  EXPECT_EQ(offsetof(QueueHot, consumers_parked), 512U);
  EXPECT_EQ(kParkWords, 16U);
  EXPECT_EQ(sizeof(GroupState), 256U);
  EXPECT_EQ(offsetof(GroupState, recovered), 176U);
  EXPECT_EQ(offsetof(GroupState, dropped), 184U);
  EXPECT_EQ(sizeof(Attachment), 128U);
  EXPECT_EQ(offsetof(Attachment, reserved), 16U);
  EXPECT_EQ(sizeof(SlotHeader), 64U);
  EXPECT_EQ(offsetof(SlotHeader, commit_ns), 16U);
  EXPECT_EQ(sizeof(LeaseEntry), 16U);
  EXPECT_EQ(sizeof(DlqHeader), 64U);
  EXPECT_EQ(offsetof(DlqHeader, group), 48U);
  EXPECT_EQ(sizeof(SessionEntry), 128U);
  EXPECT_EQ(offsetof(SessionEntry, comm), 48U);
  EXPECT_EQ(kRegistrySize, 4096U + 256U * 128U);
}

TEST(LayoutTest, HotWordsOfDifferentWritersAreOnDifferentLines) {
  EXPECT_GE(offsetof(QueueHot, space_futex) - offsetof(QueueHot, tail), kFalseSharingRange);
  EXPECT_GE(offsetof(QueueHot, data_futex) - offsetof(QueueHot, space_futex), kFalseSharingRange);
  EXPECT_GE(offsetof(GroupState, redeliver_gen) - offsetof(GroupState, next), kFalseSharingRange);
}

TEST(LayoutTest, WordBitsArePinned) {
  const Word w = lease_word(0xABCDEF, LeaseState::Pending, 0x123, make_owner(0x45, 0x6789));
  EXPECT_EQ(w, 0x678945'123'2'ABCDEFULL);
  EXPECT_EQ(word_lap(w), 0xABCDEFU);
  EXPECT_EQ(lease_state(w), LeaseState::Pending);
  EXPECT_EQ(word_count(w), 0x123U);
  EXPECT_EQ(owner_index(word_owner(w)), 0x45U);
  EXPECT_EQ(owner_generation(word_owner(w)), 0x6789U);
  EXPECT_EQ(make_session_word(7, SessionState::Fenced, 4'000'000), 0x0000'0007'0200'0000ULL | 4'000'000ULL);
  EXPECT_EQ(deadline_ms(make_deadline(123456, w)), 123456U);
  EXPECT_EQ(deadline_word_tag(make_deadline(1, w)), ((0xABCDEFU & 0xFFFFFU) << 4) | 0x3U);
}

TEST(LayoutTest, OffsetsOfAKnownQueueArePinned) {
  const QueueOffsets o = queue_offsets(1024, 100, 2, 16);
  EXPECT_EQ(o.slot_stride, 192U);
  EXPECT_EQ(o.groups, 4096U + 640U);
  EXPECT_EQ(o.attachments, 4096U + 640U + 512U);
  EXPECT_EQ(o.slots, 40960U);
  EXPECT_EQ(o.leases, 40960U + 1024U * 192U);
  EXPECT_EQ(o.dlq, o.leases + 2U * 1024U * 16U);
  EXPECT_EQ(o.total, (o.dlq + 16U * 192U + 4095U) / 4096U * 4096U);
}

// ---- opening damaged segments ----------------------------------------------------

class SegmentCheckTest : public ::testing::Test {
 protected:
  test::HeapQueue h{test::params(8)};
  std::byte* base() { return h.bytes.get(); }
  SegmentHeader& header() { return *reinterpret_cast<SegmentHeader*>(base()); }
  void expect_error(std::size_t size, errc code, const char* words, const char* ns = "unit") {
    try {
      (void)open_queue_view(base(), size, ns, "queue 'q'");
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("queue 'q'"), std::string::npos) << e.what();
    }
  }
};

TEST_F(SegmentCheckTest, IntactSegmentOpens) { EXPECT_NO_THROW((void)open_queue_view(base(), h.size, "unit", "q")); }

TEST_F(SegmentCheckTest, TruncatedIsCorrupt) {
  expect_error(100, errc::corrupt_segment, "truncated");
  expect_error(h.size - 4096, errc::corrupt_segment, "truncated");
}

TEST_F(SegmentCheckTest, BadMagicIsCorrupt) {
  header().magic ^= 1;
  expect_error(h.size, errc::corrupt_segment, "magic");
}

TEST_F(SegmentCheckTest, RegistryIsNotAQueue) {
  header().kind = static_cast<std::uint32_t>(SegmentKind::Registry);
  expect_error(h.size, errc::corrupt_segment, "magic");
}

TEST_F(SegmentCheckTest, HalfInitialisedIsCorrupt) {
  header().layout_version.store(0);
  expect_error(h.size, errc::corrupt_segment, "not fully initialised");
}

TEST_F(SegmentCheckTest, OtherLayoutVersionIsMismatch) {
  header().layout_version.store(kLayoutVersion + 1);
  const std::string words = "layout version " + std::to_string(kLayoutVersion + 1);
  expect_error(h.size, errc::version_mismatch, words.c_str());
}

TEST_F(SegmentCheckTest, FlippedInfoByteFailsChecksum) {
  reinterpret_cast<QueueInfo*>(base() + sizeof(SegmentHeader))->capacity = 16;
  expect_error(h.size, errc::corrupt_segment, "checksum");
}

TEST_F(SegmentCheckTest, OtherNamespaceIsMismatch) { expect_error(h.size, errc::namespace_mismatch, "'unit'", "other"); }

TEST_F(SegmentCheckTest, ImpossibleSizesUnderAValidChecksumAreCorrupt) {
  auto* info = reinterpret_cast<QueueInfo*>(base() + sizeof(SegmentHeader));
  info->capacity = 12;  // not a power of two; re-seal so only the sizes are wrong
  seal_segment_header(base(), kQueueMagic, SegmentKind::Queue, sizeof(QueueInfo), h.size);
  expect_error(h.size, errc::corrupt_segment, "impossible sizes");
}

TEST_F(SegmentCheckTest, OffsetsThatDisagreeWithSizesAreCorrupt) {
  auto* info = reinterpret_cast<QueueInfo*>(base() + sizeof(SegmentHeader));
  info->leases_offset += 64;
  seal_segment_header(base(), kQueueMagic, SegmentKind::Queue, sizeof(QueueInfo), h.size);
  expect_error(h.size, errc::corrupt_segment, "offsets");
}

TEST_F(SegmentCheckTest, HeaderSizeOtherThanMappingIsCorrupt) {
  header().total_size += 4096;
  expect_error(h.size, errc::corrupt_segment, "header says");
}

}  // namespace
}  // namespace shmq::detail
