// Clocks, pidfd_open, errno text and UniqueFd: shmq/admin/system.hpp says why
// they are shared with the programs.
#include "shmq/admin/system.hpp"

#include <ctime>
#include <system_error>

#include <sys/syscall.h>
#include <unistd.h>

namespace shmq::admin {

namespace {
std::uint64_t to_ns(const timespec& t) noexcept {
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000U + static_cast<std::uint64_t>(t.tv_nsec);
}
}  // namespace

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return to_ns(ts);
}

std::uint64_t realtime_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return to_ns(ts);
}

std::uint64_t thread_cpu_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return to_ns(ts);
}

std::uint64_t monotonic_ms_not_before() noexcept {
  static const std::uint64_t resolution_ns = [] {
    timespec r{};
    ::clock_getres(CLOCK_MONOTONIC_COARSE, &r);
    return to_ns(r);
  }();
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return (to_ns(t) + resolution_ns + 999'999) / 1'000'000;
}

int pidfd_open(pid_t pid) noexcept {
  if (pid <= 0) return -1;
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

std::string errno_text(int err) {
  return std::generic_category().message(err) + std::string(" (errno ") + std::to_string(err) + ")";
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace shmq::admin
