// shmqd's watchdog: it notices sessions that died (a pidfd per session on the
// event loop) or hung (heartbeat older than the session's own timeout), fences
// them and gives back what they held in every queue of the namespace; and it
// expires leases that ran out. The daemon is a session itself: its heartbeat
// shows it is alive, its owner stamps the dead-letter moves it makes, and a
// shmqd killed with SIGKILL is recovered by the next one like any session.
//
// Everything runs on the loop's thread. One tick (DaemonConfig::scan_period)
// reads the registry and the lease words and costs no allocation and no
// system call beyond a clock read unless something changed: /proc is read
// once per new session, /dev/shm listed once a second, before a recovery, and
// when inotify reports a queue created or removed (so a new queue is watched
// from its creation, and its leases expire on time from its first message).
// With no session but its own there is no heartbeat or lease to check, and
// the ticks slow to kIdlePeriod: the wake-up itself is what an idle daemon
// pays for (about 40 us on a VM), and a process that attaches then is seen
// within kIdlePeriod (a death before that is found by the scan, just as fast).
//
// Session life as the watchdog sees it (per registry entry, by generation):
//
//   new Alive ----pid + start time match----> Watching --heartbeat too old--> Hung
//      |  \--start time differs (a claim being written, or pid reuse)        (fenced, leases
//      |        -> Unconfirmed: match later -> Watching; still not after      requeued, loans
//      |           kIdentityGrace -> dead                                      quarantined; again
//      |                                                                       on every expiry pass)
//      |                                                                        |
//      +--process gone----------> dead <----------pidfd readable---------------+
//                                  fence, recover every attached queue, release
//
// A session the process releases itself (clean detach) is simply forgotten.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "event_loop.hpp"
#include "queue_set.hpp"
#include "shm_watch.hpp"
#include "shmq/admin/supervisor.hpp"

namespace shmq::daemon {

class Watchdog : private QueueSet::Listener {
 public:
  // How long a session's recorded start time may disagree with its pid's
  // before the session counts as dead: a claim writes the start time a few
  // instructions after the pid, so a fresh entry can briefly show the
  // previous holder's.
  static constexpr std::chrono::milliseconds kIdentityGrace{1000};
  // How often the list of queues is read again (also before each recovery).
  static constexpr std::chrono::milliseconds kRefreshPeriod{1000};
  // The tick while no other session exists (at least scan_period).
  static constexpr std::chrono::milliseconds kIdlePeriod{50};

  // Claims the daemon's own session (errc::too_many_sessions if the table is
  // full), has `queues` map every queue of the namespace (it attaches to
  // each), registers its tick (a timerfd) on `loop`, and runs the first scan
  // at once: sessions left by dead processes (and by a killed shmqd) are
  // recovered before it returns. `queues` must outlive the watchdog.
  Watchdog(EventLoop& loop, std::string ns, const DaemonConfig& config, admin::Registry& registry, QueueSet& queues);
  // Clean shutdown: stops watching, detaches from the queues (they stay
  // mapped in the set) and releases the daemon's session. Attached processes
  // keep running.
  ~Watchdog() override;
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // One tick: beat, refresh the queue list when due, check every session,
  // expire leases. Never throws (errors are logged).
  void scan() noexcept;

 private:
  enum class Phase : std::uint8_t { Untracked, Unconfirmed, Watching, Hung };
  struct Tracked {
    Phase phase = Phase::Untracked;
    admin::SessionId owner = admin::kNoSession;
    std::uint32_t pid = 0;
    int pidfd = -1;
    std::uint64_t start_time = 0;  // of the process behind pidfd, from /proc
    std::uint64_t since_ns = 0;    // Unconfirmed: when first seen
    std::string name;              // "3.7 (pid 1234 consumer)", made once
  };

  void track(std::uint32_t index, const admin::RegistryEntry& entry, std::uint64_t now_ns);
  void check(std::uint32_t index, const admin::RegistryEntry& entry, std::uint64_t now_ns);
  void untrack(std::uint32_t index) noexcept;
  void on_pidfd(std::uint32_t index) noexcept;
  // Fences, recovers every attached queue (the process is gone) and releases:
  // admin::recover_dead_session, then a log line per queue.
  void handle_dead(std::uint32_t index, const char* why) noexcept;
  // Fences and recovers what may be taken from a process that may resume.
  void handle_hung(std::uint32_t index, std::uint64_t age_ns, std::uint64_t timeout_ns) noexcept;
  // Recovers `owner` in every queue it is attached to; logs each; true if
  // anything changed.
  bool recover(const Tracked& t, bool may_still_run, const char* why) noexcept;
  // The same in one queue.
  static bool recover_in(const std::string& name, admin::SupervisedQueue& q, const Tracked& t, bool may_still_run,
                         const char* why) noexcept;
  static void log_recovery(const std::string& name, const Tracked& t, const admin::RecoveryResult& r,
                           bool may_still_run, const char* why) noexcept;
  // Takes back what fenced sessions that still run stamped since they were
  // fenced (a claim raced with the fence, then the process stopped again).
  bool recover_fenced_in(const std::string& name, admin::SupervisedQueue& q) noexcept;
  void expire(std::uint64_t now_ns) noexcept;
  void refresh_queues() noexcept;
  // QueueSet::Listener: attaches to each queue mapped, detaches before it goes.
  void mapped(const std::string& name, QueueSet::Queue& q) noexcept override;
  void unmapping(const std::string& name, QueueSet::Queue& q) noexcept override;
  void detach(QueueSet::Queue& q) const noexcept;
  void arm(std::chrono::milliseconds period) noexcept;
  void on_timer() noexcept;

  EventLoop& loop_;
  const std::string ns_;
  admin::Registry& registry_;
  admin::SessionId me_ = admin::kNoSession;
  const std::chrono::milliseconds scan_period_;
  const std::chrono::milliseconds idle_period_;
  int timer_fd_ = -1;
  std::chrono::milliseconds armed_{0};  // the timer's period now (0: not armed)
  std::uint64_t next_refresh_ns_ = 0;
  std::uint64_t last_scan_ns_ = 0;
  std::uint64_t resumed_ns_ = 0;  // the last tick after shmqd itself stalled
  std::array<Tracked, admin::Registry::kMaxSessions> sessions_{};
  QueueSet& queues_;
  std::vector<admin::QueueRecovery> recovering_;  // handle_dead's list of queues_, reused
  ShmDirWatch shm_watch_;  // last: its callback uses the members above
};

}  // namespace shmq::daemon
