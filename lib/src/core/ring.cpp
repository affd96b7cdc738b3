#include "core/ring.hpp"

#include <algorithm>
#include <cstring>

#include "layout/crash_point.hpp"

namespace shmq::detail {

namespace {

// Every group has finished with the slot's previous lap.
bool all_groups_done(const QueueView& q, std::uint32_t s, std::uint32_t prev_lap) noexcept {
  for (std::uint32_t g = 0; g < q.group_count; ++g) {
    // SYNC POINT: acquire pairs with the release of the ack CAS in settle (and
    // of the pass-over CAS in take_next): the consumers' reads of the old
    // payload happen before this producer overwrites it.
    const Word w = q.lease(g, s).word.load(kAcquire);
    if (word_lap(w) != prev_lap || lease_state(w) != LeaseState::Done) return false;
  }
  return true;
}

// A lease `me` took after it was fenced goes back to Pending with the count it
// had, so the delivery it never made is not counted (a first delivery goes
// back with count 0: take_redelivery then delivers it with count 1). The CAS
// fails harmlessly if the watchdog's recovery took it back first. The word
// keeps `me` until the generation bump: killed in between, `me`'s recovery
// finds it and bumps (see Pending in layout.hpp).
Delivery give_back_lease(const QueueView& q, std::uint32_t g, std::uint64_t pos, Word leased) noexcept {
  const Word pending = lease_word(word_lap(leased), LeaseState::Pending, word_count(leased) - 1, word_owner(leased));
  if (q.lease(g, q.slot_of(pos)).word.compare_exchange_strong(leased, pending, kSeqCst)) {
    SHMQ_CRASH_POINT("fenced.given_back");
    q.groups[g].redeliver_gen.fetch_add(1, kSeqCst);
  }
  return {Status::Fenced, 0, 0};
}

void write_deadline(const QueueView& q, LeaseEntry& le, std::uint32_t g, Word leased, std::uint64_t now_ms) noexcept {
  if (q.group_info(g).at_most_once != 0) return;
  // Relaxed: the tag ties the deadline to `leased`; an expirer that reads an
  // older deadline sees a tag mismatch and leaves the lease alone.
  le.deadline.store(make_deadline(now_ms + q.group_info(g).lease_timeout_ms, leased), kRelaxed);
}

}  // namespace

bool pass_over_group(const QueueView& q, std::uint32_t g, std::uint32_t s, std::uint32_t lap) noexcept {
  Word untaken = lease_word(lap_before(lap), LeaseState::Done, 0, kNoOwner);
  // SYNC POINT: release pairs with the acquire in all_groups_done (the slot
  // may be reused after it). seq_cst because purge checks for parked producers
  // after it (see wait.hpp); on x86 every CAS is a full barrier anyway.
  return q.lease(g, s).word.compare_exchange_strong(untaken, lease_word(lap, LeaseState::Done, 0, kNoOwner), kSeqCst);
}

void pass_over(const QueueView& q, std::uint32_t s, std::uint32_t lap, std::uint32_t except) noexcept {
  for (std::uint32_t g = 0; g < q.group_count; ++g) {
    if (g != except) (void)pass_over_group(q, g, s, lap);  // fails harmlessly when a consumer passed over it first
    if (g == 0) SHMQ_CRASH_POINT("pass.partial");
  }
}

Delivery take_redelivery(const QueueView& q, std::uint32_t g, Owner me, std::uint64_t now_ms,
                         std::uint64_t from) noexcept {
  const std::uint64_t next = q.groups[g].next.load(kAcquire);
  const std::uint32_t max = q.group_info(g).max_deliveries;
  // [next - capacity, next]: next itself too, since a consumer killed between
  // its lease CAS and the cursor move leaves next on a taken position.
  for (std::uint64_t pos = std::max(from, next - q.capacity); pos <= next; ++pos) {
    const std::uint32_t s = q.slot_of(pos);
    const std::uint32_t lap = q.lap_of(pos);
    LeaseEntry& le = q.lease(g, s);
    // A failed CAS reloads `w` and tries again while the word is still a
    // Pending of this lap: recovery's announce clears the owner of a Pending
    // word after it bumped the generation, and a scanner that gave up on it
    // then would not scan again (it has seen that generation): lost until the
    // next bump.
    for (Word w = le.word.load(kAcquire); word_lap(w) == lap && lease_state(w) == LeaseState::Pending;) {
      const std::uint32_t count = word_count(w);
      if (count >= max) {
        (void)dead_letter(q, g, pos, w, me, now_ms);
        break;
      }
      const Word leased = lease_word(lap, LeaseState::Leased, count + 1, me);
      // seq_cst: the session_alive load below must not move before it.
      if (le.word.compare_exchange_strong(w, leased, kSeqCst)) {
        SHMQ_CRASH_POINT("redeliver.leased");
        if (!session_alive(q, me)) return give_back_lease(q, g, pos, leased);
        write_deadline(q, le, g, leased, now_ms);
        // Count 0: a first delivery that a fenced session gave back.
        (count == 0 ? q.groups[g].delivered : q.groups[g].redelivered).fetch_add(1, kRelaxed);
        return {Status::Ok, pos, count + 1};
      }
    }
  }
  return {Status::Empty, 0, 0};
}

Delivery take_next(const QueueView& q, std::uint32_t g, Owner me) noexcept {
  GroupState& gs = q.groups[g];
  for (;;) {
    const std::uint64_t pos = gs.next.load(kAcquire);
    const std::uint32_t s = q.slot_of(pos);
    const std::uint32_t lap = q.lap_of(pos);
    LeaseEntry& le = q.lease(g, s);
    Word lw = le.word.load(kAcquire);
    if (word_lap(lw) != lap_before(lap)) {
      // This group is finished with pos: it took it (a cursor move left half
      // done), or the lease word is laps ahead because producers passed over
      // message-less positions. Or our pos was stale. Either way: move on,
      // but never a whole ring past the tail: a producer claims a position
      // before anyone passes it, so only corrupt lease words lead there, and
      // following them would walk up to 2^24 laps.
      if (pos >= q.hot->tail.load(kAcquire) + q.capacity) return {};
      help_advance(gs.next, pos);
      continue;
    }
    SlotHeader& slot = q.slot(s);
    // SYNC POINT: acquire pairs with the release of publish's CAS: header and
    // payload of lap `lap` are visible once the word says Ready.
    const Word sw = slot.state.load(kAcquire);
    if (word_lap(sw) != lap || slot_state(sw) == SlotState::Loaned) return {};  // not published yet

    if (slot_state(sw) == SlotState::Aborted || ((slot.group_mask.load(kRelaxed) >> g) & 1U) == 0) {
      // No message for this group at pos: pass over it.
      (void)pass_over_group(q, g, s, lap);
      help_advance(gs.next, pos);
      continue;
    }
    const Word leased = lease_word(lap, LeaseState::Leased, 1, me);
    // seq_cst: the session_alive load below must not move before it.
    if (le.word.compare_exchange_strong(lw, leased, kSeqCst)) {
      SHMQ_CRASH_POINT("receive.leased");
      help_advance(gs.next, pos);
      SHMQ_CRASH_POINT("receive.advanced");
      if (!session_alive(q, me)) return give_back_lease(q, g, pos, leased);
      gs.delivered.fetch_add(1, kRelaxed);
      return {Status::Ok, pos, 1};
    }
  }
}

void start_lease(const QueueView& q, std::uint32_t g, const Delivery& d, Owner me, std::uint64_t now_ms) noexcept {
  write_deadline(q, q.lease(g, q.slot_of(d.pos)), g, lease_word(q.lap_of(d.pos), LeaseState::Leased, d.count, me), now_ms);
}

std::uint32_t redelivery_generation(const QueueView& q, std::uint32_t g) noexcept {
  return q.groups[g].redeliver_gen.load(kAcquire);
}

bool session_alive(const QueueView& q, Owner me) noexcept {
  if (q.sessions == nullptr) return true;
  // SYNC POINT: seq_cst, after the caller's seq_cst claim or lease CAS; pairs
  // with fence_session's CAS and fence: either this load sees Fenced (and the
  // caller gives back what it just took), or the watchdog's recovery scan
  // after the fence sees what the CAS stamped and takes it back.
  const Word w = q.sessions[owner_index(me)].word.load(kSeqCst);
  return session_state(w) == SessionState::Alive && session_generation(w) == owner_generation(me);
}

bool owner_may_run(const QueueView& q, Owner owner) noexcept {
  if (q.sessions == nullptr || owner == kNoOwner) return false;
  const Word w = q.sessions[owner_index(owner)].word.load(kAcquire);
  return session_state(w) != SessionState::Free && session_generation(w) == owner_generation(owner);
}

Claim try_claim(const QueueView& q, Owner me) noexcept {
  for (;;) {
    const std::uint64_t pos = q.hot->tail.load(kAcquire);
    const std::uint32_t s = q.slot_of(pos);
    const std::uint32_t lap = q.lap_of(pos);
    SlotHeader& slot = q.slot(s);
    Word w = slot.state.load(kAcquire);
    if (word_lap(w) == lap) {  // already claimed for this lap: finish the cursor move
      help_advance(q.hot->tail, pos);
      continue;
    }
    if (word_lap(w) != lap_before(lap)) {
      if (q.hot->tail.load(kAcquire) == pos) return {};  // inconsistent word: the audit reports it
      continue;                                         // our pos was stale
    }
    if (slot_state(w) == SlotState::Loaned || !all_groups_done(q, s, word_lap(w))) return {};  // full

    const Owner quarantined = word_owner(w);
    if (slot_state(w) == SlotState::Aborted && owner_may_run(q, quarantined)) {
      // A fenced producer that may still run owns this slot's bytes: skip the
      // position (it carries no message) and keep the slot out of use.
      if (slot.state.compare_exchange_strong(w, slot_word(lap, SlotState::Aborted, quarantined), kAcqRel)) {
        SHMQ_CRASH_POINT("loan.skipped");
        help_advance(q.hot->tail, pos);
        pass_over(q, s, lap);
      }
      continue;
    }
    // seq_cst: the session_alive load below must not move before it.
    if (slot.state.compare_exchange_strong(w, slot_word(lap, SlotState::Loaned, me), kSeqCst)) {
      SHMQ_CRASH_POINT("loan.claimed");
      help_advance(q.hot->tail, pos);
      if (!session_alive(q, me)) {
        (void)abort_loan(q, pos, me);  // fails harmlessly if the watchdog quarantined it first
        return {Status::Fenced, 0};
      }
      return {Status::Ok, pos};
    }
  }
}

Status publish(const QueueView& q, std::uint64_t pos, Owner me, std::uint64_t id, std::uint32_t length,
               std::uint64_t commit_ns, std::uint16_t group_mask) noexcept {
  const std::uint32_t s = q.slot_of(pos);
  const std::uint32_t lap = q.lap_of(pos);
  SlotHeader& slot = q.slot(s);
  Word expected = slot_word(lap, SlotState::Loaned, me);
  if (!session_alive(q, me)) return Status::Fenced;
  if (slot.state.load(kRelaxed) != expected) return Status::LeaseLost;
  slot.id = id;
  slot.commit_ns = commit_ns;
  slot.length = length;
  slot.group_mask.store(group_mask, kRelaxed);
  SHMQ_CRASH_POINT("commit.written");
  // SYNC POINT: release publishes header and payload; pairs with the acquire
  // load in take_next. seq_cst so the following load of consumers_parked
  // cannot be ordered before it (lost wake-up; see wait.hpp).
  if (!slot.state.compare_exchange_strong(expected, slot_word(lap, SlotState::Ready, kNoOwner), kSeqCst))
    return Status::LeaseLost;
  SHMQ_CRASH_POINT("commit.published");
  return Status::Ok;
}

Status abort_loan(const QueueView& q, std::uint64_t pos, Owner me) noexcept {
  const std::uint32_t s = q.slot_of(pos);
  const std::uint32_t lap = q.lap_of(pos);
  Word expected = slot_word(lap, SlotState::Loaned, me);
  if (!q.slot(s).state.compare_exchange_strong(expected, slot_word(lap, SlotState::Aborted, kNoOwner), kSeqCst))
    return Status::LeaseLost;
  SHMQ_CRASH_POINT("abort.done");
  pass_over(q, s, lap);  // free for the next lap even if no consumer runs
  return Status::Ok;
}

Status settle(const QueueView& q, std::uint32_t g, std::uint64_t pos, std::uint32_t count, Owner me,
              LeaseState to) noexcept {
  const std::uint32_t lap = q.lap_of(pos);
  Word expected = lease_word(lap, LeaseState::Leased, count, me);
  // A nack keeps `me` in the Pending word: killed before the generation bump
  // below, `me`'s recovery finds the word and bumps it (see layout.hpp).
  const Word desired = to == LeaseState::Pending ? lease_word(lap, LeaseState::Pending, count, me)
                                                 : lease_word(lap, LeaseState::Done, 0, kNoOwner);
  // Checked before the CAS: an ack that loses this race to the fence is
  // decided by the CAS below (it fails once recovery took the lease back).
  if (!session_alive(q, me)) return Status::Fenced;
  // SYNC POINT: release orders this consumer's reads of the payload before the
  // slot's reuse; pairs with the acquire in all_groups_done. seq_cst for the
  // parked-producer check that follows (see wait.hpp).
  if (!q.lease(g, q.slot_of(pos)).word.compare_exchange_strong(expected, desired, kSeqCst)) return Status::LeaseLost;
  SHMQ_CRASH_POINT("settle.done");
  if (to == LeaseState::Pending) {
    // After the CAS: a scanner that saw the new generation finds the Pending
    // word. A crash just before this leaves the bump to `me`'s recovery.
    q.groups[g].redeliver_gen.fetch_add(1, kSeqCst);
  } else {
    q.groups[g].acked.fetch_add(1, kRelaxed);
  }
  return Status::Ok;
}

Status extend_lease(const QueueView& q, std::uint32_t g, std::uint64_t pos, std::uint32_t count, Owner me,
                    std::uint64_t now_ms, std::uint64_t new_deadline_ms) noexcept {
  const Word mine = lease_word(q.lap_of(pos), LeaseState::Leased, count, me);
  LeaseEntry& le = q.lease(g, q.slot_of(pos));
  if (!session_alive(q, me)) return Status::Fenced;
  if (le.word.load(kAcquire) != mine) return Status::LeaseLost;
  const std::uint64_t d = le.deadline.load(kRelaxed);
  if (deadline_word_tag(d) == deadline_tag(mine) && deadline_ms(d) < now_ms) return Status::LeaseLost;  // ran out
  le.deadline.store(make_deadline(new_deadline_ms, mine), kSeqCst);
  // Still ours after the store: an expirer that CASes later reads the new deadline.
  return le.word.load(kSeqCst) == mine ? Status::Ok : Status::LeaseLost;
}

int find_dead_letter(const QueueView& q, std::uint32_t g, std::uint32_t slot, std::uint32_t lap) noexcept {
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    const DlqHeader& e = q.dlq_entry(i);
    const Word w = e.state.load(kAcquire);
    if (static_cast<DlqState>(word_state(w)) == DlqState::Full && e.group == g && e.source_slot == slot &&
        e.source_lap == lap)
      return static_cast<int>(i);
  }
  return -1;
}

bool dead_letter(const QueueView& q, std::uint32_t g, std::uint64_t pos, Word pending_word, Owner me,
                 std::uint64_t now_ms) noexcept {
  const std::uint32_t s = q.slot_of(pos);
  const std::uint32_t lap = q.lap_of(pos);
  LeaseEntry& le = q.lease(g, s);
  Word expected = pending_word;
  Word marking = lease_word(lap, LeaseState::DeadLettering, word_count(pending_word), me);
  if (!le.word.compare_exchange_strong(expected, marking, kAcqRel)) return false;
  SHMQ_CRASH_POINT("deadletter.marked");

  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    DlqHeader& e = q.dlq_entry(i);
    Word free_word = e.state.load(kAcquire);
    if (static_cast<DlqState>(word_state(free_word)) != DlqState::Free) continue;
    if (!e.state.compare_exchange_strong(free_word, make_word(lap, static_cast<std::uint8_t>(DlqState::Filling), 0, me),
                                         kAcqRel))
      continue;
    SHMQ_CRASH_POINT("deadletter.claimed");
    const SlotHeader& slot = q.slot(s);
    e.id = slot.id;
    e.commit_ns = slot.commit_ns;
    e.dead_ms = now_ms;
    const std::uint32_t length = q.payload_length(s);
    e.length = length;
    e.delivery_count = word_count(pending_word);
    e.source_slot = s;
    e.source_lap = lap;
    e.group = static_cast<std::uint16_t>(g);
    e.reason = static_cast<std::uint16_t>(DeadLetterReason::MaxDeliveries);
    std::memcpy(q.dlq_payload(i), q.payload(s), length);
    SHMQ_CRASH_POINT("deadletter.copied");
    // SYNC POINT: release publishes the copy; pairs with the acquire in
    // find_dead_letter and the DLQ readers.
    e.state.store(make_word(lap, static_cast<std::uint8_t>(DlqState::Full), 0, kNoOwner), kRelease);
    SHMQ_CRASH_POINT("deadletter.published");
    // SYNC POINT: release, like an ack: the copy happens before the slot's reuse.
    (void)le.word.compare_exchange_strong(marking, lease_word(lap, LeaseState::Done, 0, kNoOwner), kSeqCst);
    q.groups[g].dead_lettered.fetch_add(1, kRelaxed);
    return true;
  }
  // The area is full: leave the message Pending; it is dead-lettered once room frees.
  (void)le.word.compare_exchange_strong(marking, pending_word, kAcqRel);
  return false;
}

}  // namespace shmq::detail
