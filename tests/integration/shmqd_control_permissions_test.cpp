// shmqd's control socket: who may do what. A queue created through the
// daemon belongs to the requester; only its owner, its group or root may
// delete or purge it. The children setuid to nobody, so these tests need root.
//
// Every test starts shmqd (a fork), so every name contains "MultiProcess".
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "children.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_control.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::admin::ControlOp;
using shmq::test::Child;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::control::exists;
using shmq::test::control::outcome;
using shmq::test::control::request;
using shmq::test::control::small_queue;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr gid_t kUsers = 100;  // Debian's "users" group

// Drops root for a child: supplementary groups, gid, then uid.
bool become(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  return ::setgroups(groups.size(), groups.data()) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0;
}

// A child's check: prints what failed and makes the child exit non-zero.
#define CHILD_CHECK(cond, ...)                          \
  do {                                                  \
    if (!(cond)) return shmq::test::fail(1, __VA_ARGS__); \
  } while (0)

// The daemon (root) makes the segment, then gives it to whoever asked: a
// child that dropped to uid nobody with primary group users, so that the
// expected owner differs from the daemon's (root:root) and its gid from its
// uid (65534:100: a gid taken from the uid would show).
TEST(ShmqdControlTest, MultiProcessQueueIsOwnedByTheRequestersUidAndGid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid a child to nobody";
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child requester([&] {
    if (!become(kNobody, kUsers, {})) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    const std::string create = outcome(ns, request(ControlOp::Create, "theirs", small_queue(0640)));
    CHILD_CHECK(create == "ok", "create theirs: %s", create.c_str());
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(requester.wait(60s)));
  EXPECT_TRUE(daemon.wait_for("uid 65534: create theirs: ok")) << daemon.err();
  struct stat st {};
  ASSERT_EQ(::stat(ns.queue_path("theirs").c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(st.st_gid, kUsers);
  EXPECT_EQ(st.st_mode & 0777U, 0640U);
}

TEST(ShmqdControlTest, MultiProcessOnlyOwnerGroupOrRootMayDeleteOrPurge) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid children to nobody";
  TestNamespace ns;
  // A configured queue with an owner group: its group is "users" (gid 100).
  ConfigFile config("[queues.team]\ncapacity = 8\nslot_size = 64\nmode = 0o660\nowner_group = \"users\"\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_EQ(outcome(ns, request(ControlOp::Create, "private")), "ok");  // root's, 0600

  // nobody, in no group of interest: refused, with who may.
  Child outsider([&] {
    if (!become(kNobody, kNogroup, {})) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    const std::string del = outcome(ns, request(ControlOp::Delete, "private"));
    CHILD_CHECK(del == "permission_denied: permission denied: queue 'private' belongs to uid 0 (group 0); only its "
                       "owner, its group or root may delete it (you are uid 65534)",
                "delete private: %s", del.c_str());
    const std::string purge = outcome(ns, request(ControlOp::Purge, "private"));
    CHILD_CHECK(purge.starts_with("permission_denied: permission denied: queue 'private' belongs to uid 0 (group 0); "
                                  "only its owner, its group or root may purge it"),
                "purge private: %s", purge.c_str());
    const std::string team = outcome(ns, request(ControlOp::Purge, "team"));
    CHILD_CHECK(team.starts_with("permission_denied: permission denied: queue 'team' belongs to uid 0 (group 100)"),
                "purge team: %s", team.c_str());
    // Its own queue: created for it, then purged and deleted by it.
    const std::string create = outcome(ns, request(ControlOp::Create, "mine"));
    CHILD_CHECK(create == "ok", "create mine: %s", create.c_str());
    struct stat st {};
    CHILD_CHECK(::stat(ns.queue_path("mine").c_str(), &st) == 0, "stat mine: %s", std::strerror(errno));
    CHILD_CHECK(st.st_uid == kNobody && st.st_gid == kNogroup && (st.st_mode & 0777U) == 0600U,
                "mine is %u:%u mode 0%o", st.st_uid, st.st_gid, st.st_mode & 0777U);
    // Its owner can map it (the library directly, no daemon involved).
    try {
      (void)shmq::detail::open_queue_segment(ns.name(), "mine");
    } catch (const shmq::Error& e) {
      return shmq::test::fail(1, "open mine: %s", e.what());
    }
    const std::string purged = outcome(ns, request(ControlOp::Purge, "mine"));
    CHILD_CHECK(purged == "ok", "purge mine: %s", purged.c_str());
    const std::string deleted = outcome(ns, request(ControlOp::Delete, "mine"));
    CHILD_CHECK(deleted == "ok", "delete mine: %s", deleted.c_str());
    CHILD_CHECK(!exists(ns.queue_path("mine")), "mine still exists");
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(outsider.wait(60s)));
  EXPECT_TRUE(exists(ns.queue_path("private")));
  EXPECT_TRUE(daemon.wait_for("uid 65534: delete private: permission_denied")) << daemon.err();

  // nobody with "users" as a supplementary group: a member of team's group.
  Child member([&] {
    if (!become(kNobody, kNogroup, {kUsers})) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    const std::string purge = outcome(ns, request(ControlOp::Purge, "team"));
    CHILD_CHECK(purge == "ok", "purge team: %s", purge.c_str());
    const std::string del = outcome(ns, request(ControlOp::Delete, "team"));
    CHILD_CHECK(del == "ok", "delete team: %s", del.c_str());
    // Created again by it: its uid, and the configured owner group.
    const std::string create = outcome(ns, request(ControlOp::Create, "team", small_queue(0660)));
    CHILD_CHECK(create == "ok", "create team: %s", create.c_str());
    struct stat st {};
    CHILD_CHECK(::stat(ns.queue_path("team").c_str(), &st) == 0, "stat team: %s", std::strerror(errno));
    CHILD_CHECK(st.st_uid == kNobody && st.st_gid == kUsers && (st.st_mode & 0777U) == 0660U,
                "team is %u:%u mode 0%o", st.st_uid, st.st_gid, st.st_mode & 0777U);
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(member.wait(60s)));

  // Root may do anything: purge and delete nobody's queue.
  EXPECT_EQ(outcome(ns, request(ControlOp::Purge, "team")), "ok");
  EXPECT_EQ(outcome(ns, request(ControlOp::Delete, "team")), "ok");
  EXPECT_EQ(outcome(ns, request(ControlOp::Delete, "private")), "ok");
}

}  // namespace
