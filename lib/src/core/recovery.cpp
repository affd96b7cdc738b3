#include "core/recovery.hpp"

#include "core/parking.hpp"
#include "core/ring.hpp"
#include "layout/crash_point.hpp"

namespace shmq::detail {

namespace {

DlqState dlq_state(Word w) noexcept { return static_cast<DlqState>(word_state(w)); }

void free_filling_entries(const QueueView& q, Owner dead, RecoveryResult& r) noexcept {
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    Word w = q.dlq_entry(i).state.load(kAcquire);
    // SYNC POINT: acq_rel: the entry is free for a new dead letter only after
    // the dead writer's partial copy (nothing reads it: it was never Full).
    if (dlq_state(w) == DlqState::Filling && word_owner(w) == dead &&
        q.dlq_entry(i).state.compare_exchange_strong(w, 0, kAcqRel)) {
      ++r.dlq_entries_freed;
      SHMQ_CRASH_POINT("recover.dlq_freed");
    }
  }
}

void recover_slots(const QueueView& q, Owner dead, bool may_still_run, RecoveryResult& r) noexcept {
  for (std::uint32_t s = 0; s < q.capacity; ++s) {
    std::atomic<Word>& state = q.slot(s).state;
    // SYNC POINT: seq_cst pairs with the fence CAS (registry.cpp transition)
    // and the claimer's seq_cst claim + session_alive check (ring.cpp): a
    // claim by a just-fenced session is seen here, or it sees Fenced itself.
    Word w = state.load(kSeqCst);
    if (slot_state(w) != SlotState::Loaned || word_owner(w) != dead) continue;
    // A producer that may resume keeps its stamp on the slot (quarantine), so
    // nobody reuses bytes it might still write.
    const Owner keep = may_still_run ? dead : kNoOwner;
    if (state.compare_exchange_strong(w, slot_word(word_lap(w), SlotState::Aborted, keep), kSeqCst)) {
      ++r.loans_aborted;
      SHMQ_CRASH_POINT("recover.slot_aborted");
      pass_over(q, s, word_lap(w));
    }
  }
}

// A Pending word that names `dead`: `dead` (or a recovery of it) made it and
// may have died before bumping the redelivery generation. Bumped here before
// the name is cleared, so a recovery killed in between bumps again: a
// consumer that rescans only when the generation moves always finds it.
bool announce(const QueueView& q, std::uint32_t g, LeaseEntry& le, Word w) noexcept {
  // SYNC POINT: seq_cst, after the Pending word was written: a consumer that
  // loads the new generation (acquire, redelivery_generation) finds the word.
  q.groups[g].redeliver_gen.fetch_add(1, kSeqCst);
  SHMQ_CRASH_POINT("recover.announced");
  return le.word.compare_exchange_strong(w, lease_word(word_lap(w), LeaseState::Pending, word_count(w), kNoOwner),
                                         kSeqCst);
}

void recover_leases(const QueueView& q, Owner dead, RecoveryResult& r) noexcept {
  for (std::uint32_t g = 0; g < q.group_count; ++g) {
    const bool at_most_once = q.group_info(g).at_most_once != 0;
    for (std::uint32_t s = 0; s < q.capacity; ++s) {
      LeaseEntry& le = q.lease(g, s);
      // SYNC POINT: seq_cst, as in recover_slots: a lease taken by a
      // just-fenced session is seen here, or its taker sees Fenced.
      Word w = le.word.load(kSeqCst);
      if (word_owner(w) != dead) continue;
      const std::uint32_t lap = word_lap(w);
      const Word done = lease_word(lap, LeaseState::Done, 0, kNoOwner);
      // Back to Pending still naming `dead` until announce clears the name:
      // a recovery killed before the bump leaves a word the next one finds.
      const Word pending = lease_word(lap, LeaseState::Pending, word_count(w), dead);
      switch (lease_state(w)) {
        case LeaseState::Pending:  // made by `dead` (nack, give-back, expiry) before it died
          if (announce(q, g, le, w)) ++r.redeliveries_announced;
          break;
        case LeaseState::Leased:
          if (!le.word.compare_exchange_strong(w, at_most_once ? done : pending, kSeqCst)) break;
          SHMQ_CRASH_POINT("recover.lease_taken");
          if (at_most_once) {
            ++r.leases_released;
            q.groups[g].dropped.fetch_add(1, kRelaxed);
          } else {
            ++r.leases_requeued;
            q.groups[g].recovered.fetch_add(1, kRelaxed);
            (void)announce(q, g, le, pending);
          }
          break;
        case LeaseState::DeadLettering: {
          // Finished if the copy reached the DLQ, else back to Pending to redo.
          const bool copied = find_dead_letter(q, g, s, lap) >= 0;
          if (!le.word.compare_exchange_strong(w, copied ? done : pending, kSeqCst)) break;
          SHMQ_CRASH_POINT("recover.lease_taken");
          ++r.dead_letters_finished;
          if (!copied) (void)announce(q, g, le, pending);
          break;
        }
        default: break;
      }
    }
  }
}

void recover_attachment(const QueueView& q, Owner dead, RecoveryResult& r) noexcept {
  Attachment& a = q.attachments[owner_index(dead)];
  if (a.owner.load(kAcquire) != dead) return;
  r.parked_fixed += clear_lane(q.hot->consumers_parked, owner_index(dead));
  r.parked_fixed += clear_lane(q.hot->producers_parked, owner_index(dead));
  SHMQ_CRASH_POINT("recover.lanes_cleared");
  Owner expected = dead;
  a.owner.compare_exchange_strong(expected, kNoOwner, kAcqRel);
}

}  // namespace

RecoveryResult recover_session(const QueueView& q, Owner dead, bool may_still_run) noexcept {
  RecoveryResult r;
  if (dead == kNoOwner) return r;
  // DLQ first: a half-filled entry is freed before its lease goes back to Pending.
  free_filling_entries(q, dead, r);
  recover_slots(q, dead, may_still_run, r);
  recover_leases(q, dead, r);
  // A process that may resume will lower its own parked lanes.
  if (!may_still_run) recover_attachment(q, dead, r);
  return r;
}

void attach(const QueueView& q, Owner me) noexcept {
  q.attachments[owner_index(me)].owner.store(me, kRelease);
  SHMQ_CRASH_POINT("attach.owned");
}

RecoveryResult detach(const QueueView& q, Owner me) noexcept {
  Attachment& a = q.attachments[owner_index(me)];
  a.roles.store(0, kRelaxed);
  a.groups.store(0, kRelaxed);
  return recover_session(q, me, false);  // clears the attachment last
}

bool attached(const QueueView& q, Owner o) noexcept {
  return q.attachments[owner_index(o)].owner.load(kAcquire) == o;
}

bool recover_dead_session(const RegistryView& reg, std::span<QueueRecovery> queues, Owner dead) noexcept {
  (void)fence_session(reg, dead);
  SHMQ_CRASH_POINT("recover.fenced");
  for (QueueRecovery& qr : queues) {
    const QueueView& q = *qr.view;
    qr.attached = attached(q, dead);
    qr.result = qr.attached ? recover_session(q, dead, false) : RecoveryResult{};
    SHMQ_CRASH_POINT("recover.queue_done");
  }
  return release_session(reg, dead);
}

ExpiryResult expire_group_leases(const QueueView& q, std::uint32_t g, std::uint64_t now_ms, Owner me) noexcept {
  ExpiryResult r;
  const GroupInfo& gi = q.group_info(g);
  if (gi.at_most_once != 0) return r;
  bool requeued = false;
  for (std::uint32_t s = 0; s < q.capacity; ++s) {
    LeaseEntry& le = q.lease(g, s);
    Word w = le.word.load(kAcquire);
    if (lease_state(w) == LeaseState::Leased) {
      const std::uint64_t d = le.deadline.load(kRelaxed);
      // A deadline of another lease: not written yet (or its writer died,
      // which session recovery handles).
      if (deadline_word_tag(d) != deadline_tag(w) || deadline_ms(d) >= now_ms) continue;
      // Pending with `me` until the bump below: an expirer killed before it
      // leaves the bump to its own recovery (see Pending in layout.hpp).
      const Word pending = lease_word(word_lap(w), LeaseState::Pending, word_count(w), me);
      if (le.word.compare_exchange_strong(w, pending, kSeqCst)) {
        SHMQ_CRASH_POINT("expire.pending");
        ++r.expired;
        requeued = true;
        q.groups[g].expired.fetch_add(1, kRelaxed);
        w = pending;
      }
    }
    if (lease_state(w) == LeaseState::Pending && word_count(w) >= gi.max_deliveries) {
      // The word's position: slot s in the group's window [next - capacity, next].
      const std::uint64_t next = q.groups[g].next.load(kAcquire);
      for (std::uint64_t pos = next - q.capacity + ((s - next) & q.mask); pos <= next; pos += q.capacity)
        if (q.lap_of(pos) == word_lap(w) && dead_letter(q, g, pos, w, me, now_ms)) ++r.dead_lettered;
    }
  }
  if (requeued) q.groups[g].redeliver_gen.fetch_add(1, kSeqCst);
  return r;
}

ExpiryResult expire_leases(const QueueView& q, std::uint64_t now_ms, Owner me) noexcept {
  ExpiryResult r;
  for (std::uint32_t g = 0; g < q.group_count; ++g) {
    const ExpiryResult gr = expire_group_leases(q, g, now_ms, me);
    r.expired += gr.expired;
    r.dead_lettered += gr.dead_lettered;
  }
  return r;
}

}  // namespace shmq::detail
