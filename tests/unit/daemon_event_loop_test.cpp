// shmqd's event loop (daemon/src/event_loop.cpp): readable descriptors, ticks,
// unwatching from a callback, signals through a signalfd. Every wait is
// bounded by a tick that stops the loop.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "event_loop.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::daemon::EventLoop;

struct Pipe {
  Pipe() { EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void put() const { ASSERT_EQ(::write(fds[1], "x", 1), 1); }
  [[nodiscard]] bool take() const {
    char c = 0;
    return ::read(fds[0], &c, 1) == 1;
  }
  int fds[2] = {-1, -1};
};

// Stops `loop` after `limit`, so a broken loop fails instead of hanging.
void stop_after(EventLoop& loop, std::chrono::milliseconds limit, bool& timed_out) {
  loop.every(limit, [&] {
    timed_out = true;
    loop.stop();
  });
}

TEST(DaemonEventLoopTest, CallsBackWhenReadable) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  loop.watch(p.fds[0], [&] {
    EXPECT_TRUE(p.take());
    if (++calls == 2) loop.stop();
    else p.put();
  });
  p.put();
  bool timed_out = false;
  stop_after(loop, 10s, timed_out);
  loop.run();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(calls, 2);
}

TEST(DaemonEventLoopTest, TicksRepeatAtTheirPeriod) {
  EventLoop loop;
  int ticks = 0;
  const auto start = EventLoop::Clock::now();
  loop.every(5ms, [&] {
    if (++ticks == 4) loop.stop();
  });
  bool timed_out = false;
  stop_after(loop, 10s, timed_out);
  loop.run();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(ticks, 4);
  EXPECT_GE(EventLoop::Clock::now() - start, 20ms);  // never early
}

TEST(DaemonEventLoopTest, UnwatchFromACallbackDropsPendingEvents) {
  EventLoop loop;
  Pipe a, b;
  int a_calls = 0, b_calls = 0;
  // Both readable in the same epoll_wait batch: whichever runs first unwatches the other.
  loop.watch(a.fds[0], [&] {
    ++a_calls;
    loop.unwatch(b.fds[0]);
    loop.unwatch(a.fds[0]);
  });
  loop.watch(b.fds[0], [&] {
    ++b_calls;
    loop.unwatch(a.fds[0]);
    loop.unwatch(b.fds[0]);
  });
  a.put();
  b.put();
  loop.every(20ms, [&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(a_calls + b_calls, 1);
}

TEST(DaemonEventLoopTest, SignalsArriveThroughTheLoop) {
  sigset_t old;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &old), 0);
  {
    EventLoop loop;
    std::vector<int> got;
    loop.handle_signals({SIGUSR1}, [&](int signo) {
      got.push_back(signo);
      loop.stop();
    });
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);  // blocked: pending until the loop reads it
    bool timed_out = false;
    stop_after(loop, 10s, timed_out);
    loop.run();
    EXPECT_FALSE(timed_out);
    EXPECT_EQ(got, std::vector<int>{SIGUSR1});
  }
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);
}

}  // namespace
