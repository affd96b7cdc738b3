// What the watchdog (and a detaching client) does to a queue on behalf of
// sessions that cannot: take back a dead session's loans and leases, expire
// leases that ran out, and audit every slot. Each step is one CAS that expects
// the dead owner's stamp, so recovery is idempotent, may itself be killed at
// any point, and races safely with live processes and other recoveries.
// No system calls: the caller wakes parked processes afterwards.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/registry.hpp"
#include "layout/layout.hpp"
#include "layout/queue_view.hpp"
#include "shmq/admin/report.hpp"

namespace shmq::detail {

// What recovery and expiry report (defined in shmq/admin/report.hpp, the programs' API).
using admin::ExpiryResult;
using admin::RecoveryResult;

// Takes back everything session `dead` holds in `q`. `may_still_run`: the
// process might resume (fenced on a heartbeat timeout, not seen to die): its
// loaned slots stay quarantined, and its parked lanes are left alone.
RecoveryResult recover_session(const QueueView& q, Owner dead, bool may_still_run) noexcept;

// Session `me` starts using queue `q`: its attachment names it, so that
// recover_dead_session (which looks only where a session is attached) takes
// back what it will hold here. Roles and groups are added by the caller.
void attach(const QueueView& q, Owner me) noexcept;
// Whether `o`'s attachment names it in `q` (where recovery looks for it).
[[nodiscard]] bool attached(const QueueView& q, Owner o) noexcept;
// Session `me` stops using `q`: gives back what it holds (recover_session),
// clears its roles and groups and the attachment. The caller wakes the
// parked processes if result.total() != 0.
RecoveryResult detach(const QueueView& q, Owner me) noexcept;

// One queue of recover_dead_session: `view` in; `attached` (whether `dead`
// was attached to it) and `result` out.
struct QueueRecovery {
  const QueueView* view = nullptr;
  bool attached = false;
  RecoveryResult result;
};

// What is done for a session whose process is gone (shmqd's watchdog and the
// crash-point test run this one function): fence it (should the process not
// be gone after all, its late writes fail), recover it in every queue of
// `queues` it is attached to, release its registry entry. False if the entry
// no longer names `dead` (released meanwhile). The caller wakes the parked
// processes of each queue where result.total() != 0.
bool recover_dead_session(const RegistryView& reg, std::span<QueueRecovery> queues, Owner dead) noexcept;

// Expires at-least-once leases whose deadline is before `now_ms`, and moves
// Pending messages past max_deliveries to the dead-letter area (retrying those
// that found it full). `me` stamps the dead-letter moves.
ExpiryResult expire_leases(const QueueView& q, std::uint64_t now_ms, Owner me) noexcept;
// The same for group `g` alone (the watchdog reports per group).
ExpiryResult expire_group_leases(const QueueView& q, std::uint32_t g, std::uint64_t now_ms, Owner me) noexcept;

}  // namespace shmq::detail
