// Starting shmqd from another program: the one launcher the tests
// (tests/support/shmqd_process.hpp), shmq-bench recovery and shmq-chaos use,
// and which shmqd to run.
//
// ShmqdLauncher::start() runs, as a child (fork + execvp),
//   <program> --foreground --namespace NS [--config FILE] --log-level LEVEL
//             --ready-fd N [extra args...]
// with stdin on /dev/null, stdout and stderr into a pipe the caller reads
// (read_output) or into a file (ShmqdOptions::log_file), the signal mask
// emptied (a starter may block signals for its signalfd), and N the write end
// of a pipe whose read end the launcher keeps (shmqd_ready.hpp). The caller
// then waits for the ready line (wait_ready, bounded) or polls ready_fd() and
// calls read_ready(). stop() sends a signal and reaps shmqd within a bound
// (SIGKILL after it); a caller that reaps its children itself (shmq-chaos,
// waitpid(-1)) signals with signal() and reports the reaping with reaped().
// The destructor stops a shmqd still running with SIGTERM.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

#include "support/shmqd_ready.hpp"

namespace shmq::support {

// The shmqd to start: `given` if not empty, else the one beside this program
// in a build tree (<dir>/../daemon/shmqd) or an install (<dir>/shmqd), else
// "shmqd" (found on $PATH).
std::string find_shmqd(const std::string& given);

// Generous bounds: a sanitizer build on a loaded machine is slow, and a bound
// only fails a broken daemon, it never paces a working one.
inline constexpr std::chrono::milliseconds kShmqdStartLimit{30'000};
inline constexpr std::chrono::milliseconds kShmqdStopLimit{30'000};

struct ShmqdOptions {
  std::string program = "shmqd";        // a path, or a name looked up on $PATH (see find_shmqd)
  std::string ns;                       // --namespace
  std::string config;                   // --config, unless empty
  std::string log_level = "info";       // --log-level
  std::vector<std::string> extra_args;  // after all the others
  std::string log_file;                 // stdout and stderr go there (truncated) if set; else into a pipe
  bool die_with_parent = false;         // PR_SET_PDEATHSIG SIGKILL: never outlive the starter
};

// How shmqd ended.
struct ShmqdExit {
  bool exited = false;     // it called exit: `code` holds the status
  int code = -1;
  int signal = 0;          // the signal that ended it otherwise
  bool timed_out = false;  // it outlived stop()'s limit and was killed (SIGKILL)
};

class ShmqdLauncher {
 public:
  explicit ShmqdLauncher(ShmqdOptions options);
  ~ShmqdLauncher();  // stop(SIGTERM, kShmqdStopLimit) if still running
  ShmqdLauncher(const ShmqdLauncher&) = delete;
  ShmqdLauncher& operator=(const ShmqdLauncher&) = delete;

  // Forks and execs shmqd (again, once the last one was reaped). Throws
  // std::system_error if a pipe, the log file or fork fails, std::logic_error
  // if shmqd still runs. If exec fails, the child writes "cannot run
  // <program>: <reason>" to its output and exits with 127.
  void start();

  // Waits at most `limit` for the ready line: true once it came, naming this
  // child; false if shmqd closed the descriptor without it (it did not start)
  // or `limit` passed.
  bool wait_ready(std::chrono::milliseconds limit = kShmqdStartLimit);
  // Reads the ready pipe without waiting (when ready_fd() is readable): true
  // once the ready line came.
  bool read_ready() { return wait_ready(std::chrono::milliseconds::zero()); }
  [[nodiscard]] bool ready() const noexcept { return ready_; }

  // Without a log file: reads what shmqd wrote, waiting at most `timeout` for
  // it, and appends all there is to `out`. True if something came; false on
  // timeout or EOF (output_fd() is -1 after EOF).
  bool read_output(std::string& out, std::chrono::milliseconds timeout);

  // Sends `signo` to shmqd while it runs (not yet reaped).
  bool signal(int signo) const noexcept;  // NOLINT(modernize-use-nodiscard): on teardown the result does not matter
  // Sends `signo`, waits at most `limit` for shmqd to end (then SIGKILL) and
  // reaps it. Its output stays readable to EOF.
  ShmqdExit stop(int signo, std::chrono::milliseconds limit = kShmqdStopLimit);
  // The caller reaped shmqd itself: forget the pid (the output stays readable).
  void reaped() noexcept;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
  [[nodiscard]] int ready_fd() const noexcept { return ready_pipe_.fd(); }
  [[nodiscard]] int output_fd() const noexcept { return out_fd_; }
  [[nodiscard]] const ShmqdOptions& options() const noexcept { return options_; }

 private:
  void close_output() noexcept;

  ShmqdOptions options_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  ShmqdReadyReader ready_pipe_;
  bool ready_ = false;
};

}  // namespace shmq::support
