// Unit tests of the futex calls (os/futex.hpp) on a word in a shared segment: a
// wake reaches a forked child, a wait ends on its timeout or at once when the
// word differs, and a wake nobody waits for is harmless. Every wait runs in a
// forked child under a deadline, so a broken futex fails instead of hanging.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "os/futex.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"
#include "os_fixture.hpp"

namespace shmq::detail {
namespace {

using namespace std::chrono_literals;
using os_tests::kChildDeadline;
using os_tests::pause_briefly;
using os_tests::run_in_child;
using os_tests::spawn;

class FutexTest : public os_tests::ShmTest {};

TEST_F(FutexTest, WakeReachesForkedChild) {
  Segment s = Segment::create(name(), 4096, 0600);
  auto* word = reinterpret_cast<std::uint32_t*>(s.data());
  // The child waits with no timeout and the word never changes, so only a
  // cross-process wake lets it exit; the parent wakes until it does.
  const pid_t child = spawn([&] {
    futex_wait(word, 0, -1ns);
    return 0;
  });
  ASSERT_GT(child, 0);
  const std::uint64_t deadline = monotonic_ns() + std::chrono::nanoseconds(kChildDeadline).count();
  int status = 0;
  pid_t r = 0;
  while ((r = ::waitpid(child, &status, WNOHANG)) == 0 && monotonic_ns() < deadline) {
    futex_wake_all(word);
    pause_briefly();
  }
  if (r == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "child was never woken";
  }
  ASSERT_EQ(r, child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(FutexTest, WaitReturnsOnTimeout) {
  EXPECT_EQ(run_in_child([] {
              const std::uint32_t word = 0;
              const std::uint64_t start = monotonic_ns();
              futex_wait(&word, 0, 20ms);
              return monotonic_ns() - start >= 20'000'000u ? 0 : 1;
            }),
            0);
}

TEST_F(FutexTest, WaitReturnsAtOnceWhenValueDiffers) {
  EXPECT_EQ(run_in_child([] {
              const std::uint32_t word = 1;
              futex_wait(&word, 0, -1ns);
              return 0;
            }),
            0);
}

// Harmless: the word is left as it was, and the wake is not remembered: a wait
// that comes after it still sleeps until its timeout, as if no wake had been.
TEST_F(FutexTest, WakeWithoutWaitersIsHarmless) {
  Segment s = Segment::create(name(), 4096, 0600);
  auto* word = reinterpret_cast<std::uint32_t*>(s.data());
  *word = 7;
  EXPECT_EQ(run_in_child([word] {
              futex_wake_all(word);
              if (*word != 7) return 1;
              const std::uint64_t start = monotonic_ns();
              futex_wait(word, 7, 20ms);
              return monotonic_ns() - start >= 20'000'000U ? 0 : 2;
            }),
            0);
  EXPECT_EQ(*word, 7U);
}

}  // namespace
}  // namespace shmq::detail
