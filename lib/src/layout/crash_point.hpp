// Crash-point injection. In a test build (SHMQ_CRASH_POINTS=1) every step of a
// multi-step shared-memory operation is named, and a test can make the process
// SIGKILL itself when it reaches the n-th hit of one name. In a normal build the
// macro is empty.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace shmq::detail {

// The steps of a client's own operations, in the order an operation reaches
// them. crash_point_test kills a child running a workload at each of these.
inline constexpr std::array<std::string_view, 19> kClientCrashPoints = {
    "session.claimed",       // registry entry Alive, start time not yet written
    "attach.owned",          // queue attachment names the session, roles not yet set
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
    "fenced.given_back",     // a lease taken after the fence is Pending again, redelivery gen not bumped
};

// The steps only operations done on behalf of others reach: the watchdog's
// recovery and expiry, dead-letter replay, purge's cursor move, queue
// creation and deletion. recovery_crash_test kills a recoverer at each of these (and at the
// client steps they share: pass.partial, deadletter.*, purge.partial).
inline constexpr std::array<std::string_view, 16> kRecovererCrashPoints = {
    "recover.fenced",         // dead session fenced, nothing of it recovered yet
    "recover.dlq_freed",      // its half-filled DLQ entry freed, the lease still DeadLettering
    "recover.slot_aborted",   // its loan Aborted, not yet passed over
    "recover.lease_taken",    // its lease Pending (still naming it) or Done, redelivery gen not bumped
    "recover.announced",      // redelivery gen bumped, the Pending word still names it
    "recover.lanes_cleared",  // its parked lanes lowered, the attachment still names it
    "recover.queue_done",     // one queue recovered, the next not, registry entry not released
    "expire.pending",         // a lease past its deadline Pending (naming the expirer), gen not bumped
    "replay.claimed",         // dead letter names its replayer, no slot yet
    "replay.copied",          // slot Loaned by the replayer, payload copied, not published
    "replay.published",       // published for its group, the other groups not passed over
    "replay.passed_over",     // passed over for the other groups, dead letter still Full
    "purge.dropped",          // a group's messages dropped, its next cursor not moved
    "create.sized",           // queue segment created zero-filled under the namespace lock
    "create.written",         // queue info and cursors written, header not sealed (version 0)
    "delete.marked",          // queue marked removed and its waiters woken, its name not yet unlinked
};

// Every name, each once: the index of crash_point_hits.
inline constexpr std::array<std::string_view, kClientCrashPoints.size() + kRecovererCrashPoints.size()> kCrashPoints =
    [] {
      std::array<std::string_view, kClientCrashPoints.size() + kRecovererCrashPoints.size()> all{};
      std::size_t i = 0;
      for (std::string_view n : kClientCrashPoints) all[i++] = n;
      for (std::string_view n : kRecovererCrashPoints) all[i++] = n;
      return all;
    }();

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
