#include "watchdog.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/timerfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "shmq/admin/namespace.hpp"
#include "shmq/admin/system.hpp"
#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

using admin::RegistryEntry;
using admin::SessionId;
using State = admin::RegistryEntry::State;

constexpr std::uint64_t kNsPerMs = 1'000'000;
// A tick this late means shmqd itself did not run (stopped, starved): every
// heartbeat looks old then, so ages count from the resumed tick instead.
constexpr std::uint64_t kStallNs = 500 * kNsPerMs;
// A lease scan may take at most 1/kExpiryDuty of the daemon's CPU time per
// queue: a queue of millions of slots is scanned less often than every tick.
// CPU time, not elapsed time: a scan preempted on a loaded host must not push
// the next one (and every lease expiry of the queue) far out.
constexpr std::uint64_t kExpiryDuty = 100;

std::uint64_t ns_of(std::chrono::milliseconds d) { return static_cast<std::uint64_t>(d.count()) * kNsPerMs; }

std::string counted(std::uint32_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "5 leases requeued, 1 loan aborted"
std::string result_text(const admin::RecoveryResult& r, bool may_still_run) {
  std::string s;
  const auto add = [&](std::uint32_t n, const char* one, const char* many) {
    if (n != 0) s += (s.empty() ? "" : ", ") + counted(n, one, many);
  };
  add(r.leases_requeued, "lease requeued", "leases requeued");
  add(r.leases_released, "lease released (at-most-once)", "leases released (at-most-once)");
  if (may_still_run)
    add(r.loans_aborted, "loan quarantined", "loans quarantined");
  else
    add(r.loans_aborted, "loan aborted", "loans aborted");
  add(r.dead_letters_finished, "dead-letter move finished", "dead-letter moves finished");
  add(r.dlq_entries_freed, "half-written dead letter freed", "half-written dead letters freed");
  add(r.parked_fixed, "parked waiter uncounted", "parked waiters uncounted");
  add(r.redeliveries_announced, "redelivery announced", "redeliveries announced");
  return s;
}

std::string session_name(SessionId id, std::uint32_t pid, const std::string& comm) {
  return std::to_string(admin::session_index(id)) + "." + std::to_string(admin::session_generation(id)) + " (pid " +
         std::to_string(pid) + (comm.empty() ? "" : " " + comm) + ")";
}

}  // namespace

Watchdog::Watchdog(EventLoop& loop, std::string ns, const DaemonConfig& config, admin::Registry& registry,
                   QueueSet& queues)
    : loop_(loop),
      ns_(std::move(ns)),
      registry_(registry),
      scan_period_(config.scan_period),
      idle_period_(std::max(config.scan_period, kIdlePeriod)),
      queues_(queues),
      // A queue created or removed: look at the list on the next tick (at
      // most one look a tick, however many names a neighbour creates).
      shm_watch_(loop, admin::queue_object_prefix(ns_), [this] { next_refresh_ns_ = 0; }) {
  // Claimed once every member is made: none can throw with the session held.
  me_ = registry_.claim_own_session(config.heartbeat_timeout);  // NOLINT(cppcoreguidelines-prefer-member-initializer)
  if (me_ == admin::kNoSession)
    throw Error(errc::too_many_sessions, "the watchdog needs a session but namespace '" + ns_ + "' has all " +
                                             std::to_string(admin::Registry::kMaxSessions) +
                                             " in use; `shmq-cli sessions` lists them");
  last_scan_ns_ = admin::monotonic_ns();
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) {
    const int err = errno;
    registry_.release(me_);
    throw Error(errc::system_error, std::string("the watchdog cannot make its timer: timerfd_create: ") +
                                        std::generic_category().message(err));
  }
  loop_.watch(timer_fd_, [this] { on_timer(); });
  // Nothing below throws: the set never calls a watchdog that was not made.
  queues_.set_listener(this);
  refresh_queues();
  spdlog::info("watchdog: session {}.{}, scanning every {} ms, {} queues", admin::session_index(me_),
               admin::session_generation(me_), config.scan_period.count(), queues_.size());
  scan();  // what dead processes left is recovered before shmqd reports ready; arms the timer
}

Watchdog::~Watchdog() {
  for (std::uint32_t i = 0; i < admin::Registry::kMaxSessions; ++i) untrack(i);
  for (auto& [name, q] : queues_) detach(q);
  queues_.set_listener(nullptr);
  loop_.unwatch(timer_fd_);
  ::close(timer_fd_);
  registry_.release(me_);
  spdlog::debug("watchdog: session {}.{} released", admin::session_index(me_), admin::session_generation(me_));
}

void Watchdog::scan() noexcept {
  try {
    const std::uint64_t now = admin::monotonic_ns();
    registry_.beat(me_, now);
    if (now - last_scan_ns_ > kStallNs) resumed_ns_ = now;
    last_scan_ns_ = now;
    if (now >= next_refresh_ns_) refresh_queues();
    const std::uint32_t mine = admin::session_index(me_);
    bool others = false;
    for (std::uint32_t i = 0; i < admin::Registry::kMaxSessions; ++i) {
      if (i == mine) continue;
      const RegistryEntry e = registry_.entry(i);
      Tracked& t = sessions_[i];
      if (t.phase != Phase::Untracked && e.id != t.owner) {  // Free, or another generation
        spdlog::debug("session {} detached", t.name);
        untrack(i);
      }
      if (e.state == State::Free) continue;
      others = true;
      if (t.phase == Phase::Untracked)
        track(i, e, now);
      else
        check(i, e, now);
    }
    // Without another session no lease is held: nothing can run out.
    if (others) expire(now);
    arm(others ? scan_period_ : idle_period_);
  } catch (const std::exception& e) {  // allocation failures of the log lines; the next tick tries again
    spdlog::error("watchdog scan failed: {}", e.what());
  }
}

void Watchdog::arm(std::chrono::milliseconds period) noexcept {
  if (period == armed_) return;
  const auto ns = static_cast<long>(period.count() % 1000 * 1'000'000);
  itimerspec spec{};
  spec.it_interval.tv_sec = static_cast<time_t>(period.count() / 1000);
  spec.it_interval.tv_nsec = ns;
  spec.it_value = spec.it_interval;
  if (::timerfd_settime(timer_fd_, 0, &spec, nullptr) != 0)
    spdlog::error("watchdog: timerfd_settime: {}", std::generic_category().message(errno));  // keeps the old period
  else
    armed_ = period;
}

void Watchdog::on_timer() noexcept {
  std::uint64_t expirations = 0;
  if (::read(timer_fd_, &expirations, sizeof expirations) < 0 && errno == EAGAIN) return;  // already read
  scan();
}

void Watchdog::track(std::uint32_t index, const RegistryEntry& entry, std::uint64_t now_ns) {
  Tracked& t = sessions_[index];
  const std::uint64_t recorded = registry_.start_time(index);
  t.owner = entry.id;
  t.pid = entry.pid;
  t.name = session_name(t.owner, t.pid, registry_.comm(index));
  t.since_ns = now_ns;
  t.phase = Phase::Unconfirmed;
  const int fd = admin::pidfd_open(static_cast<pid_t>(t.pid));
  if (fd < 0) {
    if (errno == ESRCH) {
      handle_dead(index, "is gone");
      return;
    }
    // Out of descriptors, say: its heartbeat still shows when it stops.
    spdlog::error("cannot watch session {} for its exit (pidfd_open: {}): only its heartbeat is watched", t.name,
                  std::generic_category().message(errno));
    t.start_time = recorded;
    t.phase = Phase::Watching;
    return;
  }
  t.pidfd = fd;
  // Read after pidfd_open: if this start time is the session's, the pidfd is
  // of the session's process (a pid is reused only after its process is gone).
  t.start_time = admin::process_start_time(static_cast<pid_t>(t.pid));
  if (t.start_time == 0) {  // exited in between
    handle_dead(index, "is gone");
    return;
  }
  loop_.watch(fd, [this, index] { on_pidfd(index); });
  if (recorded != t.start_time) {
    // A claim still being written (Alive), or the pid now names another
    // process: the grace tells the two apart (see check).
    if (entry.state == State::Fenced) handle_dead(index, "is gone (its pid was reused)");
    return;
  }
  if (entry.state == State::Fenced) {
    // Fenced by an earlier shmqd that may have died before recovering it.
    t.phase = Phase::Hung;
    spdlog::info("session {} is fenced and still runs: waiting for it to exit", t.name);
    refresh_queues();
    (void)recover(t, true, "was fenced");
    return;
  }
  t.phase = Phase::Watching;
  spdlog::debug("watching session {}", t.name);
}

void Watchdog::check(std::uint32_t index, const RegistryEntry& entry, std::uint64_t now_ns) {
  Tracked& t = sessions_[index];
  switch (t.phase) {
    case Phase::Unconfirmed:
      if (registry_.start_time(index) == t.start_time) {
        t.phase = Phase::Watching;
        t.name = session_name(t.owner, t.pid, registry_.comm(index));  // complete now
        spdlog::debug("watching session {}", t.name);
      } else if (now_ns - t.since_ns > ns_of(kIdentityGrace)) {
        handle_dead(index, "is gone (its pid now names another process)");
      }
      return;
    case Phase::Watching: {
      if (entry.state == State::Fenced) {  // not by us: someone else gave up on it
        t.phase = Phase::Hung;
        return;
      }
      const admin::Heartbeat h = registry_.heartbeat(index, now_ns, resumed_ns_);
      if (h.overdue) handle_hung(index, h.age_ns, h.timeout_ns);
      return;
    }
    case Phase::Hung:
      // Without a pidfd (pidfd_open failed) its exit is looked for in /proc.
      if (t.pidfd < 0 && !admin::process_alive(static_cast<pid_t>(t.pid), t.start_time))
        handle_dead(index, "exited after it was fenced");
      return;
    case Phase::Untracked: return;
  }
}

void Watchdog::untrack(std::uint32_t index) noexcept {
  Tracked& t = sessions_[index];
  if (t.pidfd >= 0) {
    loop_.unwatch(t.pidfd);
    ::close(t.pidfd);
    t.pidfd = -1;
  }
  t.phase = Phase::Untracked;
  t.owner = admin::kNoSession;
}

void Watchdog::on_pidfd(std::uint32_t index) noexcept {
  const Tracked& t = sessions_[index];
  if (registry_.state_of(t.owner) == State::Free) {
    spdlog::debug("session {} detached and exited", t.name);  // released it itself
    untrack(index);
    return;
  }
  handle_dead(index, t.phase == Phase::Hung ? "exited after it was fenced" : "died");
}

void Watchdog::handle_dead(std::uint32_t index, const char* why) noexcept {
  Tracked& t = sessions_[index];
  refresh_queues();  // a queue created since the last refresh may hold its leases
  try {
    recovering_.clear();  // keeps its capacity: allocates only when queues were added
    for (auto& [name, q] : queues_) recovering_.push_back({.queue = &q.queue, .attached = false, .result = {}});
    // Fence, recover every attached queue, release: the library's one sequence.
    (void)admin::recover_dead_session(registry_, recovering_, t.owner);
  } catch (const std::exception& e) {
    // Fenced at least; still tracked, so the next event or tick tries again.
    (void)registry_.fence(t.owner);
    spdlog::error("session {} {}: cannot recover it now: {}", t.name, why, e.what());
    return;
  }
  bool any = false;
  auto r = recovering_.begin();
  for (auto& [name, q] : queues_) {
    if (r->result.total() != 0) {
      any = true;
      log_recovery(name, t, r->result, false, why);
    }
    ++r;
  }
  if (!any) spdlog::info("session {} {}: it held nothing", t.name, why);
  untrack(index);
}

void Watchdog::handle_hung(std::uint32_t index, std::uint64_t age_ns, std::uint64_t timeout_ns) noexcept {
  Tracked& t = sessions_[index];
  if (!registry_.fence(t.owner)) {  // released meanwhile, or fenced by someone else
    t.phase = Phase::Hung;
    return;
  }
  spdlog::warn("session {} missed heartbeats for {} ms (timeout {} ms): fenced", t.name, age_ns / kNsPerMs,
               timeout_ns / kNsPerMs);
  t.phase = Phase::Hung;
  refresh_queues();
  (void)recover(t, true, "hung");
}

bool Watchdog::recover(const Tracked& t, bool may_still_run, const char* why) noexcept {
  bool any = false;
  for (auto& [name, q] : queues_) any |= recover_in(name, q.queue, t, may_still_run, why);
  return any;
}

bool Watchdog::recover_in(const std::string& name, admin::SupervisedQueue& q, const Tracked& t, bool may_still_run,
                          const char* why) noexcept {
  if (!q.attached(t.owner)) return false;
  const admin::RecoveryResult r = q.recover(t.owner, may_still_run);
  if (r.total() == 0) return false;
  log_recovery(name, t, r, may_still_run, why);
  return true;
}

void Watchdog::log_recovery(const std::string& name, const Tracked& t, const admin::RecoveryResult& r,
                            bool may_still_run, const char* why) noexcept {
  try {
    spdlog::info("session {} {}: queue {}: {}", t.name, why, name, result_text(r, may_still_run));
  } catch (...) {  // NOLINT(bugprone-empty-catch): a log line that cannot be allocated is lost, the recovery is not
  }
}

bool Watchdog::recover_fenced_in(const std::string& name, admin::SupervisedQueue& q) noexcept {
  bool any = false;
  for (const Tracked& t : sessions_)
    if (t.phase == Phase::Hung) any |= recover_in(name, q, t, true, "took more after it was fenced");
  return any;
}

void Watchdog::expire(std::uint64_t now_ns) noexcept {
  // Deadlines are CLOCK_MONOTONIC ms written by consumers from a reading that
  // is never behind the precise clock; the floor of the precise clock is never
  // ahead of it, so a lease is expired only once it has really run out.
  const std::uint64_t now_ms = now_ns / kNsPerMs;
  for (auto& [name, q] : queues_) {
    if (now_ns < q.next_expiry_ns) continue;
    const std::uint64_t start = admin::thread_cpu_ns();
    recover_fenced_in(name, q.queue);
    for (std::uint32_t g = 0; g < q.queue.group_count(); ++g) {
      const admin::ExpiryResult r = q.queue.expire_group(g, now_ms, me_);  // wakes whom it concerns
      if (r.expired == 0 && r.dead_lettered == 0) continue;
      try {
        spdlog::info("queue {} group {}: {} expired, {} dead-lettered", name, q.queue.group_name(g),
                     counted(r.expired, "lease", "leases"), r.dead_lettered);
      } catch (...) {  // NOLINT(bugprone-empty-catch): see recover
      }
    }
    q.next_expiry_ns = now_ns + (admin::thread_cpu_ns() - start) * kExpiryDuty;
  }
}

void Watchdog::refresh_queues() noexcept {
  const std::uint64_t now = admin::monotonic_ns();
  next_refresh_ns_ = now + ns_of(kRefreshPeriod);
  // A queue that failed to open is most likely being created: the next tick looks again.
  if (queues_.refresh()) next_refresh_ns_ = std::min(next_refresh_ns_, now + ns_of(scan_period_));
}

void Watchdog::mapped(const std::string& name, QueueSet::Queue& q) noexcept {
  // The daemon uses the queue (dead-letter moves): a shmqd killed in the
  // middle of one is recovered here by the next.
  q.queue.attach(me_);
  spdlog::debug("watching queue {}", name);
}

void Watchdog::unmapping(const std::string& /*name*/, QueueSet::Queue& q) noexcept { detach(q); }

void Watchdog::detach(QueueSet::Queue& q) const noexcept {
  // Gives back what its expiry left Pending in its name, then the attachment.
  (void)q.queue.detach(me_);
}

}  // namespace shmq::daemon
