// shmqd as a child of shmq-chaos: started with fork + exec in the run's
// namespace, its stderr read through a non-blocking pipe into a log file, and
// "ready" once it wrote "ready <pid>" to its --ready-fd pipe. The controller
// polls both pipes, reaps it (SIGCHLD) and tells this object with exited().
#pragma once

#include <cstdio>
#include <string>

#include <sys/types.h>

namespace shmq::chaos {

class DaemonProcess {
 public:
  DaemonProcess(std::string shmqd_path, std::string ns, std::string config_path, const std::string& log_path);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Forks and execs shmqd --foreground. Throws shmq::Error if fork fails.
  void start();
  // Reads what shmqd wrote (call when output_fd() is readable).
  void read_output();
  // Reads its --ready-fd pipe (call when ready_fd() is readable); true once ready.
  bool read_ready();
  // The child exited (the caller reaped it): closes the pipe after a last read.
  void exited();
  bool signal(int signo) const noexcept;  // NOLINT(modernize-use-nodiscard): on teardown the result does not matter

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
  [[nodiscard]] bool ready() const noexcept { return ready_; }
  [[nodiscard]] int output_fd() const noexcept { return out_fd_; }
  [[nodiscard]] int ready_fd() const noexcept { return ready_fd_; }
  // The last lines shmqd wrote, for error messages.
  [[nodiscard]] const std::string& tail() const noexcept { return tail_; }

 private:
  std::string path_, ns_, config_path_;
  std::FILE* log_ = nullptr;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int ready_fd_ = -1;
  bool ready_ = false;
  std::string ready_text_;  // what came on ready_fd_ so far
  std::string tail_;
};

}  // namespace shmq::chaos
