// The queue segments shmqd keeps mapped: one mapping per queue of the
// namespace, owned here. The Daemon owns the set and lends it to the
// watchdog (which watches every queue in it, told of each one mapped and
// unmapped through a Listener) and to the control server (which purges
// through it and refreshes the names it creates and deletes, so such a queue
// is watched, or unmapped, before the reply goes out).
//
// Single-threaded: everything runs on the event loop's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <sys/stat.h>

#include "shmq/admin/supervisor.hpp"

namespace shmq::daemon {

class QueueSet {
 public:
  // How long a queue may fail to open (most likely a creation in progress)
  // before refresh() logs it as unusable.
  static constexpr std::chrono::milliseconds kUnusableGrace{1000};

  struct Queue {
    admin::SupervisedQueue queue;
    std::uint64_t device = 0, inode = 0;  // of /dev/shm/<segment>: a recreated queue is mapped again
    std::uint64_t next_expiry_ns = 0;      // the watchdog's: a huge queue is scanned less often
  };
  using Map = std::map<std::string, Queue>;

  // Told of every queue right after it is mapped (and, when set, of those
  // mapped before) and right before it is unmapped.
  class Listener {
   public:
    Listener() = default;
    virtual ~Listener() = default;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    Listener(Listener&&) = delete;
    Listener& operator=(Listener&&) = delete;

    virtual void mapped(const std::string& name, Queue& q) noexcept = 0;
    virtual void unmapping(const std::string& name, Queue& q) noexcept = 0;
  };

  // Queues judge owners against `registry`, which must outlive the set.
  QueueSet(std::string ns, const admin::Registry& registry) : ns_(std::move(ns)), registry_(registry) {}
  // Unmaps every queue (telling the listener).
  ~QueueSet();
  QueueSet(const QueueSet&) = delete;
  QueueSet& operator=(const QueueSet&) = delete;

  // `listener` (nullptr: none) must stay valid until replaced.
  void set_listener(Listener* listener) noexcept;

  // The queue `name`, mapped now if it is not (or the name now names another
  // segment). Throws what SupervisedQueue's constructor throws: queue_not_found if it
  // is absent, an error naming what is wrong with a corrupt segment.
  Queue& get(const std::string& name);

  // Follows /dev/shm: maps new queues, unmaps deleted ones, maps a recreated
  // one again. A queue that still fails to open after kUnusableGrace is
  // logged once. Returns true if a queue failed within its grace: look again
  // soon. Never throws (errors are logged).
  bool refresh() noexcept;
  // The same for one name (the control server created or deleted it).
  bool refresh(const std::string& name) noexcept;

  [[nodiscard]] Map::iterator begin() noexcept { return queues_.begin(); }
  [[nodiscard]] Map::iterator end() noexcept { return queues_.end(); }
  [[nodiscard]] std::size_t size() const noexcept { return queues_.size(); }

 private:
  // Maps `name`, whose segment `st` describes; throws like get().
  Queue& map(const std::string& name, const struct stat& st);
  Map::iterator unmap(Map::iterator it) noexcept;
  bool refresh_one(const std::string& name);

  const std::string ns_;
  const admin::Registry& registry_;
  Map queues_;
  Listener* listener_ = nullptr;
  // Queues that failed to open: since when, and whether that was logged.
  struct Unusable {
    std::uint64_t since_ns = 0;
    bool logged = false;
  };
  std::map<std::string, Unusable> unusable_;
};

}  // namespace shmq::daemon
