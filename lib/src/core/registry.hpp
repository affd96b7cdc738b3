// The session table: one entry per attached process, in the namespace's
// registry segment. Claiming, heartbeats, fencing and release are single CAS
// or store transitions on the entry. No system calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "layout/layout.hpp"

namespace shmq::detail {

struct RegistryView {
  RegistryInfo* info = nullptr;
  SessionEntry* sessions = nullptr;
};

// Writes a fresh registry into `base` (kRegistrySize zeroed bytes), version last.
void init_registry_segment(std::byte* base, const std::string& namespace_name, std::uint64_t created_realtime_ns) noexcept;

// Validates the header and namespace (throws shmq::Error naming `what`).
RegistryView open_registry_view(std::byte* base, std::size_t size, const std::string& expected_namespace,
                                const std::string& what);

struct SessionIdentity {
  std::uint32_t pid = 0;
  std::uint64_t start_time = 0;
  std::uint64_t heartbeat_timeout_ns = 0;
  std::uint64_t now_ns = 0;            // CLOCK_MONOTONIC
  std::uint64_t now_realtime_ns = 0;
  std::string comm;
};

// Claims a Free entry (Free -> Alive with a new generation) and fills it in.
// Returns the new owner, or kNoOwner when the table is full.
[[nodiscard]] Owner claim_session(const RegistryView& r, const SessionIdentity& id) noexcept;

// Records a heartbeat of `me` (the session itself).
void beat(const RegistryView& r, Owner me, std::uint64_t now_ns) noexcept;

// Alive -> Fenced: the watchdog declares `o` dead; the process may still run.
// From then on the session's data-path calls return Fenced, and whatever it
// stamped before is seen by a recovery scan the caller runs after this.
bool fence_session(const RegistryView& r, Owner o) noexcept;

// Alive or Fenced -> Free: the session is gone (detached, or its process died).
bool release_session(const RegistryView& r, Owner o) noexcept;

// The heartbeat timeout entry `e` declares, clamped to kMinHeartbeatTimeout..
// kMaxHeartbeatTimeout: a corrupt or hostile 0 is not "never hung".
[[nodiscard]] std::uint64_t heartbeat_timeout_ns(const SessionEntry& e) noexcept;

// True if entry `e`'s last beat, or `not_before_ns` if later, is older than
// its heartbeat timeout at `now_ns`. The one rule for "hung".
[[nodiscard]] bool heartbeat_overdue(const SessionEntry& e, std::uint64_t now_ns,
                                     std::uint64_t not_before_ns = 0) noexcept;

// The state of session `o`: Free when its entry moved on to another generation.
[[nodiscard]] SessionState session_state_of(const RegistryView& r, Owner o) noexcept;

}  // namespace shmq::detail
