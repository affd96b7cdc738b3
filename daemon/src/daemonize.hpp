// Running shmqd in the background (without --foreground): fork, and the parent
// waits on a pipe until the child reports ready (exit 0) or failed (exit with
// the child's code, after printing its message), so whoever started shmqd
// learns the outcome from the exit status.
#pragma once

#include <string>

namespace shmq::daemon {

class Daemonizer {
 public:
  // Forks. Returns in the child (now in its own session, cwd /, stdio on
  // /dev/null); the parent never returns. Call it before any thread starts.
  static Daemonizer fork_daemon();

  // Child: ready; the parent exits 0.
  void ready() { report(0, ""); }
  // Child: failed; the parent prints `message` and exits with `code`.
  void failed(int code, const std::string& message) { report(code, message); }

 private:
  explicit Daemonizer(int fd) : fd_(fd) {}

  void report(int code, const std::string& message);

  int fd_ = -1;  // the pipe's write end, -1 once reported
};

}  // namespace shmq::daemon
