// The writable face of a namespace, for its supervisor (shmqd): creating and
// removing queues, the session registry it fences and releases entries of,
// and the queues it recovers and expires leases in. The tools read through
// namespace.hpp; only shmqd (and tests standing in for it) use this header.
//
// Every operation that frees slots or hands messages back wakes the parked
// processes of the queue itself. The registry's per-entry reads copy into
// fixed-size values and allocate nothing: the watchdog reads every entry on
// every tick.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shmq/admin/control.hpp"
#include "shmq/admin/report.hpp"
#include "shmq/config.hpp"

namespace shmq::admin {

// ---- queues ----------------------------------------------------------------------

// Validates every setting of `config` (throws Error(errc::invalid_argument)
// naming the bad value and the allowed range) and returns the bytes queue
// `name`'s segment would take in shm_dir().
std::uint64_t queue_bytes(const std::string& ns, const std::string& name, const QueueConfig& config);
// Creates and initialises queue `name` under the namespace lock: what
// queue_bytes validates, errc::no_space, errc::already_exists. A segment left
// half-made by a creator that died is replaced.
void create_queue(const std::string& ns, const std::string& name, const QueueConfig& config);
// Deletes queue `name` (under the namespace lock): marks it deleted, so the
// processes that still map it get QueueDeleted from send and receive (parked
// ones are woken), then removes its name. False if there is none.
bool remove_queue(const std::string& ns, const std::string& name);

// ---- the session registry ------------------------------------------------------

// The registry entry a session id names, and which of its uses.
std::uint32_t session_index(SessionId id) noexcept;
std::uint32_t session_generation(SessionId id) noexcept;

// A registry entry's state word, copied.
struct RegistryEntry {
  enum class State : std::uint8_t { Free, Alive, Fenced };
  State state = State::Free;
  SessionId id = kNoSession;  // its index and generation
  std::uint32_t pid = 0;
};

// What an entry's heartbeat says at one moment (liveness rule "Hung").
struct Heartbeat {
  bool overdue = false;
  std::uint64_t age_ns = 0;      // since the last beat (or since `not_before_ns`)
  std::uint64_t timeout_ns = 0;  // the session's own, clamped to the allowed range
};

struct QueueRecovery;

class Registry {
 public:
  static constexpr std::uint32_t kMaxSessions = 256;

  // Maps namespace `ns`'s registry read-write, creating it under the
  // namespace lock if it is missing or was left half-made.
  explicit Registry(const std::string& ns);
  ~Registry();
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A session for this process, with `heartbeat_timeout`; kNoSession when the
  // table is full.
  [[nodiscard]] SessionId claim_own_session(std::chrono::nanoseconds heartbeat_timeout);
  // A heartbeat of `me` (this process's own session).
  void beat(SessionId me, std::uint64_t now_ns) noexcept;
  // Alive -> Fenced: its data-path calls fail from now on. False if the
  // entry no longer names an Alive `id`.
  bool fence(SessionId id) noexcept;
  // Alive or Fenced -> Free. False if the entry no longer names `id`.
  bool release(SessionId id) noexcept;

  // Entry `index` (< kMaxSessions) as it is now.
  [[nodiscard]] RegistryEntry entry(std::uint32_t index) const noexcept;
  // The state of session `id`: Free when its entry moved on.
  [[nodiscard]] RegistryEntry::State state_of(SessionId id) const noexcept;
  // The start time the entry's process recorded (0 while being claimed).
  // Acquire: pairs with the claim's release, so the pid read before it is the
  // one this start time belongs to.
  [[nodiscard]] std::uint64_t start_time(std::uint32_t index) const noexcept;
  // The process name the entry recorded.
  [[nodiscard]] std::string comm(std::uint32_t index) const;
  // Entry `index`'s heartbeat at `now_ns`, counting from `not_before_ns` if
  // that is later (the supervisor itself did not run until then): the same
  // rule Namespace::sessions() applies.
  [[nodiscard]] Heartbeat heartbeat(std::uint32_t index, std::uint64_t now_ns,
                                    std::uint64_t not_before_ns) const noexcept;

 private:
  friend class SupervisedQueue;  // its view judges owners against this table
  friend bool recover_dead_session(Registry& registry, std::span<QueueRecovery> queues, SessionId dead);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- a queue, supervised ----------------------------------------------------------

class SupervisedQueue {
 public:
  // Maps queue `name` of `ns` read-write (queue_not_found if absent; an Error
  // naming what is wrong with a corrupt segment). Owners are judged against
  // `registry`, which must outlive the queue.
  SupervisedQueue(const std::string& ns, const std::string& name, const Registry& registry);
  ~SupervisedQueue();
  SupervisedQueue(SupervisedQueue&&) noexcept;
  SupervisedQueue& operator=(SupervisedQueue&&) noexcept;
  SupervisedQueue(const SupervisedQueue&) = delete;
  SupervisedQueue& operator=(const SupervisedQueue&) = delete;

  // The configuration the queue was created with.
  [[nodiscard]] QueueConfig config() const;
  [[nodiscard]] std::uint32_t group_count() const noexcept;
  [[nodiscard]] std::string group_name(std::uint32_t g) const;  // "?" past the last

  // Session `me` uses the queue (its dead-letter moves are stamped `me`): a
  // supervisor killed in the middle of one is recovered like any session.
  void attach(SessionId me) noexcept;
  // Gives back what `me` holds here, then its attachment.
  RecoveryResult detach(SessionId me) noexcept;
  [[nodiscard]] bool attached(SessionId id) const noexcept;
  // Takes back what session `id` holds here. `may_still_run`: fenced, not
  // seen to die: its loaned slots stay quarantined, its parked lanes alone.
  RecoveryResult recover(SessionId id, bool may_still_run) noexcept;
  // Expires group `g`'s leases past their deadline (`now_ms`, CLOCK_MONOTONIC
  // ms) and dead-letters what ran out of deliveries, stamped `me`.
  ExpiryResult expire_group(std::uint32_t g, std::uint64_t now_ms, SessionId me) noexcept;
  // Drops every message not yet acknowledged (the control server's purge),
  // per group.
  std::vector<PurgedGroup> purge();

 private:
  friend bool recover_dead_session(Registry& registry, std::span<QueueRecovery> queues, SessionId dead);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One queue of recover_dead_session: `queue` in; `attached` (whether the
// session was attached to it) and `result` out.
struct QueueRecovery {
  SupervisedQueue* queue = nullptr;
  bool attached = false;
  RecoveryResult result;
};

// What is done for a session whose process is gone (the library's one
// sequence, also run by the crash-point tests): fence it, recover it in every
// queue of `queues` it is attached to, release its entry. False if the entry
// no longer names `dead`. Throws std::bad_alloc before changing anything.
bool recover_dead_session(Registry& registry, std::span<QueueRecovery> queues, SessionId dead);

}  // namespace shmq::admin
