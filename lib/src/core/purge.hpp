// Purge: drop every message of a queue that no consumer holds, in every group.
//
// What goes, per group:
//   * Ready messages the group has not taken yet (slot at lap L, Ready, the
//     group's lease word still at lap L-1, Done): one CAS moves the lease word
//     to (L, Done), exactly what take_next's pass-over of a message-less
//     position does, so consumers simply skip it;
//   * Pending messages waiting for redelivery: one CAS Pending -> (L, Done).
// What stays: messages leased to a consumer (its ack or nack still works; a
// nacked one is back to Pending after the purge and is delivered again),
// messages being dead-lettered, slots still loaned to a producer (committed
// after the purge started: they are delivered), and the dead-letter area.
//
// Each step is one CAS that expects the exact word it read, so purge races
// safely with producers, consumers, recovery and another purge (whoever wins
// a word, the other's CAS fails and moves on), and a purge killed between two
// steps leaves a queue where some messages are dropped and the rest are not:
// both are valid states, nothing to undo. Afterwards it helps advance each
// group's `next` cursor past what it dropped (a hint; take_next would do it).
//
// No system calls: the caller wakes parked producers afterwards (slots freed).
#pragma once

#include <array>
#include <cstdint>

#include "layout/layout.hpp"
#include "layout/queue_view.hpp"

namespace shmq::detail {

struct PurgeResult {
  std::uint32_t group_count = 0;
  std::array<std::uint32_t, kMaxGroups> ready{};    // not yet delivered, dropped
  std::array<std::uint32_t, kMaxGroups> pending{};  // waiting for redelivery, dropped
  // Drops over every group: a message dropped by two groups counts twice.
  [[nodiscard]] std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for (std::uint32_t g = 0; g < group_count; ++g) n += std::uint64_t{ready[g]} + pending[g];
    return n;
  }
};

// Anyone may call it (the daemon does, on request). Exact on a quiet queue;
// while producers run, messages committed during the purge may stay.
PurgeResult purge(const QueueView& q) noexcept;

}  // namespace shmq::detail
