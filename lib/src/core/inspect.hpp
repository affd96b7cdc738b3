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
#include "shmq/admin/report.hpp"

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

// What inspection reports (defined in shmq/admin/report.hpp, the programs' API).
using admin::AttachmentStats;
using admin::AuditReport;
using admin::GroupStats;
using admin::HolderStats;
using admin::PeekedMessage;
using admin::QueueStats;

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

// Up to `max` messages waiting for group `g`, oldest position first: those
// waiting for redelivery (Pending) and those never delivered (Ready). Each copy
// is checked against the slot word after it is taken, so a slot reused meanwhile
// is left out rather than shown torn.
[[nodiscard]] std::vector<PeekedMessage> peek_messages(const QueueView& q, std::uint32_t g, std::size_t max);

// Accounting of every slot at one moment; a problem is a slot or word no
// live session explains.
AuditReport audit(const QueueView& q);

}  // namespace shmq::detail
