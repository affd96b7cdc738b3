// Unit tests of what the OS layer (os/process.hpp) knows about processes and time: the
// monotonic clock, a process's start time and name (parsed from /proc even
// when the name holds spaces and parens), when a process counts as alive
// (a zombie does not), and a pidfd that becomes readable when its child exits.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "os/process.hpp"
#include "os_fixture.hpp"

namespace shmq::detail {
namespace {

using os_tests::kChildDeadline;
using os_tests::OsTest;
using os_tests::pause_briefly;
using os_tests::run_in_child;
using os_tests::spawn;
using os_tests::wait_child;

TEST_F(OsTest, MonotonicClockAdvances) {
  const std::uint64_t a = monotonic_ns();
  const std::uint64_t b = monotonic_ns();
  EXPECT_GT(a, 0u);
  EXPECT_GE(b, a);
}

TEST_F(OsTest, ProcessStartTimeOfSelf) {
  const std::uint64_t start = process_start_time(::getpid());
  EXPECT_GT(start, 0u);
  EXPECT_EQ(process_start_time(::getpid()), start);
  EXPECT_TRUE(process_alive(::getpid(), start));
  EXPECT_FALSE(process_alive(::getpid(), start + 1));  // same pid, another process
  EXPECT_EQ(process_start_time(0), 0u);
  EXPECT_EQ(process_start_time(-1), 0u);
}

TEST_F(OsTest, ZombieIsNotAliveAndReapedChildIsGone) {
  const pid_t child = spawn([] { return 0; });
  ASSERT_GT(child, 0);
  const std::uint64_t start = process_start_time(child);  // exists until reaped
  EXPECT_GT(start, 0u);
  // Wait for the exit without reaping, so the child is a zombie.
  siginfo_t info{};
  const std::uint64_t deadline = monotonic_ns() + std::chrono::nanoseconds(kChildDeadline).count();
  while (::waitid(P_PID, child, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0 &&
         monotonic_ns() < deadline) {
    pause_briefly();
  }
  ASSERT_EQ(info.si_pid, child);
  EXPECT_EQ(process_start_time(child), start);
  EXPECT_FALSE(process_alive(child, start));
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(process_start_time(child), 0u);
  EXPECT_FALSE(process_alive(child, start));
}

TEST_F(OsTest, StartTimeParsesCommandNamesWithSpacesAndParens) {
  // The child compares its own start time before and after renaming itself.
  EXPECT_EQ(run_in_child([] {
              const std::uint64_t before = process_start_time(::getpid());
              ::prctl(PR_SET_NAME, "a) b ) c");
              const std::uint64_t after = process_start_time(::getpid());
              if (process_name(::getpid()) != "a) b ) c") return 3;
              if (!process_alive(::getpid(), after)) return 2;
              return before != 0 && before == after ? 0 : 1;
            }),
            0);
}

TEST_F(OsTest, ProcessName) {
  EXPECT_EQ(process_name(::getpid()), std::string(program_invocation_short_name).substr(0, 15));
  EXPECT_EQ(process_name(0), "");
}

TEST_F(OsTest, PidfdBecomesReadableWhenChildExits) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  // The child exits when the pipe closes: at once if this test dies.
  const pid_t child = spawn([&] {
    ::close(pipe_fds[1]);
    char c;
    while (::read(pipe_fds[0], &c, 1) < 0 && errno == EINTR) {
    }
    return 0;
  });
  ASSERT_GT(child, 0);
  ::close(pipe_fds[0]);
  const int fd = pidfd_open(child);
  if (fd < 0 && errno == ENOSYS) {
    ::close(pipe_fds[1]);
    wait_child(child);
    GTEST_SKIP() << "kernel without pidfd_open";
  }
  ASSERT_GE(fd, 0) << std::strerror(errno);
  pollfd pfd{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);  // alive: not readable
  ::close(pipe_fds[1]);
  EXPECT_EQ(::poll(&pfd, 1, 10'000), 1);
  EXPECT_TRUE(pfd.revents & POLLIN);
  ::close(fd);
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(pidfd_open(child), -1);  // reaped
}

}  // namespace
}  // namespace shmq::detail
