// Processes (identity by pid and start time, from /proc) and the helpers
// shared with the programs (shmq/admin/system.hpp: clocks, pidfd, errno text).
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

#include "shmq/admin/system.hpp"

namespace shmq::detail {

// Clocks, pidfd_open, errno text and UniqueFd: shared with the programs.
using admin::cpu_relax;
using admin::errno_text;
using admin::monotonic_ms_not_before;
using admin::monotonic_ns;
using admin::pidfd_open;
using admin::realtime_ns;
using admin::thread_cpu_ns;
using admin::UniqueFd;

// The process's start time in clock ticks since boot (field 22 of
// /proc/<pid>/stat), 0 if the process does not exist. pid + start time names a
// process uniquely: a reused pid has another start time.
std::uint64_t process_start_time(pid_t pid) noexcept;

// True if a process with this pid and start time exists (not a zombie).
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;

// The short command name of a process (/proc/<pid>/comm), "" if unknown.
std::string process_name(pid_t pid);

}  // namespace shmq::detail
