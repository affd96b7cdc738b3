// Crash-point injection. In a test build (SHMQ_CRASH_POINTS=1) every step of a
// multi-step shared-memory operation is named, and a test can make the process
// SIGKILL itself when it reaches the n-th hit of one name. In a normal build the
// macro is empty.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace shmq::detail {

// Every named step, in the order an operation reaches them. The crash-point
// test kills a child at each of these in turn.
inline constexpr std::array<std::string_view, 18> kCrashPoints = {
    "loan.claimed",          // slot CAS Aborted/Ready -> Loaned done, tail not advanced
    "loan.skipped",          // quarantined position skipped, tail not advanced
    "commit.written",        // header written, slot still Loaned
    "commit.published",      // slot Ready, consumers not yet woken
    "abort.done",            // slot Aborted, not yet passed over for the groups
    "pass.partial",          // message-less position passed over for group 0 only
    "receive.leased",        // lease CAS done, deadline not written, next not advanced
    "receive.advanced",      // next advanced, counters not updated
    "redeliver.leased",      // Pending -> Leased done, deadline not written
    "settle.done",           // ack/nack/release CAS done, redelivery gen not bumped
    "deadletter.marked",     // lease DeadLettering, no DLQ entry yet
    "deadletter.claimed",    // DLQ entry Filling, nothing copied
    "deadletter.copied",     // DLQ entry filled, not yet Full
    "deadletter.published",  // DLQ entry Full, lease still DeadLettering
    "purge.partial",         // one message dropped by purge, the rest and the cursors not yet
    "park.counted",          // this session's parked lane raised, not yet asleep
    "session.claimed",       // registry entry Alive, start time not yet written
    "fenced.given_back",     // a lease taken after the fence is Pending again, redelivery gen not bumped
};

#if SHMQ_CRASH_POINTS
// Called at each named step; kills the process (SIGKILL) on the armed hit.
void crash_point(std::string_view name) noexcept;
// Arms `name`: the `nth` hit (1 = first) from now kills the process.
void arm_crash_point(std::string_view name, std::uint32_t nth) noexcept;
// How often `name` was reached in this process (for coverage checks).
std::uint64_t crash_point_hits(std::string_view name) noexcept;
#define SHMQ_CRASH_POINT(name) ::shmq::detail::crash_point(name)  // NOLINT(cppcoreguidelines-macro-usage): see below
#else
#define SHMQ_CRASH_POINT(name) ((void)0)  // NOLINT(cppcoreguidelines-macro-usage): no call, not even the argument
#endif

}  // namespace shmq::detail
