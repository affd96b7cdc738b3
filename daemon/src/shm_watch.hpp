// Notices names appearing in or leaving /dev/shm: an inotify descriptor on the
// event loop. The watchdog uses it to map a queue the moment it is created
// (by shmqd, or by a client directly) instead of at its next periodic look,
// so lease expiry holds from a queue's first message.
#pragma once

#include <functional>
#include <string>

#include "event_loop.hpp"

namespace shmq::daemon {

class ShmDirWatch {
 public:
  // Calls `changed` on the loop when a name starting with `prefix` is
  // created, renamed or removed in /dev/shm, and when the kernel dropped
  // events (queue overflow). Without inotify (out of watches, say) it logs
  // once and never calls: the periodic look still finds every queue.
  ShmDirWatch(EventLoop& loop, std::string prefix, std::function<void()> changed);
  ~ShmDirWatch();
  ShmDirWatch(const ShmDirWatch&) = delete;
  ShmDirWatch& operator=(const ShmDirWatch&) = delete;

 private:
  void on_readable() noexcept;

  EventLoop& loop_;
  const std::string prefix_;
  const std::function<void()> changed_;
  int fd_ = -1;
};

}  // namespace shmq::daemon
