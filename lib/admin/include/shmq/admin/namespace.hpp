// The declared API shmqd's tools use to read and operate a namespace without
// joining it as a Client (shmq-cli, shmq-chaos, shmq-bench, the fuzz seeds):
// a typed face of the shared segments, as Aeron's CncFileDescriptor is for its
// tools. Opening maps; nothing here claims a session, so reading changes
// nothing. Shared memory stays behind this header: what comes out are values
// (report.hpp), copied and checked.
//
// Reading needs only read permission (DESIGN.md section 6): a Namespace maps
// the registry read-only, and Namespace::queue maps a queue read-only as a
// Queue, which has only read methods. What changes a queue (dead letters,
// lease expiry) is on WritableQueue, which Namespace::writable_queue maps
// read-write: the types keep every write off a read-only mapping.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "shmq/admin/report.hpp"
#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq::admin {

// ---- names and the objects of a namespace in /dev/shm ------------------------

// The namespace to use: `flag` if not empty, else $SHMQ_NAMESPACE, else
// "default". Throws Error(errc::invalid_argument) naming the rule.
std::string resolve_namespace(const std::string& flag);
// Throw Error(errc::invalid_argument) naming the bad value and the rule.
void validate_namespace(const std::string& ns);
void validate_queue_name(const std::string& name);
void validate_group_name(const std::string& name);

// Permission bits as people write them: "0640".
std::string octal(unsigned mode);
// A value from outside (a name, a request) as it may appear in a message or a
// log line: non-printable bytes as \xNN, cut after 80 bytes.
std::string printable(std::string_view s);

// "at-least-once" / "at-most-once": the names configs, requests and tools use.
const char* delivery_name(DeliveryMode mode) noexcept;
std::optional<DeliveryMode> delivery_from_name(std::string_view name) noexcept;

// errc::not_found for queue `name`, saying how to list the queues.
Error queue_not_found(const std::string& ns, const std::string& name);

// Every object of namespace `ns` in /dev/shm (segments, socket, lock files),
// by name ("shmq.<ns>.q.orders").
std::vector<std::string> namespace_objects(const std::string& ns);
// Namespaces with objects in /dev/shm, each with its objects.
std::map<std::string, std::vector<std::string>> namespaces_in_shm();
// The name of namespace `ns`'s lock file among its objects.
std::string namespace_lock_object(const std::string& ns);
// The object of queue `queue` ("shmq.<ns>.q.<queue>"), and what every queue
// object of `ns` starts with ("shmq.<ns>.q.").
std::string queue_object(const std::string& ns, const std::string& queue);
std::string queue_object_prefix(const std::string& ns);
// The session registry ("shmq.<ns>.registry") and shmqd's instance lock file.
std::string registry_object(const std::string& ns);
std::string instance_lock_object(const std::string& ns);
// The directory every object lives in ("/dev/shm"), and the path of object
// `name` there ("/dev/shm/shmq.<ns>.q.orders").
const char* shm_dir() noexcept;
std::string object_path(const std::string& name);
// The queues of namespace `ns`, by name.
std::vector<std::string> queue_names(const std::string& ns);
// Bytes free in shm_dir() for new segments.
std::uint64_t shm_free_bytes();
// Removes what a namespace keeps once its queues are gone (the session
// registry, the lock files of queue creation and of shmqd); for teardown when
// none of its processes runs.
void remove_registry_and_locks(const std::string& ns);
// Removes every object of namespace `ns` (a test's or benchmark's teardown).
void remove_namespace(const std::string& ns);

// ---- who uses a namespace ------------------------------------------------------

// The one liveness rule (shmq-cli sessions and stat, gc, shmqd's watchdog):
//   Fenced  shmqd declared it dead; its process may still run
//   Dead    its process (pid + start time) is gone
//   Hung    alive, but its heartbeat is older than its own timeout
//   Alive
//   Gone    no such session: its registry entry is free or moved on
enum class Liveness : std::uint8_t { Alive, Hung, Fenced, Dead, Gone };
const char* liveness_name(Liveness l) noexcept;  // "alive", "hung", ...
// Could the session's process still touch the queues (Alive, Hung, Fenced)?
[[nodiscard]] bool may_run(Liveness l) noexcept;

struct SessionInfo {
  SessionId id = kNoSession;
  std::uint32_t index = 0;       // its registry entry
  std::uint32_t generation = 0;  // of the entry: a re-used entry has another
  std::uint32_t pid = 0;
  std::string comm;
  Liveness liveness = Liveness::Gone;
  std::optional<std::uint64_t> heartbeat_age_ms;
};

// Who keeps namespace `ns` in use, "" if nothing live does: its shmqd holds
// the instance lock, a process holds the namespace lock (creating a queue), or
// one of its sessions may run. What gc asks before it removes anything.
// `check_namespace_lock` false when the caller holds that lock itself.
std::string in_use_reason(const std::string& ns, bool check_namespace_lock = true);

// The namespace lock (queue creation holds it), taken by gc while it removes.
class NamespaceLock {
 public:
  // nullopt if another process holds it.
  static std::optional<NamespaceLock> try_take(const std::string& ns);
  ~NamespaceLock();
  NamespaceLock(NamespaceLock&&) noexcept;
  NamespaceLock& operator=(NamespaceLock&&) noexcept;
  NamespaceLock(const NamespaceLock&) = delete;
  NamespaceLock& operator=(const NamespaceLock&) = delete;

 private:
  struct Impl;
  explicit NamespaceLock(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// ---- a namespace and its queues, mapped ----------------------------------------

class Queue;
class WritableQueue;

class Namespace {
 public:
  // Maps namespace `ns`'s session registry read-only if there is one (none
  // yet: no process ever attached, and sessions() is empty). Throws Error for
  // a registry this user may not read, or a corrupt one.
  explicit Namespace(const std::string& ns);
  ~Namespace();
  Namespace(Namespace&&) noexcept;
  Namespace& operator=(Namespace&&) noexcept;
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  [[nodiscard]] const std::string& name() const noexcept;
  // False until some process attached to the namespace (nothing to map yet).
  [[nodiscard]] bool has_registry() const noexcept;
  [[nodiscard]] std::vector<std::string> queue_names() const;
  // Maps queue `name` read-only: read permission is enough (queue_not_found
  // if absent, errc::permission_denied if this user may not read it). The
  // queue keeps this namespace's registry mapped, to tell live owners from
  // dead ones.
  [[nodiscard]] Queue queue(const std::string& name) const;
  // Maps queue `name` read-write, to change it. errc::permission_denied,
  // saying that this needs write permission, if this user may only read it.
  [[nodiscard]] WritableQueue writable_queue(const std::string& name) const;

  // Sessions whose registry entries are in use, by index, judged at `now_ns`
  // (CLOCK_MONOTONIC).
  [[nodiscard]] std::vector<SessionInfo> sessions(std::uint64_t now_ns) const;
  // Session `id` as the registry tells it now (Gone if it is not there).
  [[nodiscard]] SessionInfo session(SessionId id, std::uint64_t now_ns) const;

 private:
  friend class Queue;  // a Queue keeps its namespace's registry mapped
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// A queue mapped read-only: every method only reads.
class Queue {
 public:
  ~Queue();
  Queue(Queue&&) noexcept;
  Queue& operator=(Queue&&) noexcept;
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  [[nodiscard]] const std::string& name() const noexcept;
  // The configuration the queue was created with.
  [[nodiscard]] QueueConfig config() const;
  [[nodiscard]] std::uint32_t group_count() const noexcept;
  [[nodiscard]] std::string group_name(std::uint32_t g) const;  // "?" past the last
  // Group `group`'s index, nullopt if the queue has none of that name.
  [[nodiscard]] std::optional<std::uint32_t> group_index(std::string_view group) const;

  // One pass over every slot and lease word (see report.hpp).
  [[nodiscard]] QueueStats stats() const;
  // Accounts for every slot; problems name what no live session explains.
  [[nodiscard]] AuditReport audit() const;
  // Up to `max` messages waiting for group `g`, oldest first, not consumed.
  [[nodiscard]] std::vector<PeekedMessage> peek(std::uint32_t g, std::size_t max) const;

  // The dead-letter area, by index.
  [[nodiscard]] std::vector<DeadLetter> dead_letters() const;

 private:
  friend class Namespace;
  friend class WritableQueue;
  struct Impl;
  explicit Queue(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

// A queue mapped read-write (Namespace::writable_queue): the read methods of
// Queue, and those that change the queue.
class WritableQueue : public Queue {
 public:
  // Publishes dead letter `index` again for the group that gave up on it, as
  // session `me` (Client::session_id() of a client attached to this queue's
  // namespace), and wakes the queue's parked consumers. Ok; QueueFull (no
  // free slot, nothing changed); InvalidHandle (not a dead letter, or a live
  // replay holds it); LeaseLost (`me` was fenced).
  [[nodiscard]] Status replay_dead_letter(std::uint32_t index, SessionId me);
  // Drops dead letter `index`; false if it is not one or a live replay holds it.
  bool purge_dead_letter(std::uint32_t index);
  // Expires leases past their deadline (and dead-letters what ran out of
  // deliveries) as shmqd's watchdog does, stamped by session `me`; wakes the
  // parked processes. Returns how many leases expired.
  std::uint32_t expire_leases(SessionId me);

 private:
  friend class Namespace;
  explicit WritableQueue(std::unique_ptr<Impl> impl) noexcept;
};

}  // namespace shmq::admin
