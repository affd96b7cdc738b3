#include "core/inspect.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <map>

#include "core/ring.hpp"

namespace shmq::detail {

// Acquire everywhere: a reader that sees a word also sees the header fields
// (commit_ns, length, group_mask) its writer published before it.

namespace {

void note_oldest(std::uint64_t& oldest, std::uint64_t commit_ns) noexcept {
  if (commit_ns != 0 && (oldest == 0 || commit_ns < oldest)) oldest = commit_ns;
}

GroupStats group_header(const QueueView& q, std::uint32_t g, std::uint64_t tail) {
  const GroupInfo& gi = q.group_info(g);
  const GroupState& gs = q.groups[g];
  GroupStats s;
  s.name.assign(gi.name, ::strnlen(gi.name, sizeof gi.name));
  s.at_most_once = gi.at_most_once != 0;
  s.max_deliveries = gi.max_deliveries;
  s.lease_timeout_ms = gi.lease_timeout_ms;
  s.next = gs.next.load(kAcquire);
  s.lag = tail > s.next ? tail - s.next : 0;
  // Relaxed: statistics, never used for a decision.
  s.delivered = gs.delivered.load(kRelaxed);
  s.acked = gs.acked.load(kRelaxed);
  s.redelivered = gs.redelivered.load(kRelaxed);
  s.expired = gs.expired.load(kRelaxed);
  s.dead_lettered = gs.dead_lettered.load(kRelaxed);
  s.recovered = gs.recovered.load(kRelaxed);
  s.dropped = gs.dropped.load(kRelaxed);
  return s;
}

}  // namespace

GroupHold group_hold(Word slot_word, Word lease_word) noexcept {
  const std::uint32_t lap = word_lap(slot_word);
  if (word_lap(lease_word) == lap_before(lap))
    return lease_state(lease_word) == LeaseState::Done ? GroupHold::Untaken : GroupHold::OutOfStep;
  if (word_lap(lease_word) != lap) return GroupHold::OutOfStep;
  switch (lease_state(lease_word)) {
    case LeaseState::Done: return GroupHold::Done;
    case LeaseState::Pending: return GroupHold::Pending;
    case LeaseState::Leased:
    case LeaseState::DeadLettering: return GroupHold::Leased;
    default: return GroupHold::OutOfStep;
  }
}

SlotUse slot_use(const QueueView& q, Word slot_word, const GroupHold* holds) noexcept {
  if (slot_state(slot_word) == SlotState::Loaned) return SlotUse::Loaned;
  const GroupHold* end = holds + q.group_count;
  auto any = [&](GroupHold h) { return std::find(holds, end, h) != end; };
  if (any(GroupHold::Leased)) return SlotUse::Leased;
  if (any(GroupHold::Pending)) return SlotUse::Pending;
  // An out-of-step word is not Done either: the slot is not reusable.
  if (any(GroupHold::Untaken) || any(GroupHold::OutOfStep)) return SlotUse::Waiting;
  if (slot_state(slot_word) == SlotState::Aborted && owner_may_run(q, word_owner(slot_word)))
    return SlotUse::Quarantined;
  return SlotUse::Free;
}

QueueStats queue_stats(const QueueView& q) {
  QueueStats st;
  st.capacity = q.capacity;
  st.slot_size = q.slot_size();
  st.dlq_capacity = q.dlq_capacity;
  st.tail = q.hot->tail.load(kAcquire);
  std::vector<std::map<Owner, HolderStats>> holders(q.group_count);
  for (std::uint32_t g = 0; g < q.group_count; ++g) st.groups.push_back(group_header(q, g, st.tail));

  std::array<GroupHold, kMaxGroups> holds{};
  for (std::uint32_t s = 0; s < q.capacity; ++s) {
    const SlotHeader& slot = q.slot(s);
    const Word sw = slot.state.load(kAcquire);
    const std::uint64_t commit_ns = slot.commit_ns;
    for (std::uint32_t g = 0; g < q.group_count; ++g) {
      const Word lw = q.lease(g, s).word.load(kAcquire);
      holds[g] = group_hold(sw, lw);
      if (slot_state(sw) == SlotState::Loaned) continue;
      GroupStats& gs = st.groups[g];
      switch (holds[g]) {
        case GroupHold::Leased: {
          ++gs.leased;
          HolderStats& h = holders[g][word_owner(lw)];
          h.owner = word_owner(lw);
          ++h.leased;
          note_oldest(h.oldest_commit_ns, commit_ns);
          note_oldest(gs.oldest_unacked_commit_ns, commit_ns);
          break;
        }
        case GroupHold::Pending:
          ++gs.pending;
          note_oldest(gs.oldest_unacked_commit_ns, commit_ns);
          break;
        case GroupHold::Untaken:
          // A message for this group (not a position it only passes over).
          if (slot_state(sw) == SlotState::Ready && ((slot.group_mask.load(kRelaxed) >> g) & 1U) != 0) {
            ++gs.ready;
            note_oldest(gs.oldest_unacked_commit_ns, commit_ns);
          }
          break;
        default: break;  // Done; OutOfStep: `shmq-cli check` (audit) reports it
      }
    }
    switch (slot_use(q, sw, holds.data())) {
      case SlotUse::Loaned: ++st.loaned; break;
      case SlotUse::Quarantined: ++st.quarantined; break;
      case SlotUse::Free: ++st.free; break;
      default: break;  // in use by the groups: counted per group above
    }
  }
  for (std::uint32_t g = 0; g < q.group_count; ++g)
    for (const auto& [owner, h] : holders[g]) st.groups[g].holders.push_back(h);

  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i)
    if (static_cast<DlqState>(word_state(q.dlq_entry(i).state.load(kAcquire))) == DlqState::Full) ++st.dead_letters;

  for (std::uint32_t i = 0; i < kMaxSessions; ++i) {
    const Attachment& a = q.attachments[i];
    const Owner owner = a.owner.load(kAcquire);
    if (owner == kNoOwner) continue;
    const std::uint32_t roles = a.roles.load(kRelaxed);
    st.attachments.push_back(
        {owner, (roles & kRoleProducer) != 0, (roles & kRoleConsumer) != 0, a.groups.load(kRelaxed)});
  }
  return st;
}

namespace {

void add_problem(AuditReport& a, std::string text) {
  constexpr std::size_t kMaxProblems = 32;
  if (a.problems.size() < kMaxProblems) a.problems.push_back(std::move(text));
}

std::string owner_text(Owner o) {
  return "session " + std::to_string(owner_index(o)) + "/" + std::to_string(owner_generation(o));
}

}  // namespace

AuditReport audit(const QueueView& q) {
  AuditReport a;
  const std::uint64_t tail = q.hot->tail.load(kAcquire);
  std::array<GroupHold, kMaxGroups> holds{};
  for (std::uint32_t s = 0; s < q.capacity; ++s) {
    const Word w = q.slot(s).state.load(kAcquire);
    const std::uint32_t lap = word_lap(w);
    // The position of slot s in [tail, tail + capacity): the slot is at that
    // position's lap (claimed ahead of a lagging tail) or the lap before.
    const std::uint64_t pos = tail + ((s - tail) & q.mask);
    if (lap != q.lap_of(pos) && lap != lap_before(q.lap_of(pos)))
      add_problem(a, "slot " + std::to_string(s) + " is at lap " + std::to_string(lap) + ", out of step with tail " +
                         std::to_string(tail));
    for (std::uint32_t g = 0; g < q.group_count; ++g) {
      const Word lw = q.lease(g, s).word.load(kAcquire);
      holds[g] = group_hold(w, lw);
      if (slot_state(w) == SlotState::Loaned) continue;
      const std::string where = "slot " + std::to_string(s) + " group " + std::to_string(g);
      if (holds[g] == GroupHold::OutOfStep)
        add_problem(a, where + " has a lease word of lap " + std::to_string(word_lap(lw)) + " in state " +
                           std::to_string(word_state(lw)) + ", slot is at lap " + std::to_string(lap));
      if (holds[g] == GroupHold::Leased && q.sessions != nullptr && !owner_may_run(q, word_owner(lw)))
        add_problem(a, where + " is leased to " + owner_text(word_owner(lw)) + ", which is gone");
    }
    switch (slot_use(q, w, holds.data())) {
      case SlotUse::Loaned:
        ++a.loaned;
        if (q.sessions != nullptr && !owner_may_run(q, word_owner(w)))
          add_problem(a, "slot " + std::to_string(s) + " is loaned to " + owner_text(word_owner(w)) + ", which is gone");
        break;
      case SlotUse::Leased: ++a.leased; break;
      case SlotUse::Pending: ++a.pending; break;
      case SlotUse::Waiting: ++a.waiting; break;
      case SlotUse::Quarantined: ++a.quarantined; break;
      case SlotUse::Free: ++a.free; break;
    }
  }
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    const Word w = q.dlq_entry(i).state.load(kAcquire);
    if (static_cast<DlqState>(word_state(w)) == DlqState::Full) ++a.dead_letters;
    if (static_cast<DlqState>(word_state(w)) == DlqState::Filling && q.sessions != nullptr &&
        !owner_may_run(q, word_owner(w)))
      add_problem(a, "dead-letter entry " + std::to_string(i) + " is being filled by " + owner_text(word_owner(w)) +
                         ", which is gone");
  }
  return a;
}

std::vector<PeekedMessage> peek_messages(const QueueView& q, std::uint32_t g, std::size_t max) {
  std::vector<PeekedMessage> out;
  if (g >= q.group_count) return out;
  const std::uint64_t next = q.groups[g].next.load(kAcquire);
  const std::uint64_t tail = q.hot->tail.load(kAcquire);
  // Pending messages sit in [next - capacity, next] (next itself when a
  // consumer died between its lease CAS and the cursor move), first deliveries
  // in [next, tail]. Positions below `capacity` never carry a message.
  const std::uint64_t first = std::max<std::uint64_t>(next, 2ULL * q.capacity) - q.capacity;
  const std::uint64_t end = std::min(std::max(tail, next) + 1, next + q.capacity);
  for (std::uint64_t pos = first; pos < end && out.size() < max; ++pos) {
    const std::uint32_t s = q.slot_of(pos);
    const std::uint32_t lap = q.lap_of(pos);
    const Word lw = q.lease(g, s).word.load(kAcquire);
    std::uint32_t count = 0;
    if (word_lap(lw) == lap && lease_state(lw) == LeaseState::Pending) {
      count = word_count(lw);
    } else if (!(word_lap(lw) == lap_before(lap) && lease_state(lw) == LeaseState::Done)) {
      continue;  // taken, done, or of another lap
    }
    const SlotHeader& slot = q.slot(s);
    // SYNC POINT: acquire pairs with publish's release: the header and payload
    // of a Ready word are complete.
    const Word before = slot.state.load(kAcquire);
    if (word_lap(before) != lap || slot_state(before) != SlotState::Ready) continue;
    if (count == 0 && ((slot.group_mask.load(kRelaxed) >> g) & 1U) == 0) continue;
    PeekedMessage m;
    m.pos = pos;
    m.id = slot.id;
    m.commit_ns = slot.commit_ns;
    m.delivery_count = count;
    const std::uint32_t length = q.payload_length(s);
    // assign, not memcpy: an empty message leaves data() nullptr, and
    // memcpy(nullptr, p, 0) is undefined.
    m.data.assign(q.payload(s), q.payload(s) + length);
    // A slot is rewritten only after a claim moved its word to another lap: if
    // the word is unchanged after the copy (reads ordered before the re-check
    // by the fence), the copy is whole.
    fence_reads_before_recheck();
    if (slot.state.load(kRelaxed) != before) continue;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace shmq::detail
