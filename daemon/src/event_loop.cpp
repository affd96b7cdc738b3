#include "event_loop.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <system_error>

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

[[noreturn]] void fail(const std::string& call) {
  const int err = errno;
  throw Error(errc::system_error, "event loop: " + call + ": " + std::generic_category().message(err) + " (errno " + std::to_string(err) + ")");
}

// epoll_event.data carries fd and generation, so an event fetched for an fd
// that was unwatched (and maybe reused) in the same batch is recognised.
std::uint64_t pack(int fd, std::uint32_t generation) {
  return (static_cast<std::uint64_t>(generation) << 32) | static_cast<std::uint32_t>(fd);
}

}  // namespace

EventLoop::EventLoop() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epoll_fd_ < 0) fail("epoll_create1");
}

EventLoop::~EventLoop() {
  if (signal_fd_ >= 0) ::close(signal_fd_);
  ::close(epoll_fd_);
}

void EventLoop::watch(int fd, std::function<void()> on_readable) {
  const std::uint32_t generation = next_generation_++;
  epoll_event ev{};
  ev.events = EPOLLIN;  // EPOLLHUP and EPOLLERR are always reported
  ev.data.u64 = pack(fd, generation);
  const bool known = watches_.contains(fd);
  if (::epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
    fail("epoll_ctl(" + std::string(known ? "MOD" : "ADD") + ", fd " + std::to_string(fd) + ")");
  watches_[fd] = Watch{generation, std::move(on_readable)};
}

void EventLoop::unwatch(int fd) {
  if (watches_.erase(fd) == 0) return;
  // ENOENT/EBADF: the caller closed it first; the kernel dropped it then.
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::every(std::chrono::milliseconds period, std::function<void()> tick) {
  if (period.count() <= 0) throw Error(errc::invalid_argument, "event loop: a tick period must be positive");
  timers_.push_back(Timer{period, Clock::now() + period, std::move(tick)});
}

void EventLoop::handle_signals(std::initializer_list<int> signals, std::function<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (const int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    errno = rc;
    fail("pthread_sigmask");
  }
  if (signal_fd_ >= 0) {
    unwatch(signal_fd_);
    ::close(signal_fd_);
  }
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) fail("signalfd");
  on_signal_ = std::move(on_signal);
  watch(signal_fd_, [this] { on_signalfd(); });
}

void EventLoop::on_signalfd() {
  for (;;) {
    signalfd_siginfo info{};
    const ssize_t n = ::read(signal_fd_, &info, sizeof info);
    if (n != static_cast<ssize_t>(sizeof info)) {
      if (n < 0 && errno == EINTR) continue;
      return;  // EAGAIN: all read
    }
    if (on_signal_) on_signal_(static_cast<int>(info.ssi_signo));
  }
}

int EventLoop::run_due_ticks() {
  if (timers_.empty()) return -1;
  auto now = Clock::now();
  // By index: a tick may add timers (push_back may reallocate).
  for (std::size_t i = 0; i < timers_.size() && !stopping_; ++i) {
    if (timers_[i].next > now) continue;
    const std::function<void()> tick = timers_[i].tick;  // a copy: the vector may move
    timers_[i].next += timers_[i].period;
    if (timers_[i].next <= now) timers_[i].next = now + timers_[i].period;  // late: no burst to catch up
    tick();
    now = Clock::now();
  }
  Clock::time_point next = timers_.front().next;
  for (const Timer& t : timers_) next = std::min(next, t.next);
  if (next <= now) return 0;
  // Round up: waking a little early would only spin through another epoll_wait.
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<long long>(wait, INT_MAX));
}

void EventLoop::run() {
  stopping_ = false;
  std::array<epoll_event, 64> events{};
  while (!stopping_) {
    const int timeout = run_due_ticks();
    if (stopping_) break;
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait");
    }
    for (int i = 0; i < n && !stopping_; ++i) {
      const int fd = static_cast<int>(static_cast<std::uint32_t>(events[static_cast<std::size_t>(i)].data.u64));
      const auto generation = static_cast<std::uint32_t>(events[static_cast<std::size_t>(i)].data.u64 >> 32);
      const auto it = watches_.find(fd);
      if (it == watches_.end() || it->second.generation != generation) continue;  // unwatched meanwhile
      const std::function<void()> callback = it->second.on_readable;  // a copy: it may unwatch itself
      callback();
    }
  }
}

}  // namespace shmq::daemon
