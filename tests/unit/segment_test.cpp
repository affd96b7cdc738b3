// Unit tests of shared-memory segments (os/segment.hpp): create, open,
// list and remove; each failure as its errc with a message naming the
// segment; the mode despite the umask; every page reserved at creation; a
// read-only open that needs only read permission and maps the pages read-only.
#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "os/names.hpp"
#include "os/segment.hpp"
#include "os_fixture.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

using os_tests::contains;
using os_tests::error_of;
using os_tests::run_in_child;
using os_tests::shm_file_exists;

class SegmentTest : public os_tests::ShmTest {};

TEST_F(SegmentTest, CreateOpenListRemoveRoundTrip) {
  const std::string n = name();
  Segment created = Segment::create(n, 8192, 0600);
  EXPECT_EQ(created.name(), n);
  EXPECT_EQ(created.size(), 8192u);
  ASSERT_NE(created.data(), nullptr);
  std::memcpy(created.data() + 4000, "hello", 5);

  const Segment opened = Segment::open(n, Access::ReadWrite);
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
  const auto e = error_of([&] { Segment::open(name(), Access::ReadWrite); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::not_found);
  EXPECT_TRUE(contains(e->what(), name())) << e->what();
}

TEST_F(SegmentTest, OpenEmptyObjectFailsWithCorruptSegment) {
  const int fd = ::shm_open(("/" + name()).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
  const auto e = error_of([&] { Segment::open(name(), Access::ReadWrite); });
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

// The permissions of the mapping that holds `p`, as /proc/self/maps shows
// them ("r--s", "rw-s"); "" if no mapping holds it.
std::string mapping_permissions(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range;
    std::string perms;
    fields >> range >> perms;
    const std::size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    const std::uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const std::uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (addr >= lo && addr < hi) return perms;
  }
  return "";
}

TEST_F(SegmentTest, OpenReadOnlyMapsThePagesReadOnly) {
  Segment created = Segment::create(name(), 8192, 0600);
  std::memcpy(created.data() + 100, "hello", 5);
  EXPECT_TRUE(created.writable());
  EXPECT_EQ(mapping_permissions(created.data()), "rw-s");

  const Segment ro = Segment::open(name(), Access::ReadOnly);
  EXPECT_FALSE(ro.writable());
  EXPECT_EQ(ro.size(), 8192U);
  EXPECT_EQ(std::memcmp(ro.data() + 100, "hello", 5), 0);
  // A store through it would be a SIGSEGV: the pages are mapped without write.
  EXPECT_EQ(mapping_permissions(ro.data()), "r--s");
  std::memcpy(created.data() + 100, "world", 5);  // it sees the writers' stores
  EXPECT_EQ(std::memcmp(ro.data() + 100, "world", 5), 0);
  EXPECT_TRUE(Segment::open(name(), Access::ReadWrite).writable());
}

// A 0640 segment of root:users, opened by nobody in group users: reading is
// allowed, writing is refused with a message saying it needs write permission.
TEST_F(SegmentTest, OpenReadOnlyNeedsOnlyReadPermission) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to open as nobody";
  constexpr uid_t kNobody = 65534;
  constexpr gid_t kNogroup = 65534;
  constexpr gid_t kUsers = 100;
  const std::string n = name();  // here: the child has another pid, so another name()
  Segment created = Segment::create(n, 4096, 0640);
  std::memcpy(created.data(), "seen", 4);
  ASSERT_EQ(::chown(shm_path(n).c_str(), 0, kUsers), 0) << std::strerror(errno);
  const int code = run_in_child([&] {
    const gid_t groups[] = {kUsers};
    if (::setgroups(1, groups) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0) return 10;
    try {
      const Segment ro = Segment::open(n, Access::ReadOnly);
      if (std::memcmp(ro.data(), "seen", 4) != 0) return 11;
    } catch (const Error& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 12;  // reading refused
    }
    const auto e = error_of([&] { Segment::open(n, Access::ReadWrite); });
    if (!e || e->value() != errc::permission_denied) return 13;
    if (!contains(e->what(), "permission denied") || !contains(e->what(), "needs write permission") ||
        !contains(e->what(), shm_path(n)))
      return 14;
    return 0;
  });
  EXPECT_EQ(code, 0) << "10 setuid, 11 wrong bytes, 12 reading refused, 13 writing not refused, 14 unclear message";
}

}  // namespace
}  // namespace shmq::detail
