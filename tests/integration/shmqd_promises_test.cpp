// Promises of shmqd (README "Daemon: shmqd") that no other test checks: a
// dead process's leases come back in every queue it used; a session whose
// pid now names another process is recovered; systemd hears READY=1 and
// STOPPING=1; registry_group lets a member of that group attach.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "children.hpp"
#include "observed_queue.hpp"
#include "os/process.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::now_ms;
using shmq::test::Pipe;
using shmq::test::queue_toml;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::Victim;

constexpr auto kChildDeadline = 60s;
constexpr auto kOpTimeout = 20s;
constexpr auto kLogLimit = 20s;

void send_to(const TestNamespace& ns, const std::string& queue, int n) {
  shmq::Client c({.ns = ns.name()});
  shmq::Producer p = c.producer(queue);
  for (int i = 0; i < n; ++i) ASSERT_EQ(p.send(queue + std::to_string(i), kOpTimeout), Status::Ok);
}

// A consumer killed holding leases in two queues: both come back.
TEST(ShmqdPromisesTest, MultiProcessVictimAttachedToTwoQueuesLosesItsLeasesInBoth) {
  TestNamespace ns;
  ConfigFile config(queue_toml("a", 8, 600'000) + queue_toml("b", 8, 600'000));
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  send_to(ns, "a", 2);
  send_to(ns, "b", 2);
  Pipe holding;
  Victim victim([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer ca = c.consumer("a");
    shmq::Consumer cb = c.consumer("b");
    std::vector<shmq::Message> held;
    for (shmq::Consumer* k : {&ca, &ca, &cb, &cb}) {
      held.push_back(k->receive(kOpTimeout));
      if (!held.back()) return fail(80, "receive: %s", shmq::to_string(held.back().status()));
    }
    if (!holding.signal()) return fail(81, "cannot report holding");
    ::pause();
    return 0;
  });
  ASSERT_TRUE(holding.wait(kChildDeadline));
  ASSERT_TRUE(victim.signal(SIGKILL));
  (void)victim.wait(kChildDeadline);
  EXPECT_TRUE(daemon.wait_for("queue a: 2 leases requeued", kLogLimit)) << daemon.err();
  EXPECT_TRUE(daemon.wait_for("queue b: 2 leases requeued", kLogLimit)) << daemon.err();
  shmq::Client c({.ns = ns.name()});
  for (const char* queue : {"a", "b"}) {
    shmq::Consumer k = c.consumer(queue);
    for (int i = 0; i < 2; ++i) {
      shmq::Message m = k.receive(kOpTimeout);
      ASSERT_TRUE(m) << queue;
      EXPECT_EQ(m.delivery_count(), 2U);
      EXPECT_EQ(m.ack(), Status::Ok);
    }
  }
}

// A registry entry whose pid is alive but whose start time is another
// process's (the pid was reused after the session's process died): shmqd
// recovers and releases it after its identity grace, whatever the pid does.
TEST(ShmqdPromisesTest, MultiProcessSessionWhosePidWasReusedIsRecovered) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const Pipe never;
  Victim other([&] {  // the process that now has the pid
    (void)never.wait(kChildDeadline);
    return 0;
  });
  const shmq::detail::MappedRegistry registry = shmq::detail::open_or_create_registry(ns.name());
  const shmq::detail::RegistryView& reg = registry.view;
  shmq::detail::SessionIdentity id;
  id.pid = static_cast<std::uint32_t>(other.pid());
  id.start_time = shmq::detail::process_start_time(other.pid()) + 1;  // an earlier holder of the pid
  id.heartbeat_timeout_ns = 3'600'000'000'000;                         // the heartbeat is not what tells
  id.now_ns = shmq::detail::monotonic_ns();
  const shmq::detail::Owner o = shmq::detail::claim_session(reg, id);
  ASSERT_NE(o, shmq::detail::kNoOwner);
  EXPECT_TRUE(daemon.wait_for("is gone (its pid now names another process)", kLogLimit)) << daemon.err();
  EXPECT_EQ(shmq::detail::session_state_of(reg, o), shmq::detail::SessionState::Free);
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  NotifySocket() : path_("/tmp/shmq_notify_" + std::to_string(::getpid()) + ".sock") {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ::unlink(path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  // The next datagram, or "" after `limit`.
  std::string next(std::chrono::milliseconds limit) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return {};
    char buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

#if SHMQ_TEST_HAVE_SYSTEMD
// Type=notify: READY=1 once it serves, STOPPING=1 on SIGTERM, exit 0.
TEST(ShmqdPromisesTest, MultiProcessTellsSystemdWhenReadyAndWhenStopping) {
  TestNamespace ns;
  const NotifySocket notify;
  ::setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);  // inherited by shmqd; no other thread runs
  Shmqd daemon(ns);
  ::unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  EXPECT_NE(notify.next(kLogLimit).find("READY=1"), std::string::npos);
  const shmq::test::ChildExit e = daemon.stop(SIGTERM);
  EXPECT_TRUE(e.exited && e.code == 0) << "exit " << e.code << " signal " << e.signal;
  EXPECT_NE(notify.next(kLogLimit).find("STOPPING=1"), std::string::npos);
}
#endif

// registry_mode 0660 with registry_group: a process of another user that is
// a member of that group attaches and exchanges a message on a 0660 queue
// of the group.
TEST(ShmqdPromisesTest, MultiProcessRegistryGroupLetsAGroupMemberAttach) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid a child to nobody";
  group entry{};
  group* users = nullptr;
  std::vector<char> buf(4096);
  if (::getgrnam_r("users", &entry, buf.data(), buf.size(), &users) != 0 || users == nullptr)
    GTEST_SKIP() << "no group 'users'";
  const gid_t gid = users->gr_gid;
  TestNamespace ns;
  const ConfigFile config(
      "[daemon]\nregistry_mode = \"0660\"\nregistry_group = \"users\"\n"
      "[queues.team]\ncapacity = 8\nslot_size = 64\nmode = \"0660\"\nowner_group = \"users\"\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  auto round_trip = [&](const std::vector<gid_t>& groups) {
    return shmq::test::wait_child(shmq::test::fork_child([&] {
                                    constexpr uid_t kNobody = 65534;
                                    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(kNobody) != 0 ||
                                        ::setuid(kNobody) != 0)
                                      return fail(2, "setuid: %s", std::strerror(errno));
                                    try {
                                      shmq::Client c({.ns = ns.name()});
                                      if (c.producer("team").send("hi", kOpTimeout) != Status::Ok) return 3;
                                      shmq::Consumer k = c.consumer("team");
                                      shmq::Message m = k.receive(kOpTimeout);
                                      return m && m.ack() == Status::Ok ? 0 : 4;
                                    } catch (const shmq::Error& e) {
                                      return e.value() == shmq::errc::permission_denied ? 5 : 6;
                                    }
                                  }),
                                  kChildDeadline);
  };
  const shmq::test::ChildExit member = round_trip({gid});
  EXPECT_TRUE(member.exited && member.code == 0) << "member: exit " << member.code << " signal " << member.signal << "\n" << daemon.err();
  const shmq::test::ChildExit outsider = round_trip({});
  EXPECT_TRUE(outsider.exited && outsider.code == 5) << "outsider: exit " << outsider.code;
}

}  // namespace
