#include "layout/queue_view.hpp"

#include <bit>
#include <cstring>

#include "layout/crash_point.hpp"
#include "layout/header.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

namespace {

// Positions count up from `capacity` by one per message: 2^62 takes a century
// at 10^9 messages a second. Cursors past it are corrupt, and refusing them
// keeps every walk over positions (pos <= next, pos += capacity) from wrapping.
constexpr std::uint64_t kMaxPosition = std::uint64_t{1} << 62;

QueueOffsets offsets_of(const QueueParams& p) noexcept {
  return queue_offsets(p.capacity, p.slot_size, static_cast<std::uint32_t>(p.groups.size()), p.dlq_capacity);
}

template <std::size_t N>
void copy_name(char (&dst)[N], const std::string& src) noexcept {
  std::memset(dst, 0, N);
  std::memcpy(dst, src.data(), std::min(src.size(), N - 1));
}

}  // namespace

std::uint64_t queue_segment_size(const QueueParams& p) noexcept { return offsets_of(p).total; }

void init_queue_segment(std::byte* base, const QueueParams& p) noexcept {
  const QueueOffsets o = offsets_of(p);
  auto* info = reinterpret_cast<QueueInfo*>(base + sizeof(SegmentHeader));
  copy_name(info->namespace_name, p.namespace_name);
  copy_name(info->name, p.name);
  info->capacity = p.capacity;
  info->slot_size = p.slot_size;
  info->slot_stride = o.slot_stride;
  info->group_count = static_cast<std::uint32_t>(p.groups.size());
  info->dlq_capacity = p.dlq_capacity;
  info->mode = p.mode;
  info->created_realtime_ns = p.created_realtime_ns;
  info->creator_pid = p.creator_pid;
  info->groups_offset = o.groups;
  info->attachments_offset = o.attachments;
  info->slots_offset = o.slots;
  info->leases_offset = o.leases;
  info->dlq_offset = o.dlq;
  for (std::size_t g = 0; g < p.groups.size(); ++g) info->groups[g] = p.groups[g];

  // Cursors start at `capacity` (lap 1); every slot and lease word of a zeroed
  // segment already reads as lap 0, Aborted / Done: free for lap 1.
  auto* hot = reinterpret_cast<QueueHot*>(base + kQueueHotOffset);
  hot->tail.store(p.capacity, kRelaxed);
  auto* groups = reinterpret_cast<GroupState*>(base + o.groups);
  for (std::size_t g = 0; g < p.groups.size(); ++g) groups[g].next.store(p.capacity, kRelaxed);
  static_assert(slot_word(0, SlotState::Aborted, kNoOwner) == 0 && lease_word(0, LeaseState::Done, 0, kNoOwner) == 0);
  SHMQ_CRASH_POINT("create.written");

  seal_segment_header(base, kQueueMagic, SegmentKind::Queue, sizeof(QueueInfo), o.total);
}

QueueView open_queue_view(std::byte* base, std::size_t size, const std::string& expected_namespace,
                          const std::string& what) {
  validate_segment_header(base, size, kQueueMagic, SegmentKind::Queue, sizeof(QueueInfo), what);
  // Validated and used as one local copy: the segment's writer may rewrite
  // the shared one between any two reads (DESIGN.md section 6).
  QueueInfo copy{};
  std::memcpy(&copy, base + sizeof(SegmentHeader), sizeof copy);
  const QueueInfo* const info = &copy;
  const std::string fix = "; remove it with `shmq-cli gc` or recreate the queue";
  if (reinterpret_cast<const SegmentHeader*>(base)->removed.load(kRelaxed) != 0)
    throw Error(errc::not_found, what + " was deleted but its name was left behind (the deleting process died); "
                                        "`shmq-cli delete` or `shmq-cli gc` removes it, or create the queue again");
  const std::string ns = fixed_string(info->namespace_name);
  if (ns != expected_namespace)
    throw Error(errc::namespace_mismatch,
                what + " belongs to namespace '" + ns + "', not '" + expected_namespace + "'" + fix);
  const std::uint32_t c = info->capacity;
  if (c == 0 || c > kMaxCapacity || !std::has_single_bit(c) || info->slot_size == 0 || info->slot_size > kMaxSlotSize ||
      info->group_count == 0 || info->group_count > kMaxGroups)
    throw Error(errc::corrupt_segment, what + " has impossible sizes (capacity " + std::to_string(c) + ", slot size " +
                                           std::to_string(info->slot_size) + ", groups " +
                                           std::to_string(info->group_count) + ")" + fix);
  const QueueOffsets o = queue_offsets(c, info->slot_size, info->group_count, info->dlq_capacity);
  if (o.total != size || o.slot_stride != info->slot_stride || o.groups != info->groups_offset ||
      o.attachments != info->attachments_offset || o.slots != info->slots_offset || o.leases != info->leases_offset ||
      o.dlq != info->dlq_offset)
    throw Error(errc::corrupt_segment, what + " has offsets that do not match its sizes" + fix);
  for (std::uint32_t g = 0; g < info->group_count; ++g) {
    const GroupInfo& gi = info->groups[g];
    if (gi.max_deliveries == 0 || gi.max_deliveries > kMaxDeliveries || gi.at_most_once > 1 ||
        gi.lease_timeout_ms == 0 || gi.lease_timeout_ms > kMaxLeaseTimeoutMs)
      throw Error(errc::corrupt_segment, what + " has a bad setting for group " + std::to_string(g) + fix);
  }
  // A group's next passes a position only after a producer claimed it, so it
  // is never ahead of the tail by a whole ring.
  const auto* hot = reinterpret_cast<const QueueHot*>(base + kQueueHotOffset);
  const auto* groups = reinterpret_cast<const GroupState*>(base + o.groups);
  const std::uint64_t tail = hot->tail.load(kAcquire);
  if (tail < c || tail > kMaxPosition)
    throw Error(errc::corrupt_segment, what + " has a tail cursor out of range (" + std::to_string(tail) + ")" + fix);
  for (std::uint32_t g = 0; g < info->group_count; ++g) {
    const std::uint64_t next = groups[g].next.load(kAcquire);
    if (next < c || next > tail + c)
      throw Error(errc::corrupt_segment, what + " has a cursor of group " + std::to_string(g) + " out of range (" +
                                             std::to_string(next) + ", tail " + std::to_string(tail) + ")" + fix);
  }

  QueueView q;
  q.base = base;
  q.hot = reinterpret_cast<QueueHot*>(base + kQueueHotOffset);
  q.groups = reinterpret_cast<GroupState*>(base + o.groups);
  q.attachments = reinterpret_cast<Attachment*>(base + o.attachments);
  q.slots = base + o.slots;
  q.leases = reinterpret_cast<LeaseEntry*>(base + o.leases);
  q.dlq = base + o.dlq;
  q.capacity = c;
  q.mask = c - 1;
  q.shift = static_cast<std::uint32_t>(std::countr_zero(c));
  q.stride = o.slot_stride;
  q.group_count = info->group_count;
  q.dlq_capacity = info->dlq_capacity;
  // Copied from the bytes validated above; a rewrite after this changes nothing here.
  q.settings.slot_size = info->slot_size;
  q.settings.mode = info->mode;
  std::copy_n(info->groups, q.group_count, q.settings.groups.begin());
  return q;
}

void mark_removed(const QueueView& q) noexcept {
  reinterpret_cast<SegmentHeader*>(q.base)->removed.store(1, kRelaxed);
}

std::string group_name(const QueueView& q, std::uint32_t g) {
  return g < q.group_count ? fixed_string(q.group_info(g).name) : "?";
}

int find_group(const QueueView& q, const std::string& name) noexcept {
  for (std::uint32_t g = 0; g < q.group_count; ++g)
    if (fixed_string(q.group_info(g).name) == name) return static_cast<int>(g);
  return -1;
}

}  // namespace shmq::detail
