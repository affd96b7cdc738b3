// Read-side inspection of a queue for tools (shmq-cli stat, list, watch, peek,
// check) and for the tests:
// what each group has waiting, held and waiting again, who holds it, and how old
// the oldest unacked message is. Everything is derived from the slot and lease
// words (the hot path keeps no extra counters for it), so the numbers are a
// snapshot: exact on a quiet queue, approximate while others run.
//
// Reads only: never writes shared memory, makes no system calls (the caller
// passes the clock), so unit tests run it on a heap queue.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "layout/layout.hpp"
#include "layout/queue_view.hpp"

namespace shmq::detail {

// ---- the one rule for what a slot holds (queue_stats and audit) ------------

// What group g's lease word says about the message of the slot's live lap
// (the slot word's).
enum class GroupHold : std::uint8_t {
  Untaken,    // Done at the lap before: the group has not taken or passed over it
  Leased,     // a consumer holds it (Leased, or DeadLettering)
  Pending,    // waiting for redelivery
  Done,       // acked, released, dead-lettered or passed over
  OutOfStep,  // a word of another lap, or an unknown state: audit reports it
};
[[nodiscard]] GroupHold group_hold(Word slot_word, Word lease_word) noexcept;

// What a slot holds as a whole. Free means reusable now: every group is Done
// with its lap (what a producer's claim needs).
enum class SlotUse : std::uint8_t {
  Loaned,       // a producer is writing it
  Leased,       // some group's consumer holds it
  Pending,      // else: some group waits to have it redelivered
  Waiting,      // else: some group has not taken or passed over it yet
  Quarantined,  // else: Aborted by a fenced producer that may still run
  Free,
};
// `holds`: group_hold of each group, in order.
[[nodiscard]] SlotUse slot_use(const QueueView& q, Word slot_word, const GroupHold* holds) noexcept;

// Leases of one group held by one session (owner), as the lease words name it.
struct HolderStats {
  Owner owner = kNoOwner;
  std::uint32_t leased = 0;                 // Leased (or being dead-lettered) by owner
  std::uint64_t oldest_commit_ns = 0;       // commit time of its oldest held message
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
  Owner owner = kNoOwner;
  std::uint32_t roles = 0;   // kRoleProducer | kRoleConsumer
  std::uint32_t groups = 0;  // bit g: consumes group g
};

struct QueueStats {
  std::uint32_t capacity = 0;
  std::uint32_t slot_size = 0;
  std::uint32_t dlq_capacity = 0;
  std::uint64_t tail = 0;
  // Slots by slot_use; the others are in use by the groups (counted per group).
  std::uint32_t free = 0;         // every group done: reusable
  std::uint32_t loaned = 0;       // a producer is writing it
  std::uint32_t quarantined = 0;  // skipped: a fenced producer may still write it
  std::uint32_t dead_letters = 0; // Full entries of the dead-letter area
  std::vector<GroupStats> groups;
  std::vector<AttachmentStats> attachments;  // sessions using the queue (owner != 0)
};

// Orders a reader's plain reads of shared bytes (a copy of a payload) before
// its following re-read of the word that guards them: the seqlock pattern
// peek and the DLQ list use (copy, fence, re-check the word unchanged).
// GCC's ThreadSanitizer does not model fences (-Wtsan); these readers race
// only with other processes, which TSan cannot see anyway.
inline void fence_reads_before_recheck() noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"                 // GCC before 12: no -Wtsan
#pragma GCC diagnostic ignored "-Wunknown-warning-option"  // clang: no -Wtsan
#pragma GCC diagnostic ignored "-Wtsan"
  std::atomic_thread_fence(kAcquire);
#pragma GCC diagnostic pop
}

// One pass over every slot and lease word. Anyone may call it.
[[nodiscard]] QueueStats queue_stats(const QueueView& q);

// A copy of a message waiting for a group, taken without consuming it.
struct PeekedMessage {
  std::uint64_t pos = 0;
  std::uint64_t id = 0;
  std::uint64_t commit_ns = 0;
  std::uint32_t delivery_count = 0;  // deliveries so far (0: never delivered)
  std::vector<std::byte> data;
};

// Up to `max` messages waiting for group `g`, oldest position first: those
// waiting for redelivery (Pending) and those never delivered (Ready). Each copy
// is checked against the slot word after it is taken, so a slot reused meanwhile
// is left out rather than shown torn.
[[nodiscard]] std::vector<PeekedMessage> peek_messages(const QueueView& q, std::uint32_t g, std::size_t max);

// Accounting of every slot at one moment (approximate while others run; exact
// on a quiet queue). A problem is a slot or word no live session explains.
struct AuditReport {
  std::uint32_t free = 0;         // every group done: reusable
  std::uint32_t loaned = 0;       // a producer is writing it
  std::uint32_t waiting = 0;      // some group has not taken or passed over it yet
  std::uint32_t leased = 0;       // some group's consumer holds it
  std::uint32_t pending = 0;      // waiting for redelivery in some group
  std::uint32_t quarantined = 0;  // skipped: a fenced producer may still write it
  std::uint32_t dead_letters = 0;  // Full entries in the dead-letter area
  std::vector<std::string> problems;
  [[nodiscard]] bool ok() const noexcept { return problems.empty(); }
};

AuditReport audit(const QueueView& q);

}  // namespace shmq::detail
