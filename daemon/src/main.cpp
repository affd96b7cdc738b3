// shmqd: the daemon of one shmq namespace. Parse flags, load the config,
// (daemonize,) start, run until SIGTERM/SIGINT.
//
// Exit codes:
//   0  stopped by SIGTERM/SIGINT (or --help, --version); every segment stays
//   1  could not start (permission, /dev/shm space, a system call failed)
//   2  bad command line or bad config file: nothing was created
//   3  another shmqd already runs this namespace
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "daemon.hpp"
#include "instance_lock.hpp"
#include "os/os.hpp"
#include "os/shmqd_ready.hpp"
#include "shmq/error.hpp"

namespace {

using shmq::daemon::AlreadyRunning;
using shmq::daemon::ConfigError;
using shmq::daemon::Daemon;
using shmq::daemon::DaemonConfig;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitAlreadyRunning = 3;

// "[shmqd ns=x] [info] message"; with a time stamp unless journald (which
// stamps lines itself) reads stderr.
void log_to(spdlog::sink_ptr sink, const std::string& ns, spdlog::level::level_enum level, bool stamp) {
  auto logger = std::make_shared<spdlog::logger>("shmqd", std::move(sink));
  logger->set_pattern(std::string(stamp ? "[%Y-%m-%d %H:%M:%S.%e] " : "") + "[shmqd ns=" + ns + "] [%l] %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

// Without --foreground: the parent waits for the child to report through a
// pipe, and exits 0 once the daemon is ready, or with the child's error.
class Daemonizer {
 public:
  // Forks. Returns in the child (now in its own session, cwd /, stdio on
  // /dev/null); the parent never returns.
  static Daemonizer fork_daemon() {
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

  // Child: ready; the parent exits 0.
  void ready() { report(0, ""); }
  // Child: failed; the parent prints `message` and exits with `code`.
  void failed(int code, const std::string& message) { report(code, message); }

 private:
  explicit Daemonizer(int fd) : fd_(fd) {}

  void report(int code, const std::string& message) {
    if (fd_ < 0) return;
    const std::string packet = std::string(1, static_cast<char>(code)) + message;
    // The parent waits for this: short writes on a pipe of a few bytes do not happen.
    if (::write(fd_, packet.data(), packet.size()) < 0) { /* the parent is gone: nobody to tell */ }
    ::close(fd_);
    fd_ = -1;
  }

  static int wait_for_child(int fd, pid_t child) {
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

  int fd_ = -1;
};

// --ready-fd N must be open for writing and none of stdin, stdout, stderr:
// "" if it is, else what is wrong with it.
std::string check_ready_fd(int fd) {
  if (fd >= 0 && fd <= 2) return "is stdin, stdout or stderr";
  const int flags = fd < 0 ? -1 : ::fcntl(fd, F_GETFL);
  if (flags < 0) return "is not an open file descriptor";
  if ((flags & O_ACCMODE) == O_RDONLY) return "is open for reading only";
  return "";
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): only CLI11 set-up is outside a try
  CLI::App app{"shmqd: the daemon of a shmq namespace (creates the configured queues, runs the watchdog)", "shmqd"};
  std::string ns_flag;
  std::string config_path;
  bool foreground = false;
  std::string level_name = "info";
  app.add_option("--namespace", ns_flag, "Namespace to serve (default: $SHMQ_NAMESPACE, else \"default\")");
  app.add_option("--config", config_path, "TOML config file (see shmqd.example.toml)");
  app.add_flag("--foreground", foreground, "Stay in the foreground (as under systemd); otherwise daemonize");
  int ready_fd = -1;
  const CLI::Option* ready_fd_option =
      app.add_option(shmq::detail::kShmqdReadyFdFlag, ready_fd,
                     "Once ready, write \"ready <pid>\\n\" to this open descriptor (3 or above) and close it; "
                     "closed with nothing written if shmqd cannot start");
  app.add_option("--log-level", level_name, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.set_version_flag("--version", SHMQ_VERSION_STRING);
  app.footer("Exit codes: 0 stopped by SIGTERM/SIGINT; 1 could not start; 2 bad flags or config; "
             "3 another shmqd runs the namespace.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // One line, like every other error of shmqd (CLI11's own text has two).
    std::fprintf(stderr, "shmqd: %s; see `shmqd --help`\n", e.what());
    return kExitUsage;
  }

  if (ready_fd_option->count() > 0) {
    if (const std::string wrong = check_ready_fd(ready_fd); !wrong.empty()) {
      std::fprintf(stderr, "shmqd: --ready-fd %d %s: pass the write end of a pipe, as descriptor 3 or above\n",
                   ready_fd, wrong.c_str());
      return kExitUsage;
    }
    ::fcntl(ready_fd, F_SETFD, FD_CLOEXEC);  // for shmqd alone, never a program it might run
  }

  std::string ns;
  try {
    ns = shmq::detail::resolve_namespace(ns_flag);
  } catch (const shmq::Error& e) {
    std::fprintf(stderr, "shmqd: %s\n", e.what());
    return kExitUsage;
  }
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  log_to(std::make_shared<spdlog::sinks::stderr_sink_mt>(), ns, level, std::getenv("JOURNAL_STREAM") == nullptr);

  // The whole config is checked before anything is created.
  DaemonConfig config;
  if (!config_path.empty()) {
    try {
      config = shmq::daemon::load_config(config_path);
    } catch (const ConfigError& e) {
      std::fprintf(stderr, "shmqd: %s\n", e.what());
      return kExitUsage;
    }
  }

  // A peer that closes its socket early must give EPIPE, not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<Daemonizer> parent;
  if (!foreground) {
    parent = Daemonizer::fork_daemon();
    log_to(std::make_shared<spdlog::sinks::syslog_sink_mt>("shmqd", LOG_PID, LOG_DAEMON, true), ns, level, false);
  }
  const auto fail = [&](int code, const std::string& message) {
    if (parent) {
      spdlog::error("{}", message);
      parent->failed(code, message);
    } else {
      std::fprintf(stderr, "shmqd: %s\n", message.c_str());
    }
    return code;
  };

  try {
    Daemon daemon(ns, std::move(config));
    daemon.start();
    if (parent) parent->ready();
    daemon.run(ready_fd);  // closes ready_fd; a failed start leaves it to exit(), with nothing written
    return 0;
  } catch (const AlreadyRunning& e) {
    return fail(kExitAlreadyRunning, e.what());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
}
