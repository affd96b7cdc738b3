// shmqd's readiness signal for whoever starts it outside systemd:
// `shmqd --ready-fd N`. One home for the format, used by shmqd (the writer)
// and by the programs and tests that start it (the readers, through
// ShmqdLauncher in shmqd_launcher.hpp).
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

// The read end of a ready pipe and what came on it so far. Owns the
// descriptor: closes it at EOF (fd() is -1 from then on) and on destruction.
class ShmqdReadyReader {
 public:
  ShmqdReadyReader() noexcept = default;
  explicit ShmqdReadyReader(int fd) noexcept : fd_(fd) {}
  ~ShmqdReadyReader();
  ShmqdReadyReader(ShmqdReadyReader&& other) noexcept;
  ShmqdReadyReader& operator=(ShmqdReadyReader&& other) noexcept;
  ShmqdReadyReader(const ShmqdReadyReader&) = delete;
  ShmqdReadyReader& operator=(const ShmqdReadyReader&) = delete;

  // Reads what came, waiting at most `limit` for a whole line (zero: only
  // what is there now; once the line came, never waits): the pid of a whole
  // ready message, else nullopt (not yet; or never, if EOF came first: shmqd
  // did not start; its exit tells why). Reads on to EOF without waiting, so a
  // caller that polls fd() is not woken again by a hang-up it did not read.
  std::optional<pid_t> wait(std::chrono::milliseconds limit);

  // The descriptor to poll for readability; -1 after EOF.
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  void close() noexcept;

  int fd_ = -1;
  std::string text_;
};

}  // namespace shmq::support
