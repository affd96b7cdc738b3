// What shmqd does once its command line and config are read: (daemonize,)
// start the Daemon, report ready, serve until SIGTERM/SIGINT.
#pragma once

#include <string>

#include <spdlog/common.h>

#include "config.hpp"

namespace shmq::daemon {

struct RunOptions {
  bool foreground = false;  // false: fork into the background (daemonize.hpp)
  int ready_fd = -1;        // --ready-fd, checked; -1 if not given
  spdlog::level::level_enum log_level = spdlog::level::info;
};

// Runs shmqd for namespace `ns` (logging set up) and returns its exit code
// (exit_codes.hpp). Daemonized, the parent process exits inside this call.
int run(const std::string& ns, DaemonConfig config, const RunOptions& options);

}  // namespace shmq::daemon
