// shmqd's readiness signal for whoever starts it outside systemd:
// `shmqd --ready-fd N`. One home for the format, used by shmqd (the writer)
// and by the programs and tests that start it (the readers).
//
//   Once shmqd serves its namespace (its control socket answers), at the
//   moment it logs kShmqdReadyLine and sends READY=1 to systemd, it writes one
//   line "ready <pid>\n" to N and closes N. If it fails to start, N is closed
//   with nothing written: the reader sees EOF.
//
// The starter makes a pipe, keeps its read end, and passes the write end to
// shmqd (cleared of FD_CLOEXEC in the child, closed in the parent after the
// fork, so EOF means shmqd is gone or gave up).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace shmq::support {

inline constexpr const char* kShmqdReadyFdFlag = "--ready-fd";

// What shmqd logs once it serves its namespace, just before it writes the
// ready line: what a reader of its log looks for.
inline constexpr const char* kShmqdReadyLine = "shmqd ready:";

// "ready 4242\n"
std::string shmqd_ready_message(pid_t pid);

// The pid of a whole ready message; nullopt for anything else (a part of one,
// an empty string, trailing bytes).
std::optional<pid_t> parse_shmqd_ready(std::string_view text) noexcept;

// Reads the read end `fd` until a whole ready message came (its pid), or EOF
// or `limit` passed (nullopt: shmqd did not start, or not in time; the caller
// tells them apart by its exit). Does not close `fd`.
std::optional<pid_t> wait_shmqd_ready(int fd, std::chrono::milliseconds limit);

}  // namespace shmq::support
