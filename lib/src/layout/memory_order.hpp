// Short names for the memory orders, so that every atomic access in the data
// path states its order in a few characters. One home: layout.hpp includes it.
#pragma once

#include <atomic>

namespace shmq::detail {

inline constexpr auto kRelaxed = std::memory_order_relaxed;
inline constexpr auto kAcquire = std::memory_order_acquire;
inline constexpr auto kRelease = std::memory_order_release;
inline constexpr auto kAcqRel = std::memory_order_acq_rel;
inline constexpr auto kSeqCst = std::memory_order_seq_cst;

}  // namespace shmq::detail
