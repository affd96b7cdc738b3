#include "shmq/client.hpp"

#include <chrono>

#include <unistd.h>

#include "client/client_state.hpp"
#include "core/recovery.hpp"
#include "os/names.hpp"
#include "os/wait.hpp"
#include "shmq/admin/control.hpp"

namespace shmq {
namespace detail {

ClientState::ClientState(std::string ns_, ClientOptions options_)
    : ns(std::move(ns_)), options(std::move(options_)), mapped_registry(open_or_create_registry(ns)) {
  if (options.heartbeat_interval.count() <= 0 || options.heartbeat_timeout <= options.heartbeat_interval ||
      options.heartbeat_timeout < kMinHeartbeatTimeout || options.heartbeat_timeout > kMaxHeartbeatTimeout)
    throw Error(errc::invalid_argument, "heartbeat interval " + std::to_string(options.heartbeat_interval.count()) +
                                            " ms / timeout " + std::to_string(options.heartbeat_timeout.count()) +
                                            " ms is invalid: the interval must be positive and below the timeout, "
                                            "and the timeout " + std::to_string(kMinHeartbeatTimeout.count()) +
                                            " ms to one day");
  if (options.daemon_timeout.count() <= 0)
    throw Error(errc::invalid_argument, "daemon timeout " + std::to_string(options.daemon_timeout.count()) +
                                            " ms is invalid: give a positive time (default 10000 ms)");
  owner = claim_session(registry, this_process(options.heartbeat_timeout));
  if (owner == kNoOwner)
    throw Error(errc::too_many_sessions, "namespace '" + ns + "' has all " + std::to_string(kMaxSessions) +
                                             " sessions in use; `shmq-cli sessions` lists them");
  heartbeat = std::thread([this] { heartbeat_loop(); });
}

ClientState::~ClientState() {
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  wake.notify_all();
  heartbeat.join();
  release_session(registry, owner);
}

bool ClientState::check_fenced() noexcept {
  if (fenced.load(std::memory_order_relaxed)) return true;
  if (session_state_of(registry, owner) == SessionState::Alive) return false;
  fenced.store(true, std::memory_order_relaxed);
  return true;
}

// claim_session stamped the first beat: each round waits, then beats.
void ClientState::heartbeat_loop() {
  std::unique_lock lock(mutex);
  while (!wake.wait_for(lock, options.heartbeat_interval, [this] { return stop; })) {
    beat(registry, owner, monotonic_ns());
    (void)check_fenced();
  }
}

// cppcheck-suppress passedByValue ; a sink: its segment is moved from
QueueHandle::QueueHandle(std::shared_ptr<ClientState> client_, std::string name_, MappedQueue mapped)
    : client(std::move(client_)),
      name(std::move(name_)),
      segment(std::move(mapped.segment)),
      view(mapped.view),
      owner(client->owner) {
  view.sessions = client->registry.sessions;
  attach(view, owner);
}

QueueHandle::~QueueHandle() {
  // Nothing of this session uses the queue any more: give back what it held.
  if (detach(view, owner).total() != 0) wake_everyone(view);
}

namespace {

std::shared_ptr<QueueHandle> map_queue(const std::shared_ptr<ClientState>& state, const std::string& queue) {
  std::lock_guard lock(state->mutex);
  // A deleted queue is not reused: the name may have a new queue by now.
  if (auto existing = state->queues[queue].lock(); existing && !existing->view.removed()) return existing;
  auto handle = std::make_shared<QueueHandle>(state, queue, open_queue_segment(state->ns, queue));
  state->queues[queue] = handle;
  return handle;
}

}  // namespace
}  // namespace detail

Client::Client(ClientOptions options)
    : state_(std::make_shared<detail::ClientState>(detail::resolve_namespace(options.ns), std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

QueueCreatedBy Client::create_queue(const std::string& name, const QueueConfig& config) {
  const admin::ControlRequest request{admin::ControlOp::Create, name, config};
  if (const auto reply = admin::call_daemon(state_->ns, request, state_->options.daemon_timeout)) {
    if (!reply->ok) throw Error(reply->code, reply->error);
    return QueueCreatedBy::Daemon;
  }
  if (state_->options.require_daemon) throw admin::no_daemon_error(state_->ns);
  (void)detail::create_queue_segment(state_->ns, name, config);  // no daemon
  return QueueCreatedBy::Directly;
}

bool Client::delete_queue(const std::string& name) {
  const admin::ControlRequest request{admin::ControlOp::Delete, name, {}};
  if (const auto reply = admin::call_daemon(state_->ns, request, state_->options.daemon_timeout)) {
    if (reply->ok) return true;
    if (reply->code == errc::not_found) return false;
    throw Error(reply->code, reply->error);
  }
  if (state_->options.require_daemon) throw admin::no_daemon_error(state_->ns);
  return detail::remove_queue_segment(state_->ns, name);  // no daemon
}

std::uint64_t Client::purge_queue(const std::string& name) {
  const admin::ControlRequest request{admin::ControlOp::Purge, name, {}};
  const auto reply = admin::call_daemon(state_->ns, request, state_->options.daemon_timeout);
  if (!reply) throw admin::no_daemon_error(state_->ns);
  if (!reply->ok) throw Error(reply->code, reply->error);
  return reply->purged;
}

std::vector<std::string> Client::list_queues() const { return detail::list_queue_names(state_->ns); }

Producer Client::producer(const std::string& queue, WaitOptions wait) {
  auto handle = detail::map_queue(state_, queue);
  handle->attachment().roles.fetch_or(detail::kRoleProducer, std::memory_order_relaxed);
  return Producer(std::move(handle), wait);
}

Consumer Client::consumer(const std::string& queue, const std::string& group, WaitOptions wait) {
  auto handle = detail::map_queue(state_, queue);
  const int g = detail::find_group(handle->view, group);
  if (g < 0)
    throw Error(errc::not_found, "queue '" + queue + "' has no consumer group '" + group +
                                     "'; `shmq-cli stat " + queue + "` lists its groups");
  handle->attachment().roles.fetch_or(detail::kRoleConsumer, std::memory_order_relaxed);
  handle->attachment().groups.fetch_or(1U << g, std::memory_order_relaxed);
  return Consumer(std::move(handle), static_cast<std::uint32_t>(g), group, wait);
}

const std::string& Client::namespace_name() const noexcept { return state_->ns; }
std::uint32_t Client::session_id() const noexcept { return state_->owner; }
bool Client::fenced() const noexcept { return state_->check_fenced(); }

}  // namespace shmq
