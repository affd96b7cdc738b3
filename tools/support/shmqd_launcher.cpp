#include "support/shmqd_launcher.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

namespace shmq::support {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), "shmqd launcher: " + what);
}

int poll_timeout(Clock::time_point deadline) noexcept {
  const Clock::time_point now = Clock::now();
  if (now >= deadline) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
}

ShmqdExit exit_of(int status) noexcept {
  ShmqdExit e;
  e.exited = WIFEXITED(status);
  e.code = e.exited ? WEXITSTATUS(status) : -1;
  e.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return e;
}

// In a forked child before exec or _exit (async-signal-safe): a write that
// fails has nobody to tell.
void write_all(int fd, std::string_view s) noexcept {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n <= 0) return;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Waits at most `limit` for the child `pid` to end (asleep on its pidfd),
// SIGKILLs it then, and reaps it.
ShmqdExit reap(pid_t pid, std::chrono::milliseconds limit) noexcept {
  const Clock::time_point deadline = Clock::now() + limit;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ShmqdExit e;
  for (;;) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      e = exit_of(status);
      break;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 || Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      e.timed_out = true;
      e.signal = SIGKILL;
      break;
    }
    // Asleep until the child ends (its pidfd turns readable) or the deadline;
    // without a pidfd (an old kernel), a look every 100 ms.
    pollfd p{pidfd, POLLIN, 0};
    const int timeout = poll_timeout(deadline);
    ::poll(&p, pidfd >= 0 ? 1 : 0, pidfd >= 0 ? timeout : std::min(timeout, 100));
  }
  if (pidfd >= 0) ::close(pidfd);
  return e;
}

}  // namespace

std::string find_shmqd(const std::string& given) {
  if (!given.empty()) return given;
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    const std::string exe(self, static_cast<std::size_t>(n));
    const std::string dir = exe.substr(0, exe.rfind('/'));
    for (const std::string& candidate : {dir + "/../daemon/shmqd", dir + "/shmqd"})
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "shmqd";
}

ShmqdLauncher::ShmqdLauncher(ShmqdOptions options) : options_(std::move(options)) {}

ShmqdLauncher::~ShmqdLauncher() {
  if (running()) {
    ::kill(pid_, SIGTERM);
    (void)reap(pid_, kShmqdStopLimit);
  }
  close_output();
}

void ShmqdLauncher::close_output() noexcept {
  if (out_fd_ >= 0) ::close(out_fd_);
  out_fd_ = -1;
}

void ShmqdLauncher::start() {
  if (running()) throw std::logic_error("shmqd launcher: start() while shmqd " + std::to_string(pid_) + " runs");
  close_output();
  ready_pipe_ = ShmqdReadyReader();
  ready_ = false;

  // Every descriptor close-on-exec: the child clears it on the ready pipe's
  // write end only, and dup2 gives it its stdin, stdout and stderr.
  int ready_fds[2];
  if (::pipe2(ready_fds, O_CLOEXEC) != 0) throw_errno("pipe2 for --ready-fd");
  ShmqdReadyReader reader(ready_fds[0]);
  int out[2] = {-1, -1};
  if (options_.log_file.empty()) {
    if (::pipe2(out, O_CLOEXEC) != 0) {
      const int err = errno;
      ::close(ready_fds[1]);
      throw std::system_error(err, std::generic_category(), "shmqd launcher: pipe2 for shmqd's output");
    }
  } else {
    out[1] = ::open(options_.log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out[1] < 0) {
      const int err = errno;
      ::close(ready_fds[1]);
      throw std::system_error(err, std::generic_category(), "shmqd launcher: cannot write " + options_.log_file);
    }
  }
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  std::vector<std::string> argv{options_.program, "--foreground", "--namespace", options_.ns};
  if (!options_.config.empty()) argv.insert(argv.end(), {"--config", options_.config});
  argv.insert(argv.end(), {"--log-level", options_.log_level, kShmqdReadyFdFlag, std::to_string(ready_fds[1])});
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string cannot_run = "cannot run " + options_.program + ": ";

  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child == 0) {
    // Only async-signal-safe calls from here to exec.
    if (options_.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the starter is already gone
    }
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::fcntl(ready_fds[1], F_SETFD, 0);  // the one other descriptor shmqd inherits
    ::execvp(args[0], args.data());
    write_all(2, cannot_run);
    write_all(2, ::strerrordesc_np(errno));
    write_all(2, "\n");
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(ready_fds[1]);  // EOF on the read end then means shmqd closed it or ended
  ::close(out[1]);
  if (null >= 0) ::close(null);
  if (child < 0) {
    if (out[0] >= 0) ::close(out[0]);
    throw std::system_error(fork_errno, std::generic_category(), "shmqd launcher: fork");
  }
  pid_ = child;
  out_fd_ = out[0];
  ready_pipe_ = std::move(reader);
}

bool ShmqdLauncher::wait_ready(std::chrono::milliseconds limit) {
  if (running()) ready_ = ready_pipe_.wait(limit) == pid_;
  return ready_;
}

bool ShmqdLauncher::read_output(std::string& out, std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  bool got_some = false;
  while (out_fd_ >= 0) {
    pollfd p{out_fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, got_some ? 0 : poll_timeout(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[4096];
    const ssize_t got = ::read(out_fd_, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {  // EOF: shmqd (and whatever inherited its output) is gone
      close_output();
      break;
    }
    out.append(buf, static_cast<std::size_t>(got));
    got_some = true;
  }
  return got_some;
}

bool ShmqdLauncher::signal(int signo) const noexcept { return running() && ::kill(pid_, signo) == 0; }

ShmqdExit ShmqdLauncher::stop(int signo, std::chrono::milliseconds limit) {
  if (!running()) throw std::logic_error("shmqd launcher: stop() without a running shmqd");
  ::kill(pid_, signo);
  const ShmqdExit e = reap(pid_, limit);
  reaped();
  return e;
}

void ShmqdLauncher::reaped() noexcept {
  pid_ = -1;
  ready_ = false;
  ready_pipe_ = ShmqdReadyReader();
}

}  // namespace shmq::support
