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
//   record map cells        the consumers of the cell's group, CAS (relaxed:
//                           the cells carry no other data, and the controller
//                           reads them after the consumers exited)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace shmq::chaos {

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::uint32_t kMaxProducers = 64;
inline constexpr std::uint32_t kMaxConsumersPerGroup = 64;
inline constexpr std::uint32_t kGroups = 3;  // see kGroupNames

// The queue's groups: two at-least-once (long and short lease), one at-most-once.
inline constexpr const char* kGroupNames[kGroups] = {"alo-long", "alo-short", "amo"};
inline constexpr bool kAtMostOnce[kGroups] = {false, false, true};
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

struct Ledger {
  alignas(kCacheLine) std::atomic<std::uint32_t> stop_producers;  // 1: finish the message, exit 0
  std::atomic<std::uint32_t> stop_consumers;                      // 1: exit 0 at the next receive
  ProducerState producers[kMaxProducers];
  WorkerCounters workers[kMaxWorkers];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(alignof(Ledger) == kCacheLine);

// One byte per (group, producer, seq): how often a consumer of the group
// recorded the message before acking it, and whether a delivery said it was a
// redelivery (which explains a second record).
//   bit 7      redelivered: some delivery had delivery_count > 1
//   bits 0..6  records, saturating at 127
struct RecordCell {
  static constexpr std::uint8_t kRedelivered = 0x80;
  static constexpr std::uint8_t kCountMask = 0x7f;
};

}  // namespace shmq::chaos
