// shmqd's control socket cannot be monopolised by one user: a uid past its
// connection cap is refused while other uids are served, and a connection
// closes at the end of its lifetime whatever it sends (a trickle of requests
// does not keep it open). The children setuid to other uids, so the cap test
// needs root.
//
// Every test starts shmqd (a fork), so every name contains "MultiProcess".
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "children.hpp"
#include "shmqd_control.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using shmq::test::Child;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::now_ms;
using shmq::test::Pipe;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::control::ask;
using shmq::test::control::RawConnection;
using shmq::test::control::refusal;
using ::testing::HasSubstr;

constexpr uid_t kHog = 65534;        // nobody: opens more than its cap
constexpr uid_t kNeighbour = 65533;  // an unused uid: must still be served
constexpr int kDefaultPerUidCap = 8;  // DaemonConfig::control_connections_per_uid
constexpr std::string_view kPing = R"({"op":"ping"})";

// Drops root for a child: no supplementary groups, gid, then uid.
bool become(uid_t uid) { return ::setgroups(0, nullptr) == 0 && ::setgid(uid) == 0 && ::setuid(uid) == 0; }

// A child's check: prints what failed and makes the child exit non-zero.
#define CHILD_CHECK(cond, ...)                              \
  do {                                                      \
    if (!(cond)) return shmq::test::fail(1, __VA_ARGS__);   \
  } while (0)

// True if a ping on `c` is answered with ok.
bool pinged(RawConnection& c) {
  if (!c.send(kPing)) return false;
  const std::optional<std::string> reply = c.receive();
  if (!reply) return false;
  const json j = json::parse(*reply, nullptr, false);
  return j.is_object() && j.value("ok", false);
}

TEST(ShmqdControlTest, MultiProcessOneUidPastItsCapIsRefusedWhileOtherUidsAreServed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid children to other uids";
  TestNamespace ns;
  // A lifetime far longer than the test: only the cap may close a connection.
  const ConfigFile config("[daemon]\ncontrol_connection_lifetime_ms = 600000\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();

  const Pipe at_cap;  // hog -> test: it holds its cap, and was refused past it
  const Pipe go_on;   // test -> hog: the others were served; check the slot comes back
  Child hog([&] {
    if (!become(kHog)) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    std::vector<std::unique_ptr<RawConnection>> held;
    const int reached = [&] {
      for (int i = 0; i < kDefaultPerUidCap; ++i) {
        held.push_back(std::make_unique<RawConnection>(ns));
        CHILD_CHECK(held.back()->connected(), "connection %d: connect: %s", i, std::strerror(errno));
        CHILD_CHECK(pinged(*held.back()), "connection %d (within the cap) was not served", i);
      }
      RawConnection extra(ns);  // the kernel queues it; the daemon refuses it
      CHILD_CHECK(extra.connected(), "connect past the cap: %s", std::strerror(errno));
      const std::optional<std::string> reply = extra.receive();
      CHILD_CHECK(reply, "no reply past the cap");
      const std::string why = refusal(json::parse(*reply, nullptr, false), "daemon_unavailable");
      CHILD_CHECK(why.find("uid 65534 has 8 control connections open") != std::string::npos &&
                      why.find("control_connections_per_uid") != std::string::npos,
                  "refusal past the cap: %s", why.c_str());
      CHILD_CHECK(extra.closed_by_daemon(10s), "the refused connection was not closed");
      return 0;
    }();
    // Said either way, so a failure ends the test at once.
    if (!at_cap.signal()) return shmq::test::fail(2, "pipe: %s", std::strerror(errno));
    if (reached != 0) return reached;
    CHILD_CHECK(go_on.wait(60s), "the test never said to go on");
    // Held connections were not disturbed, and one hung up frees its slot.
    CHILD_CHECK(pinged(*held.front()), "a held connection stopped being served");
    CHILD_CHECK(held.back()->hang_up(), "shutdown: %s", std::strerror(errno));
    CHILD_CHECK(held.back()->closed_by_daemon(10s), "the daemon did not close the hung-up connection");
    held.pop_back();
    RawConnection again(ns);
    CHILD_CHECK(again.connected() && pinged(again), "a freed slot was not given back");
    return 0;
  });
  ASSERT_TRUE(at_cap.wait(60s)) << "the hog never reached its cap\n" << daemon.err();

  // While the hog holds its cap: another uid is served...
  Child neighbour([&] {
    if (!become(kNeighbour)) return shmq::test::fail(2, "setuid: %s", std::strerror(errno));
    RawConnection c(ns);
    CHILD_CHECK(c.connected(), "connect: %s", std::strerror(errno));
    CHILD_CHECK(pinged(c), "uid %u was not served while uid %u held its cap", kNeighbour, kHog);
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(neighbour.wait(60s)));
  // ...and so is root, past the per-uid cap too (root is not capped: control.hpp).
  std::vector<std::unique_ptr<RawConnection>> root;
  for (int i = 0; i <= kDefaultPerUidCap; ++i) {
    root.push_back(std::make_unique<RawConnection>(ns));
    ASSERT_TRUE(root.back()->connected()) << i;
    EXPECT_TRUE(pinged(*root.back())) << "root connection " << i << " was not served";
  }
  root.clear();

  ASSERT_TRUE(go_on.signal());
  EXPECT_TRUE(exited_cleanly(hog.wait(60s)));
  EXPECT_TRUE(daemon.wait_for("uid 65534: refused: 8 control connections open")) << daemon.err();
  EXPECT_EQ(::kill(daemon.pid(), 0), 0);
}

// Sends `packet` on `c` every `period` until the daemon closes the connection
// (end of file or ECONNRESET). The pause between packets is a bounded wait for
// the daemon's reply or hang-up, never a sleep. Returns the milliseconds from
// `since` to the close, or nullopt if the connection was still open `limit`
// after `since`. Counts the daemon's replies in `replies`.
std::optional<std::uint64_t> trickle_until_closed(RawConnection& c, std::string_view packet, std::uint64_t since,
                                                  std::chrono::milliseconds period, std::chrono::milliseconds limit,
                                                  int& replies) {
  const std::uint64_t deadline = since + static_cast<std::uint64_t>(limit.count());
  std::uint64_t next_send = now_ms();
  std::string buf(shmq::admin::kMaxControlMessage, '\0');
  for (std::uint64_t now = now_ms(); now < deadline; now = now_ms()) {
    if (now >= next_send) {
      if (!c.send(packet)) return (errno == EPIPE || errno == ECONNRESET) ? std::optional(now_ms() - since) : std::nullopt;
      next_send = now + static_cast<std::uint64_t>(period.count());
    }
    pollfd p{c.fd(), POLLIN, 0};
    const std::uint64_t wait = std::min(next_send, deadline) - std::min(now_ms(), std::min(next_send, deadline));
    if (::poll(&p, 1, static_cast<int>(wait)) != 1) continue;
    const ssize_t n = ::recv(c.fd(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) ++replies;
    else if (n == 0 || errno == ECONNRESET) return now_ms() - since;
  }
  return std::nullopt;
}

TEST(ShmqdControlTest, MultiProcessATrickleOfRequestsDoesNotKeepAConnectionPastItsLifetime) {
  TestNamespace ns;
  constexpr std::uint64_t kLifetimeMs = 300;
  const ConfigFile config("[daemon]\ncontrol_connection_lifetime_ms = " + std::to_string(kLifetimeMs) + "\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();

  // Empty requests (refused: each is a failure), garbage, and pings (each
  // answered ok): none of them extends the connection's life. Before the
  // lifetime rule, any packet restarted a 5 s idle timeout: none would close.
  for (const std::string_view packet : {std::string_view("{}"), std::string_view("\x01garbage"), kPing}) {
    SCOPED_TRACE(std::string("trickle of ") + std::string(packet));
    const std::uint64_t since = now_ms();
    RawConnection c(ns);
    ASSERT_TRUE(c.connected());
    int replies = 0;
    const std::optional<std::uint64_t> closed_after = trickle_until_closed(c, packet, since, 50ms, 5s, replies);
    ASSERT_TRUE(closed_after) << "a trickle kept the connection open for 5 s (lifetime " << kLifetimeMs << " ms)";
    EXPECT_GE(*closed_after, kLifetimeMs) << "closed before its lifetime";
    EXPECT_GE(replies, 1) << "the daemon did not answer the trickle meanwhile";
  }

  // An honest client (connect, one request, the reply, hang up) never meets
  // the lifetime, and the daemon serves it after all that.
  EXPECT_EQ(ask(ns, kPing).value("pid", 0), daemon.pid());
  EXPECT_THAT(refusal(ask(ns, R"({"op":"purge","queue":"x"})"), "not_found"), HasSubstr("queue 'x' not found"));
  EXPECT_TRUE(daemon.wait_for("connection closed at the end of its 300 ms lifetime")) << daemon.err();
}

}  // namespace
