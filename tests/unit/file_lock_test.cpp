// Unit tests of FileLock (os/file_lock.hpp), the one file lock: it excludes a forked
// child and another thread of the same process, blocks until released, and
// fails with the path in its message where the file cannot be made. Every
// wait is bounded, so a broken lock fails a test instead of hanging.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <boost/interprocess/sync/file_lock.hpp>
#include <gtest/gtest.h>

#include "os/file_lock.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"
#include "os_fixture.hpp"
#include "parked.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

using os_tests::contains;
using os_tests::error_of;
using os_tests::kChildDeadline;
using os_tests::OsTest;
using os_tests::pause_briefly;
using os_tests::run_in_child;
using os_tests::spawn;
using os_tests::wait_child;

// True once /proc/locks lists `pid` as waiting for a POSIX (fcntl) lock (a
// "N: -> POSIX ADVISORY WRITE pid ..." line); false after kChildDeadline.
bool waits_for_posix_lock(pid_t pid) {
  const std::uint64_t deadline = monotonic_ns() + std::chrono::nanoseconds(kChildDeadline).count();
  for (;;) {
    std::ifstream locks("/proc/locks");
    for (std::string line; std::getline(locks, line);) {
      std::istringstream fields(line);
      std::string id, arrow, kind, advisory, access;
      pid_t holder = 0;
      if (fields >> id >> arrow >> kind >> advisory >> access >> holder && arrow == "->" && kind == "POSIX" &&
          holder == pid)
        return true;
    }
    if (monotonic_ns() >= deadline) return false;
    pause_briefly();  // a poll interval, not a synchronisation
  }
}

TEST_F(OsTest, FileLockExcludesForkedChild) {
  const std::string path = namespace_lock_path(ns());
  // 0 if the child could take the lock without blocking, 1 if it was held.
  const auto child_try_lock = [&] {
    return run_in_child([&] {
      boost::interprocess::file_lock probe(path.c_str());
      return probe.try_lock() ? 0 : 1;
    });
  };
  {
    const FileLock lock(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);  // created
    EXPECT_EQ(child_try_lock(), 1);
  }
  EXPECT_EQ(child_try_lock(), 0);  // released on destruction
}

TEST_F(OsTest, FileLockBlocksUntilReleased) {
  const std::string path = namespace_lock_path(ns());
  auto lock = std::make_unique<FileLock>(path);
  // A shared flag the child sets once it holds the lock.
  Segment s = Segment::create(name(), 4096, 0600);
  auto* acquired = reinterpret_cast<std::atomic<std::uint32_t>*>(s.data());
  const pid_t child = spawn([&] {
    const FileLock mine(path);
    acquired->store(1, std::memory_order_release);
    return 0;
  });
  ASSERT_GT(child, 0);
  // The child is at the lock (the kernel lists it as waiting for it), and
  // while it is held the child cannot have passed it.
  if (!waits_for_posix_lock(child)) {
    ::kill(child, SIGKILL);
    (void)wait_child(child);
    FAIL() << "the child never waited for the lock (or already passed it: "
           << acquired->load(std::memory_order_acquire) << ")";
  }
  EXPECT_EQ(acquired->load(std::memory_order_acquire), 0u);
  lock.reset();
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(acquired->load(std::memory_order_acquire), 1u);
}

TEST_F(OsTest, FileLockExcludesAnotherThread) {
  const std::string path = namespace_lock_path(ns());
  auto lock = std::make_unique<FileLock>(path);
  auto acquired = std::make_shared<std::atomic<std::uint32_t>>(0);
  auto tid = std::make_shared<std::atomic<pid_t>>(0);
  // Shared state only: if the thread never gets the lock it is detached, not joined.
  std::thread other([acquired, tid, path] {
    tid->store(::gettid(), std::memory_order_release);
    const FileLock mine(path);
    acquired->store(1, std::memory_order_release);
  });
  // The thread is at the lock (asleep in the kernel after saying where it
  // runs: FileLock's in-process mutex is a futex), and while it is held the
  // thread cannot have passed it.
  const std::uint64_t at_lock_deadline = monotonic_ns() + std::chrono::nanoseconds(kChildDeadline).count();
  while ((tid->load(std::memory_order_acquire) == 0 ||
          test::wchan_of(tid->load(std::memory_order_acquire)).find("futex") == std::string::npos) &&
         acquired->load(std::memory_order_acquire) == 0 && monotonic_ns() < at_lock_deadline) {
    pause_briefly();
  }
  EXPECT_EQ(acquired->load(std::memory_order_acquire), 0u);
  EXPECT_NE(test::wchan_of(tid->load(std::memory_order_acquire)).find("futex"), std::string::npos)
      << "the other thread never waited for the lock";
  lock.reset();
  const std::uint64_t deadline =
      monotonic_ns() + std::chrono::nanoseconds(kChildDeadline).count();
  while (acquired->load(std::memory_order_acquire) == 0 && monotonic_ns() < deadline) {
    pause_briefly();
  }
  if (acquired->load(std::memory_order_acquire) == 0) {
    other.detach();
    FAIL() << "the other thread never got the lock";
  }
  other.join();
}

TEST_F(OsTest, FileLockInUnwritableDirectoryFails) {
  const auto e = error_of([] { FileLock lock("/proc/shmq-no-such-dir/x.lock"); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->what(), "/proc/shmq-no-such-dir/x.lock")) << e->what();
}

}  // namespace
}  // namespace shmq::detail
