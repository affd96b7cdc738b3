// The few operating-system helpers the programs share with the library:
// clocks (CLOCK_MONOTONIC is what every time stamp in shared memory uses), a
// descriptor that closes itself, pidfd_open, a process's identity, the pause
// instruction spinners use, and errno as a message. Defined in
// lib/src/os/system.cpp and process.cpp.
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

namespace shmq::admin {

// CLOCK_MONOTONIC in nanoseconds (same clock in every process of the host).
std::uint64_t monotonic_ns() noexcept;
// CLOCK_REALTIME in nanoseconds: wall-clock times shown to people.
std::uint64_t realtime_ns() noexcept;
// CPU time of the calling thread in nanoseconds: what a piece of work cost,
// without the time the thread waited to be scheduled.
std::uint64_t thread_cpu_ns() noexcept;
// A cheap reading of CLOCK_MONOTONIC in milliseconds that is never behind the
// precise clock (CLOCK_MONOTONIC_COARSE plus its resolution): for lease
// deadlines, which must not run out early.
std::uint64_t monotonic_ms_not_before() noexcept;

// pidfd_open(2): a descriptor that becomes readable when the process exits.
// Returns -1 if the process is gone. The caller closes it.
int pidfd_open(pid_t pid) noexcept;

// The process's start time in clock ticks since boot (field 22 of
// /proc/<pid>/stat), 0 if the process does not exist. pid + start time names a
// process uniquely: a reused pid has another start time.
std::uint64_t process_start_time(pid_t pid) noexcept;

// True if a process with this pid and start time exists (not a zombie).
bool process_alive(pid_t pid, std::uint64_t start_time) noexcept;

// "No such file or directory (errno 2)": an errno for a message.
std::string errno_text(int err);

// A file descriptor closed on destruction.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// The CPU's spin-wait hint (x86 pause, arm yield): what the library's own
// spinning uses, so a benchmark floor spins the same way.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace shmq::admin
