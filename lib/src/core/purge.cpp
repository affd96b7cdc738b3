#include "core/purge.hpp"

#include "core/ring.hpp"
#include "layout/crash_point.hpp"

namespace shmq::detail {

namespace {

enum class Dropped : std::uint8_t { Nothing, Ready, Pending, PassedOver };

// One slot of group g: at most one CAS on its lease word.
Dropped drop(const QueueView& q, std::uint32_t g, std::uint32_t s) noexcept {
  LeaseEntry& le = q.lease(g, s);
  Word lw = le.word.load(kAcquire);
  if (lease_state(lw) == LeaseState::Pending) {
    // SYNC POINT: seq_cst like an ack (settle): the slot may now be reused, and
    // the caller's check for parked producers comes after it (see wait.hpp).
    if (!le.word.compare_exchange_strong(lw, lease_word(word_lap(lw), LeaseState::Done, 0, kNoOwner), kSeqCst))
      return Dropped::Nothing;  // redelivered, dead-lettered or dropped by someone else meanwhile
    return Dropped::Pending;
  }
  if (lease_state(lw) != LeaseState::Done) return Dropped::Nothing;  // leased or being dead-lettered: stays
  const SlotHeader& slot = q.slot(s);
  // SYNC POINT: acquire pairs with the release of publish's CAS: group_mask of
  // the slot's lap is visible once the word says Ready.
  const Word sw = slot.state.load(kAcquire);
  const std::uint32_t lap = word_lap(sw);
  // Ready at lap L while this group is still done with L-1: published, not
  // taken by the group. (The lease word was read first: if the slot had moved
  // on since, the group took lap L meanwhile and the lap check or the CAS fails.)
  if (slot_state(sw) != SlotState::Ready || word_lap(lw) != lap_before(lap)) return Dropped::Nothing;
  const bool for_group = ((slot.group_mask.load(kRelaxed) >> g) & 1U) != 0;
  // The pass-over of take_next: fails when a consumer took the message first.
  if (!pass_over_group(q, g, s, lap)) return Dropped::Nothing;
  return for_group ? Dropped::Ready : Dropped::PassedOver;
}

// Moves the group's `next` past the positions it is finished with, as
// take_next would when it next runs (so depth = tail - next is right at once).
void advance_next(const QueueView& q, std::uint32_t g) noexcept {
  GroupState& gs = q.groups[g];
  const std::uint64_t tail = q.hot->tail.load(kAcquire);
  for (std::uint32_t i = 0; i < q.capacity; ++i) {
    std::uint64_t pos = gs.next.load(kAcquire);
    if (pos >= tail) return;
    const Word lw = q.lease(g, q.slot_of(pos)).word.load(kAcquire);
    if (word_lap(lw) == lap_before(q.lap_of(pos))) return;  // not taken yet: the next delivery
    help_advance(gs.next, pos);
  }
}

}  // namespace

PurgeResult purge(const QueueView& q) noexcept {
  PurgeResult r;
  r.group_count = q.group_count;
  for (std::uint32_t g = 0; g < q.group_count; ++g) {
    for (std::uint32_t s = 0; s < q.capacity; ++s) {
      const Dropped d = drop(q, g, s);
      if (d == Dropped::Nothing) continue;
      if (d == Dropped::Ready) ++r.ready[g];
      if (d == Dropped::Pending) ++r.pending[g];
      SHMQ_CRASH_POINT("purge.partial");
    }
    SHMQ_CRASH_POINT("purge.dropped");
    advance_next(q, g);
  }
  return r;
}

}  // namespace shmq::detail
