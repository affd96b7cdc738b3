// shmq-chaos's ledger: what the workers did, in anonymous shared memory the
// controller maps before it forks them, so it survives every kill -9 and the
// controller reads it after the workers are gone.
//
// Memory map (one MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE mapping):
//
//   +0                      Ledger header (flags, one ProducerState and one
//                           WorkerCounters per worker, each on its own line)
//   +sizeof(Ledger)         record map: kGroups x producers x per_producer
//                           bytes, one RecordCell per (group, producer, seq);
//                           pages are touched only as messages flow
//
// Who writes what:
//   Ledger::stop_*          controller (release), workers read (acquire)
//   ProducerState           its producer: next (release) after each commit,
//                           attempting around it; the controller reads them
//                           once the producer is dead (waitpid orders it)
//   WorkerCounters          its worker, relaxed; summed by the controller
//   KeeperState             replay_requests: the controller (release), the
//                           keeper reads it (acquire); the rest: the keeper
//   record map cells        the consumers of the cell's group and the
//                           dead-letter keeper, CAS (relaxed: the cells carry
//                           no other data, and the controller reads them after
//                           the workers exited)
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace shmq::chaos {

// The ledger's counters are tallies read after the workers stopped: relaxed.
inline constexpr auto kRelaxed = std::memory_order_relaxed;

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::uint32_t kMaxProducers = 64;
inline constexpr std::uint32_t kMaxConsumersPerGroup = 64;
inline constexpr std::uint32_t kGroups = 4;  // see kGroupNames

// The queue's groups: two at-least-once (long and short lease), one
// at-most-once, and one at-least-once whose consumers nack often and whose
// max_deliveries is small, so its messages reach the dead-letter area. Only
// that group may dead-letter anything.
inline constexpr const char* kGroupNames[kGroups] = {"alo-long", "alo-short", "amo", "alo-dlq"};
inline constexpr bool kAtMostOnce[kGroups] = {false, false, true, false};
inline constexpr std::uint32_t kDlqGroup = 3;
inline constexpr std::uint32_t kDlqMaxDeliveries = 3;  // the other groups: 4095
inline constexpr std::uint32_t kDlqCapacity = 64;       // entries of the queue's dead-letter area
inline constexpr std::uint32_t kMaxWorkers = kMaxProducers + kGroups * kMaxConsumersPerGroup;

// A producer's progress. Sequence numbers below `next` are committed (or, for
// the few the controller marked in doubt, maybe committed). `attempting` is
// seq + 1 while the producer tries to commit seq, else 0: if the producer dies
// with attempting == next + 1, message `next` may or may not be in the queue.
struct alignas(kCacheLine) ProducerState {
  std::atomic<std::uint64_t> next;        // 8  first sequence not known committed
  std::atomic<std::uint64_t> attempting;  // 8  seq + 1 being committed, or 0
};
static_assert(sizeof(ProducerState) == kCacheLine);

// What one worker slot counted, over every incarnation of its process.
struct alignas(kCacheLine) WorkerCounters {
  std::atomic<std::uint64_t> committed;     // producer: messages committed
  std::atomic<std::uint64_t> received;      // consumer: messages received
  std::atomic<std::uint64_t> redelivered;   // consumer: of them, delivery_count > 1
  std::atomic<std::uint64_t> nacked;        // consumer: handed back on purpose
  std::atomic<std::uint64_t> lease_lost;    // consumer: ack refused, taken back
  std::atomic<std::uint64_t> corrupted;     // consumer: bad size, checksum or sequence
  std::atomic<std::uint64_t> fenced;        // incarnations that ended fenced
  // consumer: record map index + 1 of the message recorded and not yet acked
  // (0: none). If the consumer dies meanwhile, the controller cannot tell
  // whether the ack happened and marks the cell redelivered.
  std::atomic<std::uint64_t> unsettled;
};
static_assert(sizeof(WorkerCounters) == kCacheLine);  // one line, one writer

// The dead-letter keeper (one process at a time, tools/chaos/keeper.cpp).
struct alignas(kCacheLine) KeeperState {
  std::atomic<std::uint64_t> replay_requests;  // controller: one more for each replay fault
  std::atomic<std::uint64_t> served;           // the requests a replay round has served
  std::atomic<std::uint64_t> replayed;         // dead letters published again
  std::atomic<std::uint64_t> dropped;          // entries freed to make room, after they were recorded
  std::atomic<std::uint64_t> stray;            // dead letters of a group that must have none
  std::atomic<std::uint64_t> corrupted;        // bad payload, id, group or delivery count
  std::atomic<std::uint64_t> fenced;           // incarnations that ended fenced
};
static_assert(sizeof(KeeperState) == kCacheLine);

struct Ledger {
  alignas(kCacheLine) std::atomic<std::uint32_t> stop_producers;  // 1: finish the message, exit 0
  std::atomic<std::uint32_t> stop_consumers;                      // 1: consumers and keeper exit 0 at the next poll
  ProducerState producers[kMaxProducers];
  WorkerCounters workers[kMaxWorkers];
  KeeperState keeper;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(alignof(Ledger) == kCacheLine);

// One byte per (group, producer, seq): how often a consumer of the group
// recorded the message before acking it, whether a delivery said it was a
// redelivery (which explains a second record), and its dead-letter history.
//   bit 7      redelivered: some delivery had delivery_count > 1
//   bit 6      dead-lettered: seen in the dead-letter area, checked intact
//   bit 5      replay owed: replayed since it was last seen in the area, so
//              it must be acked or seen there again
//   bits 0..4  records, saturating at 31
struct RecordCell {
  static constexpr std::uint8_t kRedelivered = 0x80;
  static constexpr std::uint8_t kDeadLettered = 0x40;
  static constexpr std::uint8_t kReplayOwed = 0x20;
  static constexpr std::uint8_t kCountMask = 0x1f;

  // Adds `delta` (+1 or -1) to the count; sets the redelivered bit if asked.
  static void add(std::uint8_t& byte, int delta, bool redelivered) noexcept {
    update(byte, [&](std::uint8_t old) {
      const int count = std::clamp((old & kCountMask) + delta, 0, int{kCountMask});
      return static_cast<std::uint8_t>((old & ~kCountMask) | count | (redelivered ? kRedelivered : 0));
    });
  }
  // Seen in the dead-letter area: whatever a replay owed is settled.
  static void dead_lettered(std::uint8_t& byte) noexcept {
    update(byte, [](std::uint8_t old) {
      return static_cast<std::uint8_t>((old | kDeadLettered) & ~kReplayOwed);
    });
  }
  // About to be replayed (set before the replay publishes, so a consumer's
  // record of the copy always comes after it).
  static void replay_owed(std::uint8_t& byte) noexcept {
    update(byte, [](std::uint8_t old) { return static_cast<std::uint8_t>(old | kReplayOwed); });
  }

 private:
  template <class F>
  static void update(std::uint8_t& byte, F next_of) noexcept {
    std::atomic_ref<std::uint8_t> cell(byte);
    std::uint8_t old = cell.load(std::memory_order_relaxed);
    while (!cell.compare_exchange_weak(old, next_of(old), std::memory_order_relaxed)) {
    }
  }
};

}  // namespace shmq::chaos
