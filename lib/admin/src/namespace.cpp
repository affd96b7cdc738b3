#include "shmq/admin/namespace.hpp"

#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

#include <unistd.h>

#include "core/dlq.hpp"
#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "layout/header.hpp"
#include "os/file_lock.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"
#include "os/queue_segment.hpp"
#include "os/wait.hpp"

namespace shmq::admin {

// ---- names and objects -----------------------------------------------------------

std::string resolve_namespace(const std::string& flag) { return detail::resolve_namespace(flag); }
void validate_namespace(const std::string& ns) { detail::validate_namespace(ns); }
void validate_queue_name(const std::string& name) { detail::validate_queue_name(name); }
void validate_group_name(const std::string& name) { detail::validate_group_name(name); }
std::string octal(unsigned mode) { return detail::octal(mode); }
std::string printable(std::string_view s) { return detail::printable(s); }
const char* delivery_name(DeliveryMode mode) noexcept { return detail::delivery_name(mode); }
std::optional<DeliveryMode> delivery_from_name(std::string_view name) noexcept {
  return detail::delivery_from_name(name);
}
Error queue_not_found(const std::string& ns, const std::string& name) { return detail::queue_not_found(ns, name); }

std::vector<std::string> namespace_objects(const std::string& ns) {
  return detail::Segment::list(detail::namespace_prefix(ns));
}

std::map<std::string, std::vector<std::string>> namespaces_in_shm() {
  // Object names are "shmq.<ns>.<what>"; a namespace has no dot.
  static constexpr std::string_view kPrefix = "shmq.";
  std::map<std::string, std::vector<std::string>> found;
  for (const std::string& name : detail::Segment::list(std::string(kPrefix))) {
    const std::size_t dot = name.find('.', kPrefix.size());
    if (dot == std::string::npos || dot == kPrefix.size()) continue;
    found[name.substr(kPrefix.size(), dot - kPrefix.size())].push_back(name);
  }
  return found;
}

std::string namespace_lock_object(const std::string& ns) { return detail::namespace_prefix(ns) + "lock"; }

std::string queue_object(const std::string& ns, const std::string& queue) {
  return detail::queue_segment_name(ns, queue);
}

std::string queue_object_prefix(const std::string& ns) { return detail::queue_prefix(ns); }
std::string registry_object(const std::string& ns) { return detail::registry_segment_name(ns); }
std::string instance_lock_object(const std::string& ns) { return detail::instance_lock_name(ns); }
const char* shm_dir() noexcept { return detail::kShmDir; }
std::string object_path(const std::string& name) { return detail::shm_path(name); }
std::vector<std::string> queue_names(const std::string& ns) { return detail::list_queue_names(ns); }
std::uint64_t shm_free_bytes() { return detail::shm_free_bytes(); }

void remove_registry_and_locks(const std::string& ns) {
  detail::Segment::remove(detail::registry_segment_name(ns));
  ::unlink(detail::namespace_lock_path(ns).c_str());
  ::unlink(detail::instance_lock_path(ns).c_str());
}

void remove_namespace(const std::string& ns) {
  for (const std::string& name : namespace_objects(ns)) detail::Segment::remove(name);
}

// ---- liveness ----------------------------------------------------------------------

const char* liveness_name(Liveness l) noexcept {
  switch (l) {
    case Liveness::Alive: return "alive";
    case Liveness::Hung: return "hung";
    case Liveness::Fenced: return "fenced";
    case Liveness::Dead: return "dead";
    case Liveness::Gone: return "gone";
  }
  return "?";
}

bool may_run(Liveness l) noexcept { return l == Liveness::Alive || l == Liveness::Hung || l == Liveness::Fenced; }

namespace {

std::uint64_t age_ms(std::uint64_t then_ns, std::uint64_t now_ns) noexcept {
  return now_ns > then_ns ? (now_ns - then_ns) / 1'000'000 : 0;
}

// Session `id` in the table `sessions` (nullptr: no registry).
SessionInfo session_of(const detail::SessionEntry* sessions, SessionId id, std::uint64_t now_ns) {
  SessionInfo s;
  s.id = id;
  s.index = detail::owner_index(id);
  s.generation = detail::owner_generation(id);
  // owner_index is below kMaxSessions by construction (8 bits), whatever `id` says.
  static_assert(detail::kMaxSessions > 0xFFU);
  if (sessions == nullptr || id == kNoSession) return s;
  const detail::SessionEntry& e = sessions[s.index];
  const detail::Word w = e.word.load(detail::kAcquire);
  if (detail::session_generation(w) != s.generation || detail::session_state(w) == detail::SessionState::Free)
    return s;
  s.pid = detail::session_pid(w);
  s.comm = detail::fixed_string(e.comm);
  s.heartbeat_age_ms = age_ms(e.heartbeat_ns.load(detail::kRelaxed), now_ns);
  const std::uint64_t start = e.start_time.load(detail::kAcquire);
  const auto pid = static_cast<pid_t>(s.pid);
  // Start time 0: the session is being claimed; the pid alone tells.
  const bool alive = start != 0 ? detail::process_alive(pid, start) : detail::process_start_time(pid) != 0;
  if (detail::session_state(w) == detail::SessionState::Fenced)
    s.liveness = Liveness::Fenced;
  else if (!alive)
    s.liveness = Liveness::Dead;
  else if (detail::heartbeat_overdue(e, now_ns))
    s.liveness = Liveness::Hung;
  else
    s.liveness = Liveness::Alive;
  return s;
}

}  // namespace

// ---- Namespace ---------------------------------------------------------------------

struct Namespace::Impl {
  std::string name;
  std::optional<detail::MappedRegistry> registry;
  [[nodiscard]] const detail::SessionEntry* sessions() const noexcept {
    return registry ? registry->view.sessions : nullptr;
  }
};

Namespace::Namespace(const std::string& ns) {
  auto impl = std::make_shared<Impl>();
  impl->name = ns;
  try {
    impl->registry.emplace(detail::open_registry(ns, detail::Access::ReadOnly));  // only read
  } catch (const Error& e) {
    if (e.value() != errc::not_found) throw;  // none yet: no process ever attached
  }
  impl_ = std::move(impl);
}

Namespace::~Namespace() = default;
Namespace::Namespace(Namespace&&) noexcept = default;
Namespace& Namespace::operator=(Namespace&&) noexcept = default;

const std::string& Namespace::name() const noexcept { return impl_->name; }

bool Namespace::has_registry() const noexcept { return impl_->registry.has_value(); }

std::vector<std::string> Namespace::queue_names() const { return admin::queue_names(impl_->name); }

std::vector<SessionInfo> Namespace::sessions(std::uint64_t now_ns) const {
  std::vector<SessionInfo> out;
  const detail::SessionEntry* table = impl_->sessions();
  for (std::uint32_t i = 0; table != nullptr && i < detail::kMaxSessions; ++i) {
    const detail::Word w = table[i].word.load(detail::kAcquire);
    if (detail::session_state(w) == detail::SessionState::Free) continue;
    SessionInfo s = session_of(table, detail::make_owner(i, detail::session_generation(w)), now_ns);
    if (s.liveness != Liveness::Gone) out.push_back(std::move(s));
  }
  return out;
}

SessionInfo Namespace::session(SessionId id, std::uint64_t now_ns) const {
  return session_of(impl_->sessions(), id, now_ns);
}

// ---- Queue ---------------------------------------------------------------------------

struct Queue::Impl {
  std::shared_ptr<const Namespace::Impl> ns;  // keeps the registry mapped
  std::string name;
  detail::MappedQueue mapped;
  [[nodiscard]] const detail::QueueView& view() const noexcept { return mapped.view; }
  // The view for a write: only a WritableQueue calls it, and only
  // writable_queue makes one, from a read-write mapping.
  [[nodiscard]] const detail::QueueView& writable_view() const noexcept {
    assert(mapped.segment.writable());
    return mapped.view;
  }
};

Queue Namespace::queue(const std::string& name) const {
  auto impl = std::make_unique<Queue::Impl>(
      Queue::Impl{impl_, name, detail::open_queue_segment(impl_->name, name, detail::Access::ReadOnly)});
  impl->mapped.view.sessions = impl_->sessions();
  return Queue(std::move(impl));
}

WritableQueue Namespace::writable_queue(const std::string& name) const {
  auto impl = std::make_unique<Queue::Impl>(
      Queue::Impl{impl_, name, detail::open_queue_segment(impl_->name, name, detail::Access::ReadWrite)});
  impl->mapped.view.sessions = impl_->sessions();
  return WritableQueue(std::move(impl));
}

Queue::Queue(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
WritableQueue::WritableQueue(std::unique_ptr<Impl> impl) noexcept : Queue(std::move(impl)) {}
Queue::~Queue() = default;
Queue::Queue(Queue&&) noexcept = default;
Queue& Queue::operator=(Queue&&) noexcept = default;

const std::string& Queue::name() const noexcept { return impl_->name; }
QueueConfig Queue::config() const { return detail::config_of(impl_->view()); }
std::uint32_t Queue::group_count() const noexcept { return impl_->view().group_count; }

std::string Queue::group_name(std::uint32_t g) const { return detail::group_name(impl_->view(), g); }

std::optional<std::uint32_t> Queue::group_index(std::string_view group) const {
  const int g = detail::find_group(impl_->view(), std::string(group));
  if (g < 0) return std::nullopt;
  return static_cast<std::uint32_t>(g);
}

QueueStats Queue::stats() const { return detail::queue_stats(impl_->view()); }
AuditReport Queue::audit() const { return detail::audit(impl_->view()); }

std::vector<PeekedMessage> Queue::peek(std::uint32_t g, std::size_t max) const {
  return detail::peek_messages(impl_->view(), g, max);
}

std::vector<DeadLetter> Queue::dead_letters() const { return detail::list_dead_letters(impl_->view()); }

Status WritableQueue::replay_dead_letter(std::uint32_t index, SessionId me) {
  const detail::QueueView& q = impl_->writable_view();
  const Status s = detail::replay_dead_letter(q, index, me, detail::monotonic_ns());
  if (s == Status::Ok) detail::notify(q.hot->data_futex, q.hot->consumers_parked);
  return s;
}

bool WritableQueue::purge_dead_letter(std::uint32_t index) {
  return detail::purge_dead_letter(impl_->writable_view(), index);
}

std::uint32_t WritableQueue::expire_leases(SessionId me) {
  const detail::QueueView& q = impl_->writable_view();
  const detail::ExpiryResult r = detail::expire_leases(q, detail::monotonic_ms_not_before(), me);
  if (r.expired + r.dead_lettered != 0) detail::wake_everyone(q);
  return r.expired;
}

// ---- gc's probe ------------------------------------------------------------------------

struct NamespaceLock::Impl {
  detail::FileLock lock;
};

std::optional<NamespaceLock> NamespaceLock::try_take(const std::string& ns) {
  std::optional<detail::FileLock> lock = detail::FileLock::try_take(detail::namespace_lock_path(ns));
  if (!lock) return std::nullopt;
  return NamespaceLock(std::make_unique<Impl>(Impl{std::move(*lock)}));
}

NamespaceLock::NamespaceLock(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
NamespaceLock::~NamespaceLock() = default;
NamespaceLock::NamespaceLock(NamespaceLock&&) noexcept = default;
NamespaceLock& NamespaceLock::operator=(NamespaceLock&&) noexcept = default;

std::string in_use_reason(const std::string& ns, bool check_namespace_lock) {
  if (const auto pid = detail::FileLock::holder(detail::instance_lock_path(ns)))
    return "shmqd (pid " + std::to_string(*pid) + ") runs it";
  if (const auto pid = check_namespace_lock ? detail::FileLock::holder(detail::namespace_lock_path(ns)) : std::nullopt)
    return "pid " + std::to_string(*pid) + " holds its namespace lock (creating a queue)";
  std::optional<Namespace> n;
  try {
    n.emplace(ns);
  } catch (const Error& e) {
    // Another user's namespace: its sessions cannot be told from here.
    if (e.value() == errc::permission_denied)
      return "its registry is not readable by this user; run gc as its owner or root";
    return "";  // a corrupt registry serves no session
  }
  std::uint32_t live = 0;
  std::uint32_t some_pid = 0;
  for (const SessionInfo& s : n->sessions(detail::monotonic_ns())) {
    if (!may_run(s.liveness)) continue;
    ++live;
    some_pid = s.pid;
  }
  if (live != 0) return std::to_string(live) + " live session(s), e.g. pid " + std::to_string(some_pid);
  return "";
}

}  // namespace shmq::admin
