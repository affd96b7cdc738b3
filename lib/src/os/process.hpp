// Processes (identity by pid and start time, from /proc) and the helpers
// shared with the programs (shmq/admin/system.hpp: clocks, pidfd, errno text).
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

#include "shmq/admin/system.hpp"

namespace shmq::detail {

// Clocks, pidfd_open, process identity, errno text and UniqueFd: shared with
// the programs.
using admin::cpu_relax;
using admin::errno_text;
using admin::monotonic_ms_not_before;
using admin::monotonic_ns;
using admin::pidfd_open;
using admin::process_alive;
using admin::process_start_time;
using admin::realtime_ns;
using admin::thread_cpu_ns;
using admin::UniqueFd;

// The short command name of a process (/proc/<pid>/comm), "" if unknown.
std::string process_name(pid_t pid);

}  // namespace shmq::detail
