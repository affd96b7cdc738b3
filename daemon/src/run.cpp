#include "run.hpp"

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

#include "daemon.hpp"
#include "daemonize.hpp"
#include "exit_codes.hpp"
#include "instance_lock.hpp"
#include "logging.hpp"

namespace shmq::daemon {

int run(const std::string& ns, DaemonConfig config, const RunOptions& options) {
  // A peer that closes its socket early must give EPIPE, not kill the daemon.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<Daemonizer> parent;
  if (!options.foreground) {
    parent = Daemonizer::fork_daemon();
    log_to_syslog(ns, options.log_level);
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
    daemon.run(options.ready_fd);  // closes ready_fd; a failed start leaves it to exit(), with nothing written
    return kExitStopped;
  } catch (const AlreadyRunning& e) {
    return fail(kExitAlreadyRunning, e.what());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
}

}  // namespace shmq::daemon
