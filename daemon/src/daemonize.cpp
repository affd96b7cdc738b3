#include "daemonize.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exit_codes.hpp"

namespace shmq::daemon {

namespace {

// The parent: reads the child's report (exit code byte, then the message)
// until the child closes the pipe; returns the code to exit with.
int wait_for_child(int fd, pid_t child) {
  std::string packet;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    packet.append(buf, static_cast<std::size_t>(n));
  }
  if (packet.empty()) {
    int status = 0;
    const bool reaped = ::waitpid(child, &status, 0) == child;
    std::fprintf(stderr, "shmqd: the daemon process %d ended before it was ready (%s)\n", static_cast<int>(child),
                 // NOLINTNEXTLINE(concurrency-mt-unsafe): the parent of a daemonize fork has one thread
                 reaped && WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no report");
    return kExitFailure;
  }
  const int code = static_cast<unsigned char>(packet[0]);
  if (code != 0) std::fprintf(stderr, "shmqd: %s\n", packet.c_str() + 1);
  return code;
}

}  // namespace

Daemonizer Daemonizer::fork_daemon() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "shmqd: cannot daemonize: pipe2: %s\n", std::generic_category().message(errno).c_str());
    std::exit(kExitFailure);  // NOLINT(concurrency-mt-unsafe): no thread runs yet
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "shmqd: cannot daemonize: fork: %s\n", std::generic_category().message(errno).c_str());
    std::exit(kExitFailure);  // NOLINT(concurrency-mt-unsafe): no thread runs yet
  }
  if (pid > 0) {
    ::close(fds[1]);
    std::exit(wait_for_child(fds[0], pid));  // NOLINT(concurrency-mt-unsafe): no thread runs yet
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) { /* "/" exists; nothing depends on the cwd */ }
  const int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
    if (null > 2) ::close(null);
  }
  return Daemonizer(fds[1]);
}

void Daemonizer::report(int code, const std::string& message) {
  if (fd_ < 0) return;
  const std::string packet = std::string(1, static_cast<char>(code)) + message;
  // The parent waits for this: short writes on a pipe of a few bytes do not happen.
  if (::write(fd_, packet.data(), packet.size()) < 0) { /* the parent is gone: nobody to tell */ }
  ::close(fd_);
  fd_ = -1;
}

}  // namespace shmq::daemon
