// The dead-letter area as tools see it (shmq-cli dlq list|replay|purge): list
// the dead letters, publish one again for the group that gave up on it, or drop
// it. No system calls; the caller reads the clock and wakes parked consumers.
//
// DLQ entry word (layout.hpp, same bit layout as slot and lease words):
//   Free                          nothing (written as 0)
//   Filling(source lap, owner)    dead_letter is copying a message in
//   Full(source lap, 0)           a dead letter nobody handles
//   Full(source lap, owner)       a dead letter `owner` is replaying; another
//                                 replay or purge takes it over once the owner
//                                 is gone (owner_may_run false)
//
// Replay, each step one CAS that names its owner:
//   1. entry Full(lap, 0|gone) --CAS--> Full(lap, me)        claims the replay
//   2. slot  Aborted/Ready      --CAS--> Loaned(me)           try_claim
//   3. copy payload; slot Loaned(me) --CAS--> Ready           publish: same id,
//      group_mask = the dead letter's group only; the other groups' lease words
//      are passed over (one CAS each) so the slot frees when that group acks
//   4. entry Full(lap, me)      --CAS--> Free                 done
// Killed after 1 (crash point replay.claimed): the entry stays Full with a
// dead owner's stamp: the next replay or purge takes it over; nothing lost.
// After 2 (replay.copied): recovery aborts the loan; the entry is still Full.
// Between 3 and 4 (replay.published, replay.passed_over): the message is both
// in the ring and in the DLQ, so a later replay delivers it twice: a
// duplicate, which at-least-once allows, never a loss. A queue full at step 2 gives the entry
// back (Full(lap, me) -> Full(lap, 0)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "layout/layout.hpp"
#include "layout/queue_view.hpp"
#include "shmq/admin/report.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

using admin::DeadLetter;  // shmq/admin/report.hpp

// Every Full entry, by index. Copies are checked against the entry word after
// they are taken (an entry freed and refilled meanwhile is left out).
[[nodiscard]] std::vector<DeadLetter> list_dead_letters(const QueueView& q);

// Replays entry `index` (steps above) as session `me`, committing at `now_ns`.
//   Ok             published again and freed
//   QueueFull      no free slot: nothing changed
//   InvalidHandle  not a Full entry, or a live replay holds it
//   LeaseLost      the loan was taken back (this session was fenced)
// The caller wakes the queue's parked consumers after an Ok.
[[nodiscard]] Status replay_dead_letter(const QueueView& q, std::uint32_t index, Owner me,
                                        std::uint64_t now_ns) noexcept;

// Drops entry `index`: one CAS Full(lap, 0|gone) -> Free. False if it is not
// Full or a live replay holds it.
bool purge_dead_letter(const QueueView& q, std::uint32_t index) noexcept;

}  // namespace shmq::detail
