// shmqd as a child of shmq-chaos: started by support::ShmqdLauncher in the
// run's namespace (and killed with shmq-chaos: PR_SET_PDEATHSIG), its output
// read through a pipe into a log file, "ready" once it wrote "ready <pid>" to
// its --ready-fd pipe. The controller polls both pipes, reaps it (SIGCHLD,
// waitpid(-1)) and tells this object with exited().
#pragma once

#include <cstdio>
#include <string>

#include <sys/types.h>

#include "support/shmqd_launcher.hpp"

namespace shmq::chaos {

class DaemonProcess {
 public:
  DaemonProcess(std::string shmqd_path, std::string ns, std::string config_path, const std::string& log_path);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Starts shmqd --foreground. Throws std::system_error if fork fails.
  void start();
  // Reads what shmqd wrote (call when output_fd() is readable).
  void read_output();
  // Reads its --ready-fd pipe (call when ready_fd() is readable); true once ready.
  bool read_ready() { return launcher_.read_ready(); }
  // The caller reaped the child: reads what it wrote last.
  void exited();
  bool signal(int signo) const noexcept { return launcher_.signal(signo); }  // NOLINT(modernize-use-nodiscard): on teardown the result does not matter

  [[nodiscard]] pid_t pid() const noexcept { return launcher_.pid(); }
  [[nodiscard]] bool running() const noexcept { return launcher_.running(); }
  [[nodiscard]] bool ready() const noexcept { return launcher_.ready(); }
  [[nodiscard]] int output_fd() const noexcept { return launcher_.output_fd(); }
  [[nodiscard]] int ready_fd() const noexcept { return launcher_.ready_fd(); }
  // The last lines shmqd wrote, for error messages.
  [[nodiscard]] const std::string& tail() const noexcept { return tail_; }

 private:
  support::ShmqdLauncher launcher_;
  std::FILE* log_ = nullptr;
  std::string tail_;
};

}  // namespace shmq::chaos
