#include "core/dlq.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/inspect.hpp"
#include "core/ring.hpp"
#include "layout/crash_point.hpp"

namespace shmq::detail {

namespace {

constexpr auto kFull = static_cast<std::uint8_t>(DlqState::Full);

bool is_full(Word w) noexcept { return word_state(w) == kFull; }

// A Full entry nobody handles, or one whose replayer is gone.
bool takeable(const QueueView& q, Word w) noexcept {
  return is_full(w) && (word_owner(w) == kNoOwner || !owner_may_run(q, word_owner(w)));
}

}  // namespace

std::vector<DeadLetter> list_dead_letters(const QueueView& q) {
  std::vector<DeadLetter> out;
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    const DlqHeader& e = q.dlq_entry(i);
    // SYNC POINT: acquire pairs with the release store of Full in dead_letter:
    // header and payload of a Full entry are complete.
    const Word before = e.state.load(kAcquire);
    if (!is_full(before)) continue;
    DeadLetter d;
    d.index = i;
    d.id = e.id;
    d.commit_ns = e.commit_ns;
    d.dead_ms = e.dead_ms;
    d.group = e.group;
    d.delivery_count = e.delivery_count;
    d.reason = e.reason;
    d.replaying = word_owner(before);
    const std::uint32_t length = q.dlq_payload_length(i);
    // assign, not memcpy: an empty message leaves data() nullptr, and
    // memcpy(nullptr, p, 0) is undefined.
    d.data.assign(q.dlq_payload(i), q.dlq_payload(i) + length);
    // An entry is refilled only after it went Free: an unchanged word means an
    // untorn copy (the fence keeps the copy's reads before the re-check).
    fence_reads_before_recheck();
    const Word after = e.state.load(kRelaxed);
    if (!is_full(after) || word_lap(after) != word_lap(before)) continue;
    out.push_back(std::move(d));
  }
  return out;
}

Status replay_dead_letter(const QueueView& q, std::uint32_t index, Owner me, std::uint64_t now_ns) noexcept {
  if (index >= q.dlq_capacity) return Status::InvalidHandle;
  DlqHeader& e = q.dlq_entry(index);
  Word w = e.state.load(kAcquire);
  if (!takeable(q, w)) return Status::InvalidHandle;
  const std::uint32_t source_lap = word_lap(w);
  Word mine = make_word(source_lap, kFull, 0, me);
  // Step 1: the entry names its replayer; a second replay skips it.
  if (!e.state.compare_exchange_strong(w, mine, kAcqRel)) return Status::InvalidHandle;
  SHMQ_CRASH_POINT("replay.claimed");
  const std::uint32_t g = e.group;
  if (g >= q.group_count) {  // a corrupt entry: leave it for the audit to show
    (void)e.state.compare_exchange_strong(mine, make_word(source_lap, kFull, 0, kNoOwner), kAcqRel);
    return Status::InvalidHandle;
  }

  // Step 2: a normally claimed slot (a crash from here on: recovery aborts it).
  const Claim c = try_claim(q, me);
  if (c.status != Status::Ok) {
    (void)e.state.compare_exchange_strong(mine, make_word(source_lap, kFull, 0, kNoOwner), kAcqRel);
    return c.status;
  }
  const std::uint32_t s = q.slot_of(c.pos);
  const std::uint32_t lap = q.lap_of(c.pos);
  const std::uint32_t length = q.dlq_payload_length(index);
  std::memcpy(q.payload(s), q.dlq_payload(index), length);
  SHMQ_CRASH_POINT("replay.copied");

  // Step 3: published for the group that gave up on it only, with its old id.
  const Status p = publish(q, c.pos, me, e.id, length, now_ns, static_cast<std::uint16_t>(1U << g));
  if (p != Status::Ok) {
    (void)e.state.compare_exchange_strong(mine, make_word(source_lap, kFull, 0, kNoOwner), kAcqRel);
    return p;
  }
  SHMQ_CRASH_POINT("replay.published");
  // The other groups have nothing at this position: pass over it for them now
  // (as their take_next would), so the slot frees once group g is done. Fails
  // harmlessly where a consumer of that group passed over it first.
  pass_over(q, s, lap, g);

  SHMQ_CRASH_POINT("replay.passed_over");

  // Step 4. A crash before this CAS leaves a duplicate, never a loss (see the header).
  (void)e.state.compare_exchange_strong(mine, Word{0}, kAcqRel);
  return Status::Ok;
}

bool purge_dead_letter(const QueueView& q, std::uint32_t index) noexcept {
  if (index >= q.dlq_capacity) return false;
  std::atomic<Word>& state = q.dlq_entry(index).state;
  Word w = state.load(kAcquire);
  if (!takeable(q, w)) return false;
  return state.compare_exchange_strong(w, Word{0}, kAcqRel);
}

}  // namespace shmq::detail
