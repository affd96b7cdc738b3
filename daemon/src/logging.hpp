// shmqd's log: every line "[shmqd ns=x] [info] message" through spdlog's
// default logger, to stderr (foreground) or syslog (daemonized).
#pragma once

#include <string>

#include <spdlog/common.h>

namespace shmq::daemon {

// To stderr, with a time stamp unless journald (which stamps lines itself)
// reads it.
void log_to_stderr(const std::string& ns, spdlog::level::level_enum level);
// To syslog (LOG_DAEMON, with the pid), once daemonized: stderr is /dev/null.
void log_to_syslog(const std::string& ns, spdlog::level::level_enum level);

}  // namespace shmq::daemon
