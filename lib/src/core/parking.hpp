// The parked-lanes words (see ParkedLanes in layout.hpp): who is asleep on a
// queue's futex. Pure shared-memory operations, no system calls.
#pragma once

#include <cstdint>

#include "layout/layout.hpp"

namespace shmq::detail {

inline std::uint32_t park_shift(std::uint32_t session_index) noexcept {
  return (session_index % kParkLanesPerWord) * kParkLaneBits;
}
inline std::atomic<std::uint64_t>& park_word(ParkedLanes& lanes, std::uint32_t session_index) noexcept {
  return lanes.words[session_index / kParkLanesPerWord];
}

// One more thread of the session parks. False when its lane is full (15
// threads of one session asleep on one queue): the caller then yields instead.
// seq_cst: pairs with the waker's check in any_parked (see wait.hpp).
inline bool raise_lane(ParkedLanes& lanes, std::uint32_t session_index) noexcept {
  std::atomic<std::uint64_t>& word = park_word(lanes, session_index);
  const std::uint32_t shift = park_shift(session_index);
  std::uint64_t w = word.load(kRelaxed);
  do {
    if (((w >> shift) & kParkLaneMax) == kParkLaneMax) return false;
  } while (!word.compare_exchange_weak(w, w + (std::uint64_t{1} << shift), kSeqCst));
  return true;
}

// The thread that raised the lane is awake again.
inline void lower_lane(ParkedLanes& lanes, std::uint32_t session_index) noexcept {
  park_word(lanes, session_index).fetch_sub(std::uint64_t{1} << park_shift(session_index), kSeqCst);
}

// Empties the lane of a dead session; returns how many threads it counted.
inline std::uint32_t clear_lane(ParkedLanes& lanes, std::uint32_t session_index) noexcept {
  std::atomic<std::uint64_t>& word = park_word(lanes, session_index);
  const std::uint32_t shift = park_shift(session_index);
  std::uint64_t w = word.load(kRelaxed);
  std::uint64_t n = 0;
  do {
    n = (w >> shift) & kParkLaneMax;
    if (n == 0) return 0;
  } while (!word.compare_exchange_weak(w, w - (n << shift), kSeqCst));
  return static_cast<std::uint32_t>(n);
}

// Anyone parked? 16 loads of one mostly-read false-sharing range.
inline bool any_parked(const ParkedLanes& lanes) noexcept {
  std::uint64_t any = 0;
  for (const auto& w : lanes.words) any |= w.load(kSeqCst);
  return any != 0;
}

}  // namespace shmq::detail
