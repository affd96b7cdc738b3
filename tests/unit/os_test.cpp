// Unit tests of the OS layer (lib/src/os) and of shmq's error category.
// Every blocking call runs under a deadline (a forked child that is killed if
// it overstays), so a broken implementation fails a test instead of hanging.
#include "os/file_lock.hpp"
#include "os/futex.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/segment.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/interprocess/sync/file_lock.hpp>
#include <gtest/gtest.h>

#include "parked.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

using namespace std::chrono_literals;

constexpr auto kChildDeadline = 10s;

// A pause between polls that is not a sleep: a futex wait nobody wakes.
void pause_briefly() {
  const std::uint32_t idle = 0;
  futex_wait(&idle, 0, 1ms);
}

// Waits for `pid` to exit, polling with WNOHANG until a deadline. Returns its
// exit code (128+signal if killed), or -1 after killing a child that overstayed.
int wait_child(pid_t pid, std::chrono::nanoseconds limit = kChildDeadline) {
  const std::uint64_t deadline = monotonic_ns() + static_cast<std::uint64_t>(limit.count());
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return -1;
    if (monotonic_ns() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    pause_briefly();
  }
}

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

// Runs `body` in a forked child; its return value is the exit code.
pid_t spawn(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  return pid;
}

int run_in_child(const std::function<int()>& body) {
  const pid_t pid = spawn(body);
  return pid < 0 ? -1 : wait_child(pid);
}

template <typename F>
std::optional<Error> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool shm_file_exists(const std::string& name) {
  struct stat st {};
  return ::stat(shm_path(name).c_str(), &st) == 0;
}

// A namespace of this process's own, cleaned before and after each test.
class ShmTest : public ::testing::Test {
 protected:
  void SetUp() override { remove_all(); }
  void TearDown() override { remove_all(); }

  std::string ns() const { return "ostest-" + std::to_string(::getpid()); }
  std::string name(const std::string& queue = "") const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return queue_segment_name(ns(), std::string(info->name()) + queue);
  }
  void remove_all() const {
    for (const auto& n : Segment::list(namespace_prefix(ns()))) Segment::remove(n);
    ::unlink(namespace_lock_path(ns()).c_str());
  }
};

class SegmentTest : public ShmTest {};
class FutexTest : public ShmTest {};
class OsTest : public ShmTest {};

// ---- names -----------------------------------------------------------------

TEST(NamesTest, AcceptsValidNames) {
  for (const std::string& n :
       std::vector<std::string>{"a", "orders", "A-b_c.9", "..a", std::string(64, 'x')}) {
    EXPECT_NO_THROW(validate_queue_name(n)) << n;
    EXPECT_NO_THROW(validate_group_name(n)) << n;
  }
  for (const std::string& n : std::vector<std::string>{"default", "t-1_2", std::string(32, 'n')}) {
    EXPECT_NO_THROW(validate_namespace(n)) << n;
  }
}

TEST(NamesTest, RejectsInvalidQueueNameQuotingValueAndRule) {
  const auto e = error_of([] { validate_queue_name("a b"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::invalid_argument);
  EXPECT_EQ(e->code(), errc::invalid_argument);
  EXPECT_TRUE(
      contains(e->what(), "queue name 'a b' is invalid: use 1-64 characters from [A-Za-z0-9._-]"))
      << e->what();
  for (const std::string& n :
       std::vector<std::string>{"", ".", "..", "a/b", "a\nb", "é", std::string(65, 'x')}) {
    const auto err = error_of([&] { validate_queue_name(n); });
    ASSERT_TRUE(err) << n;
    EXPECT_EQ(err->value(), errc::invalid_argument);
  }
}

TEST(NamesTest, MessageEscapesAndCutsBadValues) {
  const auto ctl = error_of([] { validate_group_name("a\nb"); });
  ASSERT_TRUE(ctl);
  EXPECT_TRUE(contains(ctl->what(), "group name 'a\\x0ab' is invalid")) << ctl->what();
  const auto dot = error_of([] { validate_group_name(".."); });
  ASSERT_TRUE(dot);
  EXPECT_TRUE(contains(dot->what(), "not '.' or '..'")) << dot->what();
  const auto lng = error_of([] { validate_queue_name(std::string(1000, 'q')); });
  ASSERT_TRUE(lng);
  EXPECT_LT(std::strlen(lng->what()), 250u) << lng->what();
}

TEST(NamesTest, NamespaceRejectsDotsAndLongNames) {
  const auto dotted = error_of([] { validate_namespace("a.q.b"); });
  ASSERT_TRUE(dotted);
  EXPECT_EQ(dotted->value(), errc::invalid_argument);
  EXPECT_TRUE(contains(dotted->what(),
                       "namespace 'a.q.b' is invalid: use 1-32 characters from [A-Za-z0-9_-]"))
      << dotted->what();
  EXPECT_TRUE(error_of([] { validate_namespace(std::string(33, 'n')); }));
  EXPECT_TRUE(error_of([] { validate_namespace(""); }));
}

TEST(NamesTest, ResolveNamespacePrefersExplicitThenEnvironmentThenDefault) {
  const char* saved = std::getenv("SHMQ_NAMESPACE");
  const std::optional<std::string> old = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::unsetenv("SHMQ_NAMESPACE");
  EXPECT_EQ(resolve_namespace(""), "default");
  ::setenv("SHMQ_NAMESPACE", "from-env", 1);
  EXPECT_EQ(resolve_namespace(""), "from-env");
  EXPECT_EQ(resolve_namespace("given"), "given");
  ::setenv("SHMQ_NAMESPACE", "bad name", 1);
  const auto e = error_of([] { resolve_namespace(""); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->what(), "'bad name' (from $SHMQ_NAMESPACE)")) << e->what();
  EXPECT_TRUE(error_of([] { resolve_namespace("x/y"); }));
  if (old) {
    ::setenv("SHMQ_NAMESPACE", old->c_str(), 1);
  } else {
    ::unsetenv("SHMQ_NAMESPACE");
  }
}

TEST(NamesTest, ObjectNamesCarryTheNamespace) {
  EXPECT_EQ(namespace_prefix("ns"), "shmq.ns.");
  EXPECT_EQ(registry_segment_name("ns"), "shmq.ns.registry");
  EXPECT_EQ(queue_segment_name("ns", "orders"), "shmq.ns.q.orders");
  EXPECT_EQ(namespace_lock_path("ns"), "/dev/shm/shmq.ns.lock");
}

// ---- errors ----------------------------------------------------------------

TEST(ErrorTest, CategoryNamesEveryCode) {
  EXPECT_STREQ(error_category().name(), "shmq");
  std::set<std::string> seen;
  for (int v = static_cast<int>(errc::invalid_argument); v <= static_cast<int>(errc::system_error);
       ++v) {
    const std::string msg = error_category().message(v);
    EXPECT_FALSE(msg.empty());
    EXPECT_FALSE(contains(msg, "unknown")) << v;
    EXPECT_TRUE(seen.insert(msg).second) << "duplicate message " << msg;
  }
  EXPECT_TRUE(contains(error_category().message(999), "999"));
}

TEST(ErrorTest, ErrorCarriesCodeAndMessage) {
  const Error e(errc::no_space, "needs 10 bytes");
  EXPECT_EQ(e.value(), errc::no_space);
  EXPECT_EQ(e.code(), make_error_code(errc::no_space));
  EXPECT_EQ(&e.code().category(), &error_category());
  EXPECT_TRUE(contains(e.what(), "needs 10 bytes"));
  const std::error_code ec = errc::timeout;  // is_error_code_enum
  EXPECT_EQ(ec.value(), static_cast<int>(errc::timeout));
}

TEST(ErrorTest, StatusNames) {
  EXPECT_STREQ(to_string(Status::Ok), "Ok");
  EXPECT_STREQ(to_string(Status::QueueFull), "QueueFull");
  EXPECT_STREQ(to_string(Status::Empty), "Empty");
  EXPECT_STREQ(to_string(Status::Timeout), "Timeout");
  EXPECT_STREQ(to_string(Status::MessageTooLarge), "MessageTooLarge");
  EXPECT_STREQ(to_string(Status::LeaseLost), "LeaseLost");
  EXPECT_STREQ(to_string(Status::Fenced), "Fenced");
  EXPECT_STREQ(to_string(Status::InvalidHandle), "InvalidHandle");
}

// ---- segments --------------------------------------------------------------

TEST_F(SegmentTest, CreateOpenListRemoveRoundTrip) {
  const std::string n = name();
  Segment created = Segment::create(n, 8192, 0600);
  EXPECT_EQ(created.name(), n);
  EXPECT_EQ(created.size(), 8192u);
  ASSERT_NE(created.data(), nullptr);
  std::memcpy(created.data() + 4000, "hello", 5);

  const Segment opened = Segment::open(n);
  EXPECT_EQ(opened.size(), 8192u);
  EXPECT_EQ(std::memcmp(opened.data() + 4000, "hello", 5), 0);

  const auto names = Segment::list(namespace_prefix(ns()));
  EXPECT_EQ(std::count(names.begin(), names.end(), n), 1);

  EXPECT_TRUE(Segment::remove(n));
  EXPECT_FALSE(Segment::remove(n));
  EXPECT_FALSE(shm_file_exists(n));
  EXPECT_TRUE(Segment::list(namespace_prefix(ns())).empty());
  // Mappings outlive the name.
  std::memcpy(created.data(), "x", 1);
  EXPECT_EQ(*reinterpret_cast<const char*>(opened.data()), 'x');
}

TEST_F(SegmentTest, ListFiltersByPrefix) {
  const Segment a = Segment::create(name("a"), 4096, 0600);
  const Segment b = Segment::create(name("b"), 4096, 0600);
  const auto names = Segment::list(namespace_prefix(ns()));
  EXPECT_EQ(names, (std::vector<std::string>{name("a"), name("b")}));
  EXPECT_TRUE(Segment::list("shmq.no-such-ns-" + std::to_string(::getpid()) + ".").empty());
}

TEST_F(SegmentTest, MoveTransfersTheMapping) {
  Segment a = Segment::create(name(), 4096, 0600);
  std::byte* p = a.data();
  Segment b = std::move(a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.name(), name());
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(a.size(), 0u);
  a = std::move(b);
  EXPECT_EQ(a.data(), p);
}

TEST_F(SegmentTest, CreateExistingFailsWithAlreadyExists) {
  const Segment first = Segment::create(name(), 4096, 0600);
  const auto e = error_of([&] { Segment::create(name(), 4096, 0600); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::already_exists);
  EXPECT_TRUE(contains(e->what(), name())) << e->what();
  EXPECT_TRUE(shm_file_exists(name()));  // the failed create removed nothing
}

TEST_F(SegmentTest, OpenMissingFailsWithNotFound) {
  const auto e = error_of([&] { Segment::open(name()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::not_found);
  EXPECT_TRUE(contains(e->what(), name())) << e->what();
}

TEST_F(SegmentTest, OpenEmptyObjectFailsWithCorruptSegment) {
  const int fd = ::shm_open(("/" + name()).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
  const auto e = error_of([&] { Segment::open(name()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::corrupt_segment);
  EXPECT_TRUE(contains(e->what(), "is empty (truncated?)")) << e->what();
}

TEST_F(SegmentTest, CreateLargerThanFreeSpaceFailsWithNoSpace) {
  const std::uint64_t huge = 1ULL << 50;
  const auto e = error_of([&] { Segment::create(name(), huge, 0600); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::no_space);
  EXPECT_TRUE(contains(e->what(), std::to_string(huge) + " bytes")) << e->what();
  EXPECT_TRUE(contains(e->what(), "MiB")) << e->what();
  EXPECT_TRUE(contains(e->what(), "free")) << e->what();
  EXPECT_FALSE(shm_file_exists(name()));
}

TEST_F(SegmentTest, CreateRejectsZeroSizeAndBadMode) {
  const auto zero = error_of([&] { Segment::create(name(), 0, 0600); });
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->value(), errc::invalid_argument);
  const auto setuid = error_of([&] { Segment::create(name(), 4096, 04755); });
  ASSERT_TRUE(setuid);
  EXPECT_EQ(setuid->value(), errc::invalid_argument);
  EXPECT_TRUE(contains(setuid->what(), "04755")) << setuid->what();
  EXPECT_FALSE(shm_file_exists(name()));
}

TEST_F(SegmentTest, ModeIsAppliedDespiteUmask) {
  const mode_t old_umask = ::umask(0077);
  const Segment s = Segment::create(name(), 4096, 0640);
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(shm_path(name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(SegmentTest, CreateReservesEveryPage) {
  const std::size_t size = 1 << 20;
  const Segment s = Segment::create(name(), size, 0600);
  struct stat st {};
  ASSERT_EQ(::stat(shm_path(name()).c_str(), &st), 0);
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, size);  // posix_fallocate ran
}

// A segment's bytes are reserved at creation: free space drops by its size
// (by more than half of it, whatever other tests do to /dev/shm meanwhile).
TEST_F(SegmentTest, FreeBytesDropsBySegmentsReservedBytes) {
  constexpr std::size_t kSize = 32U << 20;
  const std::uint64_t before = shm_free_bytes();
  ASSERT_GT(before, 2 * kSize) << "/dev/shm is too small for this test";
  const Segment s = Segment::create(name(), kSize, 0600);
  EXPECT_LT(shm_free_bytes(), before - kSize / 2);
}

// ---- futex -----------------------------------------------------------------

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

// ---- processes -------------------------------------------------------------

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

// ---- file lock -------------------------------------------------------------

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
