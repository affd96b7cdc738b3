// Futex wait and wake, shared between processes.
#pragma once

#include <chrono>
#include <cstdint>

namespace shmq::detail {

// Waits while *word == expected, at most `timeout` (negative: forever).
// Shared (not FUTEX_PRIVATE): works across processes. Returns on wake, value
// change, timeout, or signal; callers re-check their condition.
void futex_wait(const std::uint32_t* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept;
// Wakes every waiter on `word`.
void futex_wake_all(const std::uint32_t* word) noexcept;

}  // namespace shmq::detail
