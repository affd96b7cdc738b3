// What the library reports about a queue to the programs that inspect and
// operate it (shmqd, shmq-cli, shmq-chaos): plain values, copied out of the
// shared memory, so holding one pins no mapping. The data-path code fills
// them in (lib/src/core/inspect.cpp, dlq.cpp, recovery.cpp); this is their one definition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shmq::admin {

// A session as slot, lease and attachment words name it: its registry entry's
// index and generation in one number (what Client::session_id() returns).
using SessionId = std::uint32_t;
inline constexpr SessionId kNoSession = 0;

// Leases of one group held by one session, as the lease words name it.
struct HolderStats {
  SessionId owner = kNoSession;
  std::uint32_t leased = 0;            // Leased (or being dead-lettered) by owner
  std::uint64_t oldest_commit_ns = 0;  // commit time of its oldest held message
};

struct GroupStats {
  std::string name;
  bool at_most_once = false;
  std::uint32_t max_deliveries = 0;
  std::uint64_t lease_timeout_ms = 0;
  std::uint64_t next = 0;  // the group's cursor: next first delivery
  std::uint64_t lag = 0;   // tail - next: positions published or claimed, not yet taken
  std::uint32_t ready = 0;    // published, not yet delivered to this group
  std::uint32_t leased = 0;   // delivered, not acked (incl. being dead-lettered)
  std::uint32_t pending = 0;  // waiting for redelivery (nack, expiry, recovery)
  // Counters of GroupState (relaxed, approximate).
  // recovered: leases requeued from dead or fenced sessions; dropped: at-most-once
  // leases they held (lost, as at-most-once allows).
  std::uint64_t delivered = 0, acked = 0, redelivered = 0, expired = 0, dead_lettered = 0, recovered = 0, dropped = 0;
  // Smallest commit_ns of a ready, leased or pending message; 0 when none.
  std::uint64_t oldest_unacked_commit_ns = 0;
  std::vector<HolderStats> holders;  // sorted by owner
};

struct AttachmentStats {
  SessionId owner = kNoSession;
  bool producer = false;     // it has opened a Producer on the queue
  bool consumer = false;     // it has opened a Consumer on the queue
  std::uint32_t groups = 0;  // bit g: consumes group g
};

struct QueueStats {
  std::uint32_t capacity = 0;
  std::uint32_t slot_size = 0;
  std::uint32_t dlq_capacity = 0;
  std::uint64_t tail = 0;
  // Slots by what they hold; the others are in use by the groups (counted per group).
  std::uint32_t free = 0;          // every group done: reusable
  std::uint32_t loaned = 0;        // a producer is writing it
  std::uint32_t quarantined = 0;   // skipped: a fenced producer may still write it
  std::uint32_t dead_letters = 0;  // Full entries of the dead-letter area
  std::vector<GroupStats> groups;
  std::vector<AttachmentStats> attachments;  // sessions using the queue (owner != 0)
};

// A copy of a message waiting for a group, taken without consuming it.
struct PeekedMessage {
  std::uint64_t pos = 0;
  std::uint64_t id = 0;
  std::uint64_t commit_ns = 0;
  std::uint32_t delivery_count = 0;  // deliveries so far (0: never delivered)
  std::vector<std::byte> data;
};

// Accounting of every slot at one moment (approximate while others run; exact
// on a quiet queue). A problem is a slot or word no live session explains.
struct AuditReport {
  std::uint32_t free = 0;          // every group done: reusable
  std::uint32_t loaned = 0;        // a producer is writing it
  std::uint32_t waiting = 0;       // some group has not taken or passed over it yet
  std::uint32_t leased = 0;        // some group's consumer holds it
  std::uint32_t pending = 0;       // waiting for redelivery in some group
  std::uint32_t quarantined = 0;   // skipped: a fenced producer may still write it
  std::uint32_t dead_letters = 0;  // Full entries in the dead-letter area
  std::vector<std::string> problems;
  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
};

// A message in the dead-letter area.
struct DeadLetter {
  std::uint32_t index = 0;  // entry in the dead-letter area
  std::uint64_t id = 0;
  std::uint64_t commit_ns = 0;  // CLOCK_MONOTONIC of the original commit
  std::uint64_t dead_ms = 0;    // CLOCK_MONOTONIC ms when it was dead-lettered
  std::uint32_t group = 0;      // the group that gave up on it
  std::uint32_t delivery_count = 0;
  std::uint16_t reason = 0;            // layout.hpp's DeadLetterReason: 1 = max deliveries reached
  SessionId replaying = kNoSession;    // a replay holds it (maybe one that died)
  std::vector<std::byte> data;
};

// What a recovery took back from one session in one queue (shmqd's watchdog,
// a detaching client).
struct RecoveryResult {
  std::uint32_t loans_aborted = 0;
  std::uint32_t leases_requeued = 0;  // at-least-once: Pending, redelivered with count + 1
  std::uint32_t leases_released = 0;  // at-most-once: dropped
  std::uint32_t dead_letters_finished = 0;
  std::uint32_t dlq_entries_freed = 0;
  std::uint32_t parked_fixed = 0;
  std::uint32_t redeliveries_announced = 0;  // Pending words the session made (nack, expiry) and may not have announced
  [[nodiscard]] std::uint32_t total() const noexcept {
    return loans_aborted + leases_requeued + leases_released + dead_letters_finished + dlq_entries_freed + parked_fixed +
           redeliveries_announced;
  }
};

// What one lease-expiry pass did.
struct ExpiryResult {
  std::uint32_t expired = 0;        // leases past their deadline, now Pending
  std::uint32_t dead_lettered = 0;  // Pending past max_deliveries, moved to the DLQ
};

}  // namespace shmq::admin
