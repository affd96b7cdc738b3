// The slot state machine: every data-path operation on a queue segment. Each
// step is one atomic transition on one word that names its owner, so a process
// killed between any two steps leaves a state recovery can finish or undo.
// No system calls: callers do the clock reads and the futex wake-ups.
//
// Who may call what:
//   try_claim, publish, abort_loan          a producer session
//   take_*, start_lease, settle, extend     a consumer session of that group
//   dead_letter                             anyone (consumers, the watchdog)
//
// Fencing: a session the watchdog fenced takes nothing new and settles
// nothing. A claim or lease CAS is followed by a check of the session's own
// registry word; if the session is no longer Alive it gives the slot or lease
// back at once and returns Fenced. Both sides are seq_cst (see session_alive),
// so whatever a fenced session stamps is given back by it or seen by the
// watchdog's recovery scan that follows the fence.
#pragma once

#include <cstdint>

#include "layout/layout.hpp"
#include "layout/queue_view.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

struct Claim {
  Status status = Status::QueueFull;
  std::uint64_t pos = 0;
};

// Claims the slot of the next free position for `me` (Aborted/Ready -> Loaned).
// QueueFull when that slot still holds a message some group has not finished;
// Fenced (nothing claimed) when `me` was fenced.
[[nodiscard]] Claim try_claim(const QueueView& q, Owner me) noexcept;

// Publishes a loaned slot (Loaned -> Ready). `id` is normally `pos`; a replayed
// dead letter keeps its original id. LeaseLost if the loan was taken back;
// Fenced if `me` was fenced (the watchdog takes the loan back).
[[nodiscard]] Status publish(const QueueView& q, std::uint64_t pos, Owner me, std::uint64_t id, std::uint32_t length,
                             std::uint64_t commit_ns, std::uint16_t group_mask) noexcept;

// Gives a loaned slot back without a message (Loaned -> Aborted), and passes
// over the position for every group, so the slot is free when tail comes round.
[[nodiscard]] Status abort_loan(const QueueView& q, std::uint64_t pos, Owner me) noexcept;

struct Delivery {
  Status status = Status::Empty;
  std::uint64_t pos = 0;
  std::uint32_t count = 0;  // delivery count: 1 on first delivery
};

// The group's redelivery generation: it moves whenever a message of the group
// becomes Pending. A consumer that saw it move calls take_redelivery.
[[nodiscard]] std::uint32_t redelivery_generation(const QueueView& q, std::uint32_t g) noexcept;

// Leases a Pending message of group `g` (count + 1) and sets its deadline;
// dead-letters those past max_deliveries on the way. Scans the group's window
// [next - capacity, next] from position `from` on (0: from its start). Empty if
// none; Fenced (the message given back) if `me` was fenced.
[[nodiscard]] Delivery take_redelivery(const QueueView& q, std::uint32_t g, Owner me, std::uint64_t now_ms,
                                       std::uint64_t from = 0) noexcept;

// Leases the next first delivery of group `g`, passing over positions without
// a message for it. Empty when nothing is published yet; Fenced (the message
// given back) if `me` was fenced. The caller then calls start_lease (kept
// apart so an empty poll reads no clock).
[[nodiscard]] Delivery take_next(const QueueView& q, std::uint32_t g, Owner me) noexcept;

// Writes the deadline of a lease just taken (at-least-once groups only).
void start_lease(const QueueView& q, std::uint32_t g, const Delivery& d, Owner me, std::uint64_t now_ms) noexcept;

// Ends a lease: to Done (ack, or release in at-most-once groups) or to Pending
// (nack: redeliver now). LeaseLost if the lease is no longer `me`'s; Fenced
// (nothing changed: the watchdog takes the lease back) if `me` was fenced.
[[nodiscard]] Status settle(const QueueView& q, std::uint32_t g, std::uint64_t pos, std::uint32_t count, Owner me,
                            LeaseState to) noexcept;

// Moves the lease deadline to `deadline_ms`. LeaseLost if the lease is gone
// or has already run out at `now_ms`; Fenced if `me` was fenced.
[[nodiscard]] Status extend_lease(const QueueView& q, std::uint32_t g, std::uint64_t pos, std::uint32_t count, Owner me,
                                  std::uint64_t now_ms, std::uint64_t deadline_ms) noexcept;

// Moves the Pending message at `pos` of group `g` into the dead-letter area.
// False if it was not Pending with `pending_word` or the area is full.
bool dead_letter(const QueueView& q, std::uint32_t g, std::uint64_t pos, Word pending_word, Owner me,
                 std::uint64_t now_ms) noexcept;

// Cursors (tail, a group's next) only move forward by one from a value someone
// observed; losing the race means another process already moved it.
inline void help_advance(std::atomic<std::uint64_t>& cursor, std::uint64_t pos) noexcept {
  cursor.compare_exchange_strong(pos, pos + 1, kRelaxed);
}

// Group g is finished with position (slot s, lap), which carries nothing for
// it (or is dropped by purge): its lease word goes Done(lap - 1) -> Done(lap).
// False when the group took or passed over it first.
bool pass_over_group(const QueueView& q, std::uint32_t g, std::uint32_t s, std::uint32_t lap) noexcept;

inline constexpr std::uint32_t kEveryGroup = ~0U;
// pass_over_group for every group but `except`: a message-less position (an
// Aborted slot; anyone may call it), or a replayed message's other groups.
void pass_over(const QueueView& q, std::uint32_t s, std::uint32_t lap, std::uint32_t except = kEveryGroup) noexcept;

// True if the session named by `owner` may still be running (its registry
// entry still carries that generation and is not Free). Without a registry
// (unit tests) every owner counts as gone.
[[nodiscard]] bool owner_may_run(const QueueView& q, Owner owner) noexcept;

// True while session `me` is Alive in the registry: false once the watchdog
// fenced it or it was released. Without a registry (unit tests) always true.
[[nodiscard]] bool session_alive(const QueueView& q, Owner me) noexcept;

// Index of the Full DLQ entry holding the dead letter of (group, slot, lap), or -1.
[[nodiscard]] int find_dead_letter(const QueueView& q, std::uint32_t g, std::uint32_t slot, std::uint32_t lap) noexcept;

}  // namespace shmq::detail
