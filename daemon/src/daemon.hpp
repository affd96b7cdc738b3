// The shmqd process of one namespace: its config, the instance lock, the
// mapped queues (queue_set.hpp: the one owner of those mappings, lent to the
// parts below), the mapped registry, and the event loop everything else
// plugs into.
//
// Life cycle (run.cpp):
//   Daemon d(ns, config);  // blocks SIGTERM/SIGINT/SIGHUP into the loop
//   d.start();             // lock, queues, registry; throws if any fails
//   ...report ready to a daemonizing parent...
//   d.run(ready_fd);       // READY=1 (and --ready-fd), loop until SIGTERM/SIGINT, STOPPING=1
//
// Two parts register on the loop, both made by start() once the registry is
// mapped: the control server (control.hpp: the socket clients and shmq-cli
// send create/delete/purge to) and the watchdog (watchdog.hpp: a timer for
// heartbeats and lease deadlines, a pidfd per session for deaths).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "event_loop.hpp"
#include "instance_lock.hpp"
#include "queue_set.hpp"
#include "shmq/admin/supervisor.hpp"
#include "watchdog.hpp"

namespace shmq::daemon {

class ControlServer;

class Daemon {
 public:
  // Only sets up the loop and its signal handling (SIGTERM/SIGINT stop it,
  // SIGHUP is logged): no file or segment is touched yet. Call it before any
  // thread starts, so every thread inherits the blocked signals.
  Daemon(std::string ns, DaemonConfig config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Takes the instance lock (AlreadyRunning if another shmqd runs the
  // namespace), checks that the configured queues can be made (owner groups,
  // /dev/shm space), opens or creates the registry, and creates the missing
  // queues (adopting existing ones, with a warning naming any difference from
  // the config). Throws shmq::Error on failure, after removing the queues this
  // call created: the daemon does not start half-way.
  void start();

  // Reports READY=1 to systemd, logs the ready line, writes "ready <pid>\n"
  // to `ready_fd` and closes it (if >= 0: shmqd --ready-fd, support/shmqd_ready.hpp),
  // runs the loop until SIGTERM/SIGINT, reports STOPPING=1. Every segment
  // stays in place. The control socket already listens (start() made it), so
  // whoever learns of the ready state gets its requests answered.
  void run(int ready_fd = -1);

 private:
  void check_can_create() const;
  // Creates `q` or adopts the existing segment (maps it, to compare it with
  // the config). True if this call created it.
  bool ensure_queue(const QueueDefinition& q);
  void adopt_queue(const QueueDefinition& q);
  // Maps the registry (shared as configured) and the queue set over it.
  void map_registry();
  void share_registry() const;

  const std::string ns_;
  const DaemonConfig config_;
  EventLoop loop_;
  std::optional<InstanceLock> lock_;
  std::optional<admin::Registry> registry_;
  std::optional<QueueSet> queues_;  // after the registry, before the parts that borrow it

  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<ControlServer> control_;
};

}  // namespace shmq::daemon
