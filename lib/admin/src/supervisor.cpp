#include "shmq/admin/supervisor.hpp"

#include <utility>

#include "core/purge.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "layout/header.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/queue_segment.hpp"
#include "os/wait.hpp"

namespace shmq::admin {

static_assert(Registry::kMaxSessions == detail::kMaxSessions);

// ---- queues ----------------------------------------------------------------------

std::uint64_t queue_bytes(const std::string& ns, const std::string& name, const QueueConfig& config) {
  return detail::queue_segment_size(detail::make_queue_params(ns, name, config));
}

void create_queue(const std::string& ns, const std::string& name, const QueueConfig& config) {
  (void)detail::create_queue_segment(ns, name, config);
}

bool remove_queue(const std::string& ns, const std::string& name) { return detail::remove_queue_segment(ns, name); }

// ---- the session registry ------------------------------------------------------

std::uint32_t session_index(SessionId id) noexcept { return detail::owner_index(id); }
std::uint32_t session_generation(SessionId id) noexcept { return detail::owner_generation(id); }

struct Registry::Impl {
  detail::MappedRegistry mapped;
  [[nodiscard]] const detail::RegistryView& view() const noexcept { return mapped.view; }
  // `index` is below kMaxSessions by the callers' contract; checked anyway,
  // since an out-of-range entry would be memory past the segment.
  [[nodiscard]] const detail::SessionEntry& entry(std::uint32_t index) const noexcept {
    return mapped.view.sessions[index % detail::kMaxSessions];
  }
};

namespace {

RegistryEntry::State state_from(detail::SessionState s) noexcept {
  switch (s) {
    case detail::SessionState::Alive: return RegistryEntry::State::Alive;
    case detail::SessionState::Fenced: return RegistryEntry::State::Fenced;
    case detail::SessionState::Free: break;
  }
  return RegistryEntry::State::Free;
}

}  // namespace

Registry::Registry(const std::string& ns)
    : impl_(std::make_unique<Impl>(Impl{detail::open_or_create_registry(ns)})) {}
Registry::~Registry() = default;
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;

SessionId Registry::claim_own_session(std::chrono::nanoseconds heartbeat_timeout) {
  return detail::claim_session(impl_->view(), detail::this_process(heartbeat_timeout));
}

void Registry::beat(SessionId me, std::uint64_t now_ns) noexcept { detail::beat(impl_->view(), me, now_ns); }
bool Registry::fence(SessionId id) noexcept { return detail::fence_session(impl_->view(), id); }
bool Registry::release(SessionId id) noexcept { return detail::release_session(impl_->view(), id); }

RegistryEntry Registry::entry(std::uint32_t index) const noexcept {
  const detail::Word w = impl_->entry(index).word.load(detail::kAcquire);
  RegistryEntry e;
  e.state = state_from(detail::session_state(w));
  if (e.state == RegistryEntry::State::Free) return e;
  e.id = detail::make_owner(index % detail::kMaxSessions, detail::session_generation(w));
  e.pid = detail::session_pid(w);
  return e;
}

RegistryEntry::State Registry::state_of(SessionId id) const noexcept {
  return state_from(detail::session_state_of(impl_->view(), id));
}

std::uint64_t Registry::start_time(std::uint32_t index) const noexcept {
  return impl_->entry(index).start_time.load(detail::kAcquire);  // SYNC POINT: pairs with claim_session's release
}

std::string Registry::comm(std::uint32_t index) const { return detail::fixed_string(impl_->entry(index).comm); }

Heartbeat Registry::heartbeat(std::uint32_t index, std::uint64_t now_ns, std::uint64_t not_before_ns) const noexcept {
  const detail::SessionEntry& e = impl_->entry(index);
  Heartbeat h;
  h.overdue = detail::heartbeat_overdue(e, now_ns, not_before_ns);
  const std::uint64_t since = std::max(e.heartbeat_ns.load(detail::kRelaxed), not_before_ns);
  h.age_ns = now_ns > since ? now_ns - since : 0;
  h.timeout_ns = detail::heartbeat_timeout_ns(e);
  return h;
}

// ---- a queue, supervised ----------------------------------------------------------

struct SupervisedQueue::Impl {
  detail::MappedQueue mapped;
  [[nodiscard]] const detail::QueueView& view() const noexcept { return mapped.view; }
};

SupervisedQueue::SupervisedQueue(const std::string& ns, const std::string& name, const Registry& registry)
    : impl_(std::make_unique<Impl>(Impl{detail::open_queue_segment(ns, name)})) {
  impl_->mapped.view.sessions = registry.impl_->view().sessions;
}
SupervisedQueue::~SupervisedQueue() = default;
SupervisedQueue::SupervisedQueue(SupervisedQueue&&) noexcept = default;
SupervisedQueue& SupervisedQueue::operator=(SupervisedQueue&&) noexcept = default;

QueueConfig SupervisedQueue::config() const { return detail::config_of(impl_->view()); }
std::uint32_t SupervisedQueue::group_count() const noexcept { return impl_->view().group_count; }

std::string SupervisedQueue::group_name(std::uint32_t g) const { return detail::group_name(impl_->view(), g); }

void SupervisedQueue::attach(SessionId me) noexcept { detail::attach(impl_->view(), me); }

RecoveryResult SupervisedQueue::detach(SessionId me) noexcept {
  const RecoveryResult r = detail::detach(impl_->view(), me);
  if (r.total() != 0) detail::wake_everyone(impl_->view());
  return r;
}

bool SupervisedQueue::attached(SessionId id) const noexcept {
  return detail::attached(impl_->view(), id);
}

RecoveryResult SupervisedQueue::recover(SessionId id, bool may_still_run) noexcept {
  const RecoveryResult r = detail::recover_session(impl_->view(), id, may_still_run);
  if (r.total() != 0) detail::wake_everyone(impl_->view());
  return r;
}

ExpiryResult SupervisedQueue::expire_group(std::uint32_t g, std::uint64_t now_ms, SessionId me) noexcept {
  const ExpiryResult r = detail::expire_group_leases(impl_->view(), g, now_ms, me);
  // Consumers for the requeued, producers for the freed.
  if (r.expired + r.dead_lettered != 0) detail::wake_everyone(impl_->view());
  return r;
}

std::vector<PurgedGroup> SupervisedQueue::purge() {
  const detail::QueueView& q = impl_->view();
  const detail::PurgeResult dropped = detail::purge(q);
  // Slots came free: wake producers parked on a full queue.
  detail::notify(q.hot->space_futex, q.hot->producers_parked);
  std::vector<PurgedGroup> groups;
  for (std::uint32_t g = 0; g < dropped.group_count; ++g)
    groups.push_back({group_name(g), dropped.ready[g], dropped.pending[g]});
  return groups;
}

bool recover_dead_session(Registry& registry, std::span<QueueRecovery> queues, SessionId dead) {
  std::vector<detail::QueueRecovery> views;
  views.reserve(queues.size());
  for (const QueueRecovery& q : queues)
    views.push_back({.view = &q.queue->impl_->view(), .attached = false, .result = {}});
  const bool released = detail::recover_dead_session(registry.impl_->view(), views, dead);
  for (std::size_t i = 0; i < queues.size(); ++i) {
    queues[i].attached = views[i].attached;
    queues[i].result = views[i].result;
    if (views[i].result.total() != 0) detail::wake_everyone(*views[i].view);
  }
  return released;
}

}  // namespace shmq::admin
