// shmqd's single-threaded event loop: epoll over descriptors (pidfds, sockets,
// a signalfd) and periodic ticks, with the next tick's deadline as epoll_wait's
// timeout. Nothing polls: an idle daemon sleeps in epoll_wait.
//
// Everything runs on the thread that calls run(); none of the methods is
// thread-safe. Callbacks may call watch, unwatch, every and stop (on any fd,
// their own included).
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <vector>

namespace shmq::daemon {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  EventLoop();  // throws shmq::Error if epoll_create1 fails
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `on_readable` whenever `fd` is readable (level-triggered: it must
  // read what is there, or unwatch, or it is called again at once). Also
  // called on hang-up and error (a pidfd of an exited process, a closed
  // socket). The loop does not own `fd`: unwatch it before closing it.
  // Watching an fd again replaces its callback.
  void watch(int fd, std::function<void()> on_readable);
  // Stops watching `fd`; a no-op if it is not watched. Events of `fd` already
  // fetched by epoll_wait are dropped, even if the fd number is reused at once.
  void unwatch(int fd);

  // Calls `tick` every `period` (> 0), first one period from now. A tick that
  // runs late is not repeated to catch up: the next one is one period later.
  void every(std::chrono::milliseconds period, std::function<void()> tick);

  // Blocks `signals` in this thread (call before starting threads, so every
  // thread inherits the mask) and delivers them through a signalfd:
  // `on_signal(signo)` runs in the loop like any callback.
  void handle_signals(std::initializer_list<int> signals, std::function<void(int)> on_signal);

  // Runs until stop(). Exceptions thrown by callbacks propagate out of run().
  void run();
  // Makes run() return after the current callback.
  void stop() noexcept { stopping_ = true; }

 private:
  struct Watch {
    std::uint32_t generation = 0;
    std::function<void()> on_readable;
  };
  struct Timer {
    std::chrono::milliseconds period;
    Clock::time_point next;
    std::function<void()> tick;
  };

  // Runs every due tick; returns the epoll_wait timeout until the next one.
  int run_due_ticks();
  void on_signalfd();

  int epoll_fd_ = -1;
  int signal_fd_ = -1;
  std::function<void(int)> on_signal_;
  std::map<int, Watch> watches_;
  std::uint32_t next_generation_ = 1;
  std::vector<Timer> timers_;
  bool stopping_ = false;
};

}  // namespace shmq::daemon
