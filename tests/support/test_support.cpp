#include "test_support.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <vector>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os.hpp"

namespace shmq::test {

namespace {

std::atomic<unsigned> g_counter{0};

void remove_all(const std::string& ns) {
  for (const std::string& n : detail::Segment::list(detail::namespace_prefix(ns))) detail::Segment::remove(n);
  ::unlink(detail::namespace_lock_path(ns).c_str());
}

std::uint64_t now_ms() { return detail::monotonic_ns() / 1'000'000; }

}  // namespace

TestNamespace::TestNamespace()
    : name_("t" + std::to_string(::getpid()) + "x" + std::to_string(g_counter.fetch_add(1))) {
  remove_all(name_);
}

TestNamespace::~TestNamespace() { remove_all(name_); }

std::vector<std::string> TestNamespace::objects() const { return detail::Segment::list(detail::namespace_prefix(name_)); }

pid_t fork_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  int code = 99;
  try {
    code = body();
  } catch (const std::exception&) {
    code = 99;
  }
  std::_Exit(code);  // no atexit handlers, no gtest teardown in the child
}

ChildExit wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(timeout.count());
  const int pidfd = detail::pidfd_open(pid);
  ChildExit r;
  for (;;) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      r.exited = WIFEXITED(status);
      r.code = r.exited ? WEXITSTATUS(status) : -1;
      r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      break;
    }
    const std::uint64_t now = now_ms();
    if (w < 0 || now >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      r.signal = SIGKILL;
      break;
    }
    // Sleep until the child exits (pidfd readable) or the deadline: no polling loop.
    pollfd p{pidfd, POLLIN, 0};
    ::poll(&p, pidfd >= 0 ? 1 : 0, static_cast<int>(std::min<std::uint64_t>(deadline - now, 100)));
  }
  if (pidfd >= 0) ::close(pidfd);
  return r;
}

bool read_exact(int fd, void* buf, std::size_t n, std::chrono::milliseconds timeout) {
  auto* p = static_cast<char*>(buf);
  const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(timeout.count());
  while (n > 0) {
    const std::uint64_t now = now_ms();
    if (now >= deadline) return false;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(deadline - now)) <= 0) continue;
    const ssize_t got = ::read(fd, p, n);
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace shmq::test
