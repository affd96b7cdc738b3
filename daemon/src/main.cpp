// shmqd: the daemon of one shmq namespace. Parse the command line, load the
// config, run (run.hpp) until SIGTERM/SIGINT. Exit codes: exit_codes.hpp.
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fcntl.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "exit_codes.hpp"
#include "logging.hpp"
#include "shmq/admin/namespace.hpp"
#include "run.hpp"
#include "support/shmqd_ready.hpp"
#include "shmq/error.hpp"

namespace {

using shmq::daemon::ConfigError;
using shmq::daemon::DaemonConfig;
using shmq::daemon::kExitUsage;
using shmq::daemon::RunOptions;

struct CommandLine {
  std::string ns;           // resolved: --namespace, else $SHMQ_NAMESPACE, else "default"
  std::string config_path;  // "" without --config: the defaults, no queues
  RunOptions run;
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

// The checked command line, or the exit code once --help or --version is
// answered or an error printed.
std::variant<CommandLine, int> parse_command_line(int argc, char** argv) {
  CLI::App app{"shmqd: the daemon of a shmq namespace (creates the configured queues, runs the watchdog)", "shmqd"};
  std::string ns_flag;
  CommandLine cl;
  std::string level_name = "info";
  app.add_option("--namespace", ns_flag, "Namespace to serve (default: $SHMQ_NAMESPACE, else \"default\")");
  app.add_option("--config", cl.config_path, "TOML config file (see shmqd.example.toml)");
  app.add_flag("--foreground", cl.run.foreground, "Stay in the foreground (as under systemd); otherwise daemonize");
  const CLI::Option* ready_fd_option =
      app.add_option(shmq::support::kShmqdReadyFdFlag, cl.run.ready_fd,
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
    if (const std::string wrong = check_ready_fd(cl.run.ready_fd); !wrong.empty()) {
      std::fprintf(stderr, "shmqd: --ready-fd %d %s: pass the write end of a pipe, as descriptor 3 or above\n",
                   cl.run.ready_fd, wrong.c_str());
      return kExitUsage;
    }
    ::fcntl(cl.run.ready_fd, F_SETFD, FD_CLOEXEC);  // for shmqd alone, never a program it might run
  }
  try {
    cl.ns = shmq::admin::resolve_namespace(ns_flag);
  } catch (const shmq::Error& e) {
    std::fprintf(stderr, "shmqd: %s\n", e.what());
    return kExitUsage;
  }
  cl.run.log_level = spdlog::level::from_str(level_name);
  return cl;
}

// The whole config, checked before anything is created; nullopt once the
// error is printed.
std::optional<DaemonConfig> read_config(const std::string& path) {
  if (path.empty()) return DaemonConfig{};
  try {
    return shmq::daemon::load_config(path);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "shmqd: %s\n", e.what());
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): only CLI11 set-up is outside a try
  auto parsed = parse_command_line(argc, argv);
  if (const int* exit_code = std::get_if<int>(&parsed)) return *exit_code;
  const CommandLine& cl = std::get<CommandLine>(parsed);
  shmq::daemon::log_to_stderr(cl.ns, cl.run.log_level);
  std::optional<DaemonConfig> config = read_config(cl.config_path);
  if (!config) return kExitUsage;
  return shmq::daemon::run(cl.ns, std::move(*config), cl.run);
}
