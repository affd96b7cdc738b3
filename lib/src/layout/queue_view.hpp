// A process-local view of a queue segment: typed accessors computed once from
// the validated header, plus the initialisation and validation of the bytes.
// No system calls: unit tests run all of it on a heap buffer.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "layout/layout.hpp"
#include "layout/memory_order.hpp"

namespace shmq::detail {

// What a new queue segment is initialised from (already validated by the caller).
struct QueueParams {
  std::string namespace_name;
  std::string name;
  std::uint32_t capacity = 0;
  std::uint32_t slot_size = 0;
  std::uint32_t dlq_capacity = 0;
  std::uint32_t mode = 0600;
  std::uint32_t creator_pid = 0;
  std::uint64_t created_realtime_ns = 0;
  std::vector<GroupInfo> groups;
};

// Bytes a segment with these parameters needs.
std::uint64_t queue_segment_size(const QueueParams& p) noexcept;

// Writes a fresh queue into `base` (at least queue_segment_size bytes, zeroed),
// storing the layout version last.
void init_queue_segment(std::byte* base, const QueueParams& p) noexcept;

// The settings of a queue, copied out of its QueueInfo when the segment is
// opened and never read from the segment again: whoever may write the segment
// may rewrite them at any time (DESIGN.md section 6), and they bound every
// copy, index and lease.
struct QueueSettings {
  std::uint32_t slot_size = 0;  // payload bytes per slot
  std::uint32_t mode = 0;       // permission bits it was created with (shown, never enforced from here)
  std::array<GroupInfo, kMaxGroups> groups{};  // [0, QueueView::group_count) are the queue's
};

struct QueueView {
  std::byte* base = nullptr;
  QueueHot* hot = nullptr;
  GroupState* groups = nullptr;
  Attachment* attachments = nullptr;
  std::byte* slots = nullptr;
  LeaseEntry* leases = nullptr;
  std::byte* dlq = nullptr;
  // The registry's session table, to tell whether an owner may still run
  // (nullptr in unit tests: every owner counts as gone).
  const SessionEntry* sessions = nullptr;
  std::uint32_t capacity = 0;
  std::uint32_t mask = 0;
  std::uint32_t shift = 0;  // log2(capacity)
  std::uint32_t stride = 0;
  std::uint32_t group_count = 0;
  std::uint32_t dlq_capacity = 0;
  QueueSettings settings;

  [[nodiscard]] std::uint32_t slot_of(std::uint64_t pos) const noexcept { return static_cast<std::uint32_t>(pos & mask); }
  [[nodiscard]] std::uint32_t lap_of(std::uint64_t pos) const noexcept {
    return static_cast<std::uint32_t>(pos >> shift) & kLapMask;
  }
  [[nodiscard]] SlotHeader& slot(std::uint32_t s) const noexcept {
    return *reinterpret_cast<SlotHeader*>(slots + std::size_t{s} * stride);
  }
  [[nodiscard]] std::byte* payload(std::uint32_t s) const noexcept {
    return slots + std::size_t{s} * stride + sizeof(SlotHeader);
  }
  [[nodiscard]] LeaseEntry& lease(std::uint32_t g, std::uint32_t s) const noexcept {
    return leases[std::size_t{g} * capacity + s];
  }
  [[nodiscard]] DlqHeader& dlq_entry(std::uint32_t i) const noexcept {
    return *reinterpret_cast<DlqHeader*>(dlq + std::size_t{i} * stride);
  }
  [[nodiscard]] std::byte* dlq_payload(std::uint32_t i) const noexcept {
    return dlq + std::size_t{i} * stride + sizeof(DlqHeader);
  }
  // Payload bytes of slot s / dead letter i as a reader may copy them: the
  // length the writer stored, but never more than slot_size (the copy made at
  // open), so a corrupt length cannot take a reader (or a dead-letter copy)
  // past the payload.
  [[nodiscard]] std::uint32_t payload_length(std::uint32_t s) const noexcept {
    return std::min(slot(s).length, settings.slot_size);
  }
  [[nodiscard]] std::uint32_t dlq_payload_length(std::uint32_t i) const noexcept {
    return std::min(dlq_entry(i).length, settings.slot_size);
  }
  // Group g's settings (g < group_count), as copied at open.
  [[nodiscard]] const GroupInfo& group_info(std::uint32_t g) const noexcept { return settings.groups[g]; }
  [[nodiscard]] std::uint32_t slot_size() const noexcept { return settings.slot_size; }
  // Whether the queue was deleted (its name unlinked, or about to be): send
  // and receive return QueueDeleted once it is.
  [[nodiscard]] bool removed() const noexcept {
    return reinterpret_cast<const SegmentHeader*>(base)->removed.load(kRelaxed) != 0;
  }
};

// Marks the queue deleted (SegmentHeader::removed) for every process that maps
// it; the caller wakes its parked processes, then unlinks its name.
void mark_removed(const QueueView& q) noexcept;

// Checks the header of `size` bytes at `base` (magic, kind, version, checksum,
// sizes and offsets against `size`, the cursors' range) and builds a view. Throws shmq::Error:
// corrupt_segment, version_mismatch or namespace_mismatch, naming `what`.
QueueView open_queue_view(std::byte* base, std::size_t size, const std::string& expected_namespace,
                          const std::string& what);

// Index of the group called `name`, or -1.
int find_group(const QueueView& q, const std::string& name) noexcept;
// The name of group `g` ("?" past the last group).
std::string group_name(const QueueView& q, std::uint32_t g);

}  // namespace shmq::detail
