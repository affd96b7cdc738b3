#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "os/names.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"

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

std::string TestNamespace::queue_path(const std::string& queue) const {
  return detail::shm_path(detail::queue_segment_name(name_, queue));
}

std::string TestNamespace::registry_path() const { return detail::shm_path(detail::registry_segment_name(name_)); }

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

ProgramResult run_program(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::string& input, const std::vector<std::string>& env) {
  ::signal(SIGPIPE, SIG_IGN);  // a child that exits before reading its input must not kill the test
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment, built before fork (the child only dups and execs).
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& set) {
      const std::size_t eq = set.find('=');
      return entry.substr(0, entry.find('=')) == std::string_view(set).substr(0, eq);
    });
    if (!replaced) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(args[0], args.data(), envp.data());
    std::_Exit(127);
  }
  for (int fd : {in[0], out[1], err[1]}) ::close(fd);
  // Feed stdin and drain both outputs together, so no pipe fills up and stalls the child.
  ProgramResult r;
  std::size_t fed = 0;
  if (input.empty()) ::close(in[1]);
  std::vector<pollfd> fds{{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {input.empty() ? -1 : in[1], POLLOUT, 0}};
  const std::uint64_t deadline = now_ms() + static_cast<std::uint64_t>(timeout.count());
  while ((fds[0].fd >= 0 || fds[1].fd >= 0) && now_ms() < deadline) {
    if (::poll(fds.data(), fds.size(), static_cast<int>(deadline - now_ms())) <= 0) continue;
    for (std::size_t i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) {
      const ssize_t n = ::write(fds[2].fd, input.data() + fed, input.size() - fed);
      if (n > 0) fed += static_cast<std::size_t>(n);
      if (n < 0 || fed == input.size()) {
        ::close(fds[2].fd);
        fds[2].fd = -1;
      }
    }
  }
  for (const pollfd& p : fds)
    if (p.fd >= 0) ::close(p.fd);
  // Its outputs are closed, so it is exiting: a short grace even past the deadline.
  const std::uint64_t now = now_ms();
  r.exit = wait_child(pid, std::chrono::milliseconds(std::max<std::uint64_t>(now < deadline ? deadline - now : 0, 5'000)));
  return r;
}

}  // namespace shmq::test
