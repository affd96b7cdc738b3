// shmqd's exit codes (also in `shmqd --help` and README.md).
#pragma once

namespace shmq::daemon {

// Stopped by SIGTERM/SIGINT (or --help, --version); every segment stays.
inline constexpr int kExitStopped = 0;
// Could not start: permission, /dev/shm space, a system call failed.
inline constexpr int kExitFailure = 1;
// Bad command line or bad config file: nothing was created.
inline constexpr int kExitUsage = 2;
// Another shmqd already runs this namespace.
inline constexpr int kExitAlreadyRunning = 3;

}  // namespace shmq::daemon
