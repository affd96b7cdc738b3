#include "core/registry.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "layout/crash_point.hpp"
#include "layout/header.hpp"
#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

void init_registry_segment(std::byte* base, const std::string& namespace_name, std::uint64_t created_realtime_ns) noexcept {
  auto* info = reinterpret_cast<RegistryInfo*>(base + sizeof(SegmentHeader));
  std::memcpy(info->namespace_name, namespace_name.data(), std::min(namespace_name.size(), kNamespaceCapacity - 1));
  info->max_sessions = kMaxSessions;
  info->created_realtime_ns = created_realtime_ns;
  seal_segment_header(base, kRegistryMagic, SegmentKind::Registry, sizeof(RegistryInfo), kRegistrySize);
}

RegistryView open_registry_view(std::byte* base, std::size_t size, const std::string& expected_namespace,
                                const std::string& what) {
  validate_segment_header(base, size, kRegistryMagic, SegmentKind::Registry, sizeof(RegistryInfo), what);
  auto* info = reinterpret_cast<RegistryInfo*>(base + sizeof(SegmentHeader));
  const std::string ns = fixed_string(info->namespace_name);
  if (ns != expected_namespace)
    throw Error(errc::namespace_mismatch, what + " belongs to namespace '" + ns + "', not '" + expected_namespace +
                                              "'; remove it with `shmq-cli gc`");
  if (info->max_sessions != kMaxSessions)
    throw Error(errc::corrupt_segment, what + " has a session table of " + std::to_string(info->max_sessions) +
                                           " entries; remove it with `shmq-cli gc`");
  return {info, reinterpret_cast<SessionEntry*>(base + kRegistrySessionsOffset)};
}

Owner claim_session(const RegistryView& r, const SessionIdentity& id) noexcept {
  for (std::uint32_t i = 0; i < kMaxSessions; ++i) {
    SessionEntry& e = r.sessions[i];
    Word w = e.word.load(kAcquire);
    if (session_state(w) != SessionState::Free) continue;
    std::uint32_t gen = (session_generation(w) + 1) & 0xFFFFU;
    if (gen == 0) gen = 1;  // 0 would make owner 0 (nobody) possible
    // The pid is in the word itself, so an entry is never Alive without one.
    // SYNC POINT: acq_rel: the claim orders after the previous owner's
    // release (transition to Free) and before the fields written below.
    if (!e.word.compare_exchange_strong(w, make_session_word(gen, SessionState::Alive, id.pid), kAcqRel))
      continue;
    SHMQ_CRASH_POINT("session.claimed");
    e.heartbeat_timeout_ns.store(id.heartbeat_timeout_ns, kRelaxed);
    e.attached_realtime_ns.store(id.now_realtime_ns, kRelaxed);
    std::memset(e.comm, 0, sizeof e.comm);
    std::memcpy(e.comm, id.comm.data(), std::min(id.comm.size(), sizeof e.comm - 1));
    e.heartbeat.store(0, kRelaxed);
    e.heartbeat_ns.store(id.now_ns, kRelaxed);
    // SYNC POINT: release, written last; pairs with the acquire loads of
    // start_time in the watchdog and shmq-cli: who sees it sees the rest.
    e.start_time.store(id.start_time, kRelease);
    return make_owner(i, gen);
  }
  return kNoOwner;
}

void beat(const RegistryView& r, Owner me, std::uint64_t now_ns) noexcept {
  SessionEntry& e = r.sessions[owner_index(me)];
  // Relaxed is enough: a reader compares one clock reading with a timeout;
  // a stale reading only delays a hung verdict by a beat.
  e.heartbeat_ns.store(now_ns, kRelaxed);
  e.heartbeat.fetch_add(1, kRelaxed);
}

std::uint64_t heartbeat_timeout_ns(const SessionEntry& e) noexcept {
  constexpr auto kMin = static_cast<std::uint64_t>(std::chrono::nanoseconds(kMinHeartbeatTimeout).count());
  constexpr auto kMax = static_cast<std::uint64_t>(std::chrono::nanoseconds(kMaxHeartbeatTimeout).count());
  return std::clamp<std::uint64_t>(e.heartbeat_timeout_ns.load(kRelaxed), kMin, kMax);
}

bool heartbeat_overdue(const SessionEntry& e, std::uint64_t now_ns, std::uint64_t not_before_ns) noexcept {
  const std::uint64_t last = std::max(e.heartbeat_ns.load(kRelaxed), not_before_ns);
  return now_ns > last && now_ns - last > heartbeat_timeout_ns(e);
}

namespace {

bool transition(const RegistryView& r, Owner o, SessionState to, bool from_fenced_too) noexcept {
  SessionEntry& e = r.sessions[owner_index(o)];
  Word w = e.word.load(kAcquire);
  for (;;) {
    const SessionState s = session_state(w);
    if (session_generation(w) != owner_generation(o) || s == SessionState::Free) return false;
    if (s == SessionState::Fenced && !from_fenced_too) return false;
    // SYNC POINT: seq_cst pairs with the session's own seq_cst claim/lease
    // CAS and session_alive load (ring.cpp) and with the seq_cst loads of the
    // recovery scan that follows (recovery.cpp): that scan sees every word the
    // session stamped before the session could see this state.
    if (e.word.compare_exchange_weak(w, make_session_word(owner_generation(o), to, session_pid(w)),
                                     kSeqCst))
      return true;
  }
}

}  // namespace

bool fence_session(const RegistryView& r, Owner o) noexcept { return transition(r, o, SessionState::Fenced, false); }

bool release_session(const RegistryView& r, Owner o) noexcept { return transition(r, o, SessionState::Free, true); }

SessionState session_state_of(const RegistryView& r, Owner o) noexcept {
  const Word w = r.sessions[owner_index(o)].word.load(kAcquire);
  return session_generation(w) == owner_generation(o) ? session_state(w) : SessionState::Free;
}

}  // namespace shmq::detail
