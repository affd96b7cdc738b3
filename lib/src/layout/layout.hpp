// The shared-memory layout of shmq: the single definition of every byte that two
// processes share. Any change here bumps kLayoutVersion.
//
// Rules: no pointers (offsets from the segment base), no std::string, no
// mutexes; fixed padding constants (never hardware_destructive_interference_size,
// which varies with compiler flags); every atomic 64-bit word is lock-free.
//
// Queue segment "/dev/shm/shmq.<ns>.q.<name>":
//
//   0      SegmentHeader   magic, layout version (stored last), kind, checksum
//   64     QueueInfo       immutable configuration, covered by the checksum
//   4096   QueueHot        tail cursor | producer parking | consumer parking
//          GroupState[G]   per group: next cursor | redelivery gen | counters
//          Attachment[256] per session: owner, roles, groups
//          Slot[C]         64-byte SlotHeader + payload, stride multiple of 64
//          LeaseEntry[G][C] per group and slot: lease word + lease deadline
//          DlqEntry[D]     dead letters: 64-byte header + payload
//
// Registry segment "/dev/shm/shmq.<ns>.registry":
//
//   0      SegmentHeader
//   64     RegistryInfo    immutable, covered by the checksum
//   4096   SessionEntry[256]  one per attached process, 128 bytes each
//
// Positions: every message has a 64-bit position p (its first id); its slot is
// p % capacity and its lap is p / capacity. Cursors start at `capacity`, so
// lap 0 is the "already consumed" state a new segment is initialised to.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "layout/memory_order.hpp"

namespace shmq::detail {

inline constexpr std::uint64_t kQueueMagic = 0x3145'5551'514d'4853ULL;     // "SHMQQUE1"
inline constexpr std::uint64_t kRegistryMagic = 0x3147'4552'514d'4853ULL;  // "SHMQREG1"
inline constexpr std::uint32_t kLayoutVersion = 4;  // 4: SegmentHeader::removed

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kFalseSharingRange = 128;  // adjacent-line prefetch on x86
inline constexpr std::size_t kInfoPage = 4096;

inline constexpr std::uint32_t kMaxGroups = 16;
inline constexpr std::uint32_t kMaxSessions = 256;
inline constexpr std::uint32_t kMaxCapacity = 1U << 24;
inline constexpr std::uint32_t kMaxSlotSize = 1U << 30;
inline constexpr std::uint32_t kMaxDeliveries = 4095;  // the 12-bit count field
// A year: a deadline (now + this, in ms) still fits make_deadline's 40 bits.
inline constexpr std::uint64_t kMaxLeaseTimeoutMs = 365ULL * 24 * 3600 * 1000;
inline constexpr std::size_t kNameCapacity = 72;       // 64 chars + NUL, padded
inline constexpr std::size_t kNamespaceCapacity = 40;  // 32 chars + NUL, padded

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// ---- packed words ------------------------------------------------------------
//
// Slot words, lease words and DLQ words share one bit layout, so one set of
// accessors serves all three (a slot word's count is always 0):
//
//    63            40 39      28 27  24 23             0
//   +----------------+----------+------+----------------+
//   | owner (24)     | count(12)|state | lap (24)       |
//   +----------------+----------+------+----------------+
//
// owner: the session holding the word (0 = nobody) = generation << 8 | index.
//        In a Pending lease word: the session that made it Pending (nack,
//        give-back after a fence, expiry; a recovery writes the dead
//        session's own name) and may not yet have bumped the
//        group's redelivery generation; its recovery bumps the generation and
//        clears it. 0 when nobody owes the bump. Readers of Pending words take
//        them whatever the owner.
// lap:   position / capacity, modulo 2^24; compared only for equality with the
//        lap a caller expects, so the wrap is harmless.
using Word = std::uint64_t;
using Owner = std::uint32_t;

inline constexpr std::uint32_t kLapBits = 24;
inline constexpr std::uint32_t kLapMask = (1U << kLapBits) - 1;
inline constexpr Owner kNoOwner = 0;

// Slot states (the producer side of a slot).
enum class SlotState : std::uint8_t {
  Aborted = 0,  // the position carries no message (loan dropped or reclaimed)
  Loaned = 1,   // a producer (owner) is writing the payload
  Ready = 2,    // committed: header and payload are published
};

// Lease states (one lease word per group per slot).
enum class LeaseState : std::uint8_t {
  Done = 0,            // this group is finished with the slot's lap
  Leased = 1,          // delivered to owner, not yet acked
  Pending = 2,         // waiting for redelivery (nack, expiry, recovery); owner: see above
  DeadLettering = 3,   // owner is copying it to the dead-letter area
};

// Dead-letter entry states.
enum class DlqState : std::uint8_t {
  Free = 0,
  Filling = 1,  // owner is copying a message in
  Full = 2,     // holds a dead letter
};

constexpr std::uint32_t word_lap(Word w) noexcept { return static_cast<std::uint32_t>(w) & kLapMask; }
// The lap before `lap`, modulo 2^24: what a word not yet at `lap` says.
constexpr std::uint32_t lap_before(std::uint32_t lap) noexcept { return (lap - 1) & kLapMask; }
constexpr std::uint8_t word_state(Word w) noexcept { return static_cast<std::uint8_t>((w >> 24) & 0xF); }
constexpr std::uint32_t word_count(Word w) noexcept { return static_cast<std::uint32_t>((w >> 28) & 0xFFF); }
constexpr Owner word_owner(Word w) noexcept { return static_cast<Owner>(w >> 40); }

constexpr Word make_word(std::uint32_t lap, std::uint8_t state, std::uint32_t count, Owner owner) noexcept {
  return (Word{lap & kLapMask}) | (Word{state} << 24) | (Word{count & 0xFFFU} << 28) |
         (Word{owner & 0xFF'FFFFU} << 40);
}
constexpr Word slot_word(std::uint32_t lap, SlotState s, Owner owner) noexcept {
  return make_word(lap, static_cast<std::uint8_t>(s), 0, owner);
}
constexpr Word lease_word(std::uint32_t lap, LeaseState s, std::uint32_t count, Owner owner) noexcept {
  return make_word(lap, static_cast<std::uint8_t>(s), count, owner);
}
constexpr SlotState slot_state(Word w) noexcept { return static_cast<SlotState>(word_state(w)); }
constexpr LeaseState lease_state(Word w) noexcept { return static_cast<LeaseState>(word_state(w)); }

// Owner = generation << 8 | session index; generations start at 1, so a real
// owner is never 0.
constexpr Owner make_owner(std::uint32_t index, std::uint32_t generation) noexcept {
  return ((generation & 0xFFFFU) << 8) | (index & 0xFFU);
}
constexpr std::uint32_t owner_index(Owner o) noexcept { return o & 0xFFU; }
constexpr std::uint32_t owner_generation(Owner o) noexcept { return o >> 8; }

// Lease deadline word: when the lease runs out, and which lease it belongs to.
//
//    63                                   24 23             0
//   +---------------------------------------+---------------+
//   | deadline, CLOCK_MONOTONIC ms (40)     | tag (24)      |
//   +---------------------------------------+---------------+
//
// tag = low 20 bits of the lap, low 4 bits of the delivery count: a deadline
// left over from an earlier lease never matches the current lease word.
constexpr std::uint32_t deadline_tag(Word lease) noexcept {
  return ((word_lap(lease) & 0xF'FFFFU) << 4) | (word_count(lease) & 0xFU);
}
constexpr std::uint64_t make_deadline(std::uint64_t deadline_ms, Word lease) noexcept {
  return (deadline_ms << 24) | deadline_tag(lease);
}
constexpr std::uint64_t deadline_ms(std::uint64_t d) noexcept { return d >> 24; }
constexpr std::uint32_t deadline_word_tag(std::uint64_t d) noexcept { return d & 0xFF'FFFFU; }

// ---- common header -------------------------------------------------------------

enum class SegmentKind : std::uint32_t { Queue = 1, Registry = 2 };

// First 64 bytes of every segment. Written once by the creator, which stores
// layout_version last (release), so an opener that sees the version also sees
// the rest (SYNC POINT: pairs with the acquire load in validate_header).
// `removed` is the one field written later: by whoever deletes the queue,
// before its name is unlinked (remove_queue_segment), so the processes that
// still map it learn it (Status::QueueDeleted) instead of talking among
// themselves. Relaxed both ways: it orders nothing, a reader only stops.
struct SegmentHeader {
  std::uint64_t magic;                        // 0   kQueueMagic | kRegistryMagic
  std::atomic<std::uint32_t> layout_version;  // 8   0 while initialising
  std::uint32_t kind;                         // 12  SegmentKind
  std::uint64_t info_size;                    // 16  bytes of the info struct after the header
  std::uint64_t info_checksum;                // 24  FNV-1a 64 of the info bytes
  std::uint64_t total_size;                   // 32  segment size in bytes
  std::atomic<std::uint32_t> removed;         // 40  queues: 1 once deleted (remover writes, relaxed)
  std::uint8_t reserved[20];                  // 44
};
static_assert(sizeof(SegmentHeader) == 64);
static_assert(alignof(SegmentHeader) == 8);
static_assert(offsetof(SegmentHeader, layout_version) == 8);
static_assert(offsetof(SegmentHeader, info_checksum) == 24);
static_assert(offsetof(SegmentHeader, total_size) == 32);
static_assert(offsetof(SegmentHeader, removed) == 40);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// ---- queue segment -----------------------------------------------------------

// Immutable per-group settings (creator writes, everyone reads).
struct GroupInfo {
  char name[kNameCapacity];        // 0   NUL-terminated
  std::uint32_t at_most_once;      // 72  0 = at-least-once, 1 = at-most-once
  std::uint32_t max_deliveries;    // 76  past this, dead-letter (1..kMaxDeliveries)
  std::uint64_t lease_timeout_ms;  // 80
};
static_assert(sizeof(GroupInfo) == 88);
static_assert(alignof(GroupInfo) == 8);

// Immutable queue configuration, at offset 64, covered by the header checksum.
struct QueueInfo {
  char namespace_name[kNamespaceCapacity];  // 0
  char name[kNameCapacity];                 // 40
  std::uint32_t capacity;                   // 112 slots, a power of two
  std::uint32_t slot_size;                  // 116 payload bytes per slot
  std::uint32_t slot_stride;                // 120 bytes per slot incl. header
  std::uint32_t group_count;                // 124 1..kMaxGroups
  std::uint32_t dlq_capacity;               // 128 dead-letter entries
  std::uint32_t mode;                       // 132 permission bits of the segment
  std::uint64_t created_realtime_ns;        // 136
  std::uint32_t creator_pid;                // 144
  std::uint32_t reserved0;                  // 148
  std::uint64_t groups_offset;              // 152 GroupState[group_count]
  std::uint64_t attachments_offset;         // 160 Attachment[kMaxSessions]
  std::uint64_t slots_offset;               // 168 Slot[capacity]
  std::uint64_t leases_offset;              // 176 LeaseEntry[group_count][capacity]
  std::uint64_t dlq_offset;                 // 184 DlqEntry[dlq_capacity]
  GroupInfo groups[kMaxGroups];             // 192
};
static_assert(sizeof(QueueInfo) == 192 + 16 * 88);
static_assert(alignof(QueueInfo) == 8);
static_assert(offsetof(QueueInfo, capacity) == 112);
static_assert(offsetof(QueueInfo, groups_offset) == 152);
static_assert(offsetof(QueueInfo, groups) == 192);
static_assert(kCacheLine + sizeof(QueueInfo) <= kInfoPage);

// Who is parked on a futex, per session: 4-bit lanes, lane i = session index
// i, holding how many threads of that session are parked (0..15). Parking is
// one CAS on the lane's word, which names its owner, so recovery can subtract
// exactly what a dead session left; a waker ORs the 16 words to decide whether
// to make a system call.
inline constexpr std::uint32_t kParkLaneBits = 4;
inline constexpr std::uint32_t kParkLaneMax = (1U << kParkLaneBits) - 1;
inline constexpr std::uint32_t kParkLanesPerWord = 64 / kParkLaneBits;
inline constexpr std::uint32_t kParkWords = kMaxSessions / kParkLanesPerWord;

struct alignas(kFalseSharingRange) ParkedLanes {
  std::atomic<std::uint64_t> words[kParkWords];  // CAS by parking threads, recovery
};
static_assert(sizeof(ParkedLanes) == kFalseSharingRange);
static_assert(alignof(ParkedLanes) == kFalseSharingRange);

// Producer-side and wake-up words, each on its own false-sharing range.
struct alignas(kFalseSharingRange) QueueHot {
  // Next position to claim. A hint: a producer claims a slot by CAS on the slot
  // word, then anyone who sees that slot claimed advances tail past it.
  alignas(kFalseSharingRange) std::atomic<std::uint64_t> tail;  // 0   producers, CAS
  // Producers blocked on a full queue park on space_futex; consumers bump it
  // after an ack when a producer is parked (seq_cst: see wait.hpp).
  alignas(kFalseSharingRange) std::atomic<std::uint32_t> space_futex;  // 128
  ParkedLanes producers_parked;                                       // 256
  // Consumers with nothing to do park on data_futex; producers bump it after a
  // commit when a consumer is parked. Shared by all groups.
  alignas(kFalseSharingRange) std::atomic<std::uint32_t> data_futex;  // 384
  ParkedLanes consumers_parked;                                      // 512
};
static_assert(sizeof(QueueHot) == 640);
static_assert(alignof(QueueHot) == kFalseSharingRange);
static_assert(offsetof(QueueHot, space_futex) == 128);
static_assert(offsetof(QueueHot, producers_parked) == 256);
static_assert(offsetof(QueueHot, data_futex) == 384);
static_assert(offsetof(QueueHot, consumers_parked) == 512);

// Per consumer group, 256 bytes.
struct alignas(kFalseSharingRange) GroupState {
  // Next position to deliver for the first time. A hint like tail: a consumer
  // claims a message by CAS on the lease word, then advances next past it.
  alignas(kFalseSharingRange) std::atomic<std::uint64_t> next;  // 0   consumers, CAS
  // Bumped (after the lease CAS) whenever a message of this group becomes
  // Pending; consumers that saw another value rescan for Pending leases.
  alignas(kFalseSharingRange) std::atomic<std::uint32_t> redeliver_gen;  // 128
  std::uint32_t reserved;                                               // 132
  // Statistics (relaxed, approximate; never used for correctness).
  std::atomic<std::uint64_t> delivered;      // 136 first deliveries
  std::atomic<std::uint64_t> acked;          // 144
  std::atomic<std::uint64_t> redelivered;    // 152 deliveries after the first
  std::atomic<std::uint64_t> expired;        // 160 leases that ran out
  std::atomic<std::uint64_t> dead_lettered;  // 168
  std::atomic<std::uint64_t> recovered;      // 176 leases requeued from dead or fenced sessions
  std::atomic<std::uint64_t> dropped;        // 184 at-most-once leases dead or fenced sessions held: lost
  std::uint8_t reserved1[64];                // 192
};
static_assert(sizeof(GroupState) == 256);
static_assert(alignof(GroupState) == kFalseSharingRange);
static_assert(offsetof(GroupState, recovered) == 176);
static_assert(offsetof(GroupState, dropped) == 184);
static_assert(offsetof(GroupState, redeliver_gen) == 128);

// Which sessions use this queue, indexed by session index; written only by
// that session (and cleared by recovery once it is dead). No per-message
// counters here: what a session holds is read from the lease and slot words'
// owners, and an atomic add per message would cost every message ~5 ns.
struct alignas(kFalseSharingRange) Attachment {
  std::atomic<std::uint32_t> owner;          // 0   Owner using the queue, 0 = none
  std::atomic<std::uint32_t> roles;          // 4   kRoleProducer | kRoleConsumer
  std::atomic<std::uint32_t> groups;         // 8   bit g: consumes group g
  std::uint32_t reserved0;                   // 12
  std::uint8_t reserved[112];                // 16
};
static_assert(sizeof(Attachment) == 128);
static_assert(alignof(Attachment) == kFalseSharingRange);
static_assert(offsetof(Attachment, reserved) == 16);

inline constexpr std::uint32_t kRoleProducer = 1;
inline constexpr std::uint32_t kRoleConsumer = 2;

// Header of every slot; the payload follows at offset 64. Written by the
// loaning producer, published by the Loaned -> Ready CAS on `state`.
struct alignas(kCacheLine) SlotHeader {
  std::atomic<Word> state;   // 0   slot word (lap, SlotState, owner)
  std::uint64_t id;          // 8   message id: its position, kept on replay
  std::uint64_t commit_ns;   // 16  CLOCK_MONOTONIC at commit
  std::uint32_t length;      // 24  payload bytes
  // Atomic (relaxed) only because a consumer or purge reads it before its
  // lease CAS, when the slot may already be on its next lap (the CAS then
  // fails and the value is unused); its publication is the state CAS.
  std::atomic<std::uint16_t> group_mask;  // 28  bit g: group g receives it
  std::uint16_t reserved0;   // 30
  std::uint8_t reserved[32];  // 32
};
static_assert(sizeof(SlotHeader) == 64);
static_assert(alignof(SlotHeader) == kCacheLine);
static_assert(offsetof(SlotHeader, id) == 8);
static_assert(offsetof(SlotHeader, length) == 24);
static_assert(offsetof(SlotHeader, group_mask) == 28);
static_assert(sizeof(std::atomic<std::uint16_t>) == 2 && std::atomic<std::uint16_t>::is_always_lock_free);

// One per group per slot, 16 bytes (four to a line: consumers of one group
// walk them in order).
struct LeaseEntry {
  std::atomic<Word> word;               // 0  lease word (lap, LeaseState, count, owner)
  std::atomic<std::uint64_t> deadline;  // 8  deadline word, see make_deadline
};
static_assert(sizeof(LeaseEntry) == 16);
static_assert(alignof(LeaseEntry) == 8);

// A dead letter; payload follows at offset 64.
struct alignas(kCacheLine) DlqHeader {
  std::atomic<Word> state;        // 0   (lap of source, DlqState, 0, owner while Filling)
  std::uint64_t id;               // 8
  std::uint64_t commit_ns;        // 16
  std::uint64_t dead_ms;          // 24 CLOCK_MONOTONIC ms when it was dead-lettered
  std::uint32_t length;           // 32
  std::uint32_t delivery_count;   // 36
  std::uint32_t source_slot;      // 40 slot it came from (to finish a crashed move)
  std::uint32_t source_lap;       // 44
  std::uint16_t group;            // 48 the group that gave up on it
  std::uint16_t reason;           // 50 DeadLetterReason
  std::uint8_t reserved[12];      // 52
};
static_assert(sizeof(DlqHeader) == 64);
static_assert(alignof(DlqHeader) == kCacheLine);
static_assert(offsetof(DlqHeader, source_slot) == 40);

enum class DeadLetterReason : std::uint16_t { MaxDeliveries = 1 };

// ---- registry segment --------------------------------------------------------

struct RegistryInfo {
  char namespace_name[kNamespaceCapacity];  // 0
  std::uint32_t max_sessions;               // 40
  std::uint32_t reserved;                   // 44
  std::uint64_t created_realtime_ns;        // 48
};
static_assert(sizeof(RegistryInfo) == 56);
static_assert(alignof(RegistryInfo) == 8);

// Session word:
//
//    63      48 47          32 31   28 27  24 23 22 21              0
//   +----------+--------------+-------+------+-----+-----------------+
//   | reserved | generation   |  -    |state |  -  | pid (22)        |
//   +----------+--------------+-------+------+-----+-----------------+
enum class SessionState : std::uint8_t {
  Free = 0,    // unused; generation is that of the last holder
  Alive = 1,   // attached
  Fenced = 2,  // declared dead by the watchdog; the process may still run
};
constexpr std::uint32_t session_pid(Word w) noexcept { return static_cast<std::uint32_t>(w & 0x3F'FFFFU); }
constexpr SessionState session_state(Word w) noexcept { return static_cast<SessionState>((w >> 24) & 0xF); }
constexpr std::uint32_t session_generation(Word w) noexcept { return static_cast<std::uint32_t>((w >> 32) & 0xFFFFU); }
constexpr Word make_session_word(std::uint32_t generation, SessionState s, std::uint32_t pid) noexcept {
  return (Word{generation & 0xFFFFU} << 32) | (Word{static_cast<std::uint8_t>(s)} << 24) | (pid & 0x3F'FFFFU);
}

struct alignas(kFalseSharingRange) SessionEntry {
  std::atomic<Word> word;                // 0   claimed by CAS Free -> Alive
  std::atomic<std::uint64_t> start_time;  // 8  /proc start time of pid (0 until written)
  std::atomic<std::uint64_t> heartbeat;   // 16 counter bumped by the session
  std::atomic<std::uint64_t> heartbeat_ns;  // 24 CLOCK_MONOTONIC of the last beat
  std::atomic<std::uint64_t> heartbeat_timeout_ns;  // 32 the session's own timeout
  std::atomic<std::uint64_t> attached_realtime_ns;  // 40
  char comm[16];                          // 48 process name, for tools
  std::uint8_t reserved[64];              // 64
};
static_assert(sizeof(SessionEntry) == 128);
static_assert(alignof(SessionEntry) == kFalseSharingRange);
static_assert(offsetof(SessionEntry, heartbeat_ns) == 24);

// ---- offsets -----------------------------------------------------------------

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) / a * a; }

inline constexpr std::uint64_t kQueueHotOffset = kInfoPage;
inline constexpr std::uint64_t kRegistrySessionsOffset = kInfoPage;
inline constexpr std::uint64_t kRegistrySize = kRegistrySessionsOffset + kMaxSessions * sizeof(SessionEntry);

// Where everything of a queue segment goes, from its configuration.
struct QueueOffsets {
  std::uint64_t groups, attachments, slots, leases, dlq, total;
  std::uint32_t slot_stride;
};
constexpr QueueOffsets queue_offsets(std::uint32_t capacity, std::uint32_t slot_size, std::uint32_t group_count,
                                     std::uint32_t dlq_capacity) noexcept {
  QueueOffsets o{};
  o.slot_stride = static_cast<std::uint32_t>(align_up(sizeof(SlotHeader) + std::uint64_t{slot_size}, kCacheLine));
  o.groups = kQueueHotOffset + sizeof(QueueHot);
  o.attachments = o.groups + std::uint64_t{group_count} * sizeof(GroupState);
  o.slots = align_up(o.attachments + std::uint64_t{kMaxSessions} * sizeof(Attachment), kInfoPage);
  o.leases = o.slots + std::uint64_t{capacity} * o.slot_stride;
  o.dlq = align_up(o.leases + std::uint64_t{group_count} * capacity * sizeof(LeaseEntry), kCacheLine);
  o.total = align_up(o.dlq + std::uint64_t{dlq_capacity} * o.slot_stride, kInfoPage);
  return o;
}

// FNV-1a 64: the header checksum (corruption detection, not security).
constexpr std::uint64_t fnv1a(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf2'9ce4'8422'2325ULL;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x0000'0100'0000'01b3ULL;
  return h;
}

}  // namespace shmq::detail
