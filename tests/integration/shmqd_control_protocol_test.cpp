// shmqd's control socket as a server: malformed and hostile requests on raw
// sockets get errors and never stop the daemon, connections past the limit
// are refused, a stopped daemon makes clients time out, and without a daemon
// the library falls back to the segments (or says to start one).
//
// Every test starts shmqd (a fork), so every name contains "MultiProcess"
// (they run under ThreadSanitizer too), and a test makes its shmq::Client only
// after its last fork (see multiprocess_test.cpp).
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "shmq/admin/control.hpp"
#include "os/names.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_control.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using shmq::errc;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::control::ask;
using shmq::test::control::exists;
using shmq::test::control::RawConnection;
using shmq::test::control::refusal;
using shmq::test::control::small_queue;
using ::testing::HasSubstr;

TEST(ShmqdControlTest, MultiProcessMalformedRequestsGetErrorsAndNeverStopTheDaemon) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();

  // A client that connects and sends nothing, held open during everything
  // else: the daemon serves the others meanwhile and closes it after ~5 s.
  RawConnection silent(ns);
  ASSERT_TRUE(silent.connected());
  const std::uint64_t silent_since = shmq::test::now_ms();

  EXPECT_FALSE(silent.closed_by_daemon(0ms)) << "an idle connection was closed at once";
  EXPECT_THAT(refusal(ask(ns, std::string("\x00\xff\xfe garbage", 11)), "invalid_argument"), HasSubstr("not valid JSON"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","con)"), "invalid_argument"), HasSubstr("not valid JSON"));
  EXPECT_THAT(refusal(ask(ns, R"([1,2,3])"), "invalid_argument"), HasSubstr("must be a JSON object, not an array"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"explode","queue":"q"})"), "invalid_argument"), HasSubstr("unknown op \"explode\""));
  EXPECT_THAT(refusal(ask(ns, R"({"queue":"q"})"), "invalid_argument"), HasSubstr("missing \"op\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"purge"})"), "invalid_argument"), HasSubstr("missing \"queue\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":42})"), "invalid_argument"),
              HasSubstr("queue must be a string, not a number"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":"q","force":true})"), "invalid_argument"),
              HasSubstr("unknown key \"force\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q"})"), "invalid_argument"), HasSubstr("missing \"config\""));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"capacity":"big"}})"), "invalid_argument"),
              HasSubstr("config.capacity must be a non-negative integer, not a string"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"capacity":-8}})"), "invalid_argument"),
              HasSubstr("config.capacity must be a non-negative integer, not a negative number"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"capacity":1e99}})"), "invalid_argument"),
              HasSubstr("config.capacity must be a non-negative integer, not a fractional number"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"slot_size":99999999999}})"), "invalid_argument"),
              HasSubstr("config.slot_size 99999999999 is too large"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"groups":[{"delivery":"at-most-once"}]}})"),
                      "invalid_argument"),
              HasSubstr("missing \"name\" in config.groups[0]"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"mode":"rwx"}})"), "invalid_argument"),
              HasSubstr("config.mode must be octal"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"create","queue":"q","config":{"mode":"0400"}})"), "invalid_argument"),
              HasSubstr("mode 0400 is invalid"));  // the library's own check of the value
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":"../registry"})"), "invalid_argument"),
              HasSubstr("queue name '../registry' is invalid"));
  EXPECT_THAT(refusal(ask(ns, R"({"op":"delete","queue":""})"), "invalid_argument"), HasSubstr("queue name '' is invalid"));
  // Deep nesting within the size limit: refused, not a stack overflow.
  EXPECT_THAT(refusal(ask(ns, std::string(30'000, '[') + std::string(30'000, ']')), "invalid_argument"),
              HasSubstr("must be a JSON object"));

  if (shmq::test::now_ms() - silent_since < 4'000) {
    EXPECT_FALSE(silent.closed_by_daemon(0ms)) << "an idle connection was closed before its timeout";
  }

  // Oversized: just over the limit, and 1 MiB (a bigger send buffer lets the
  // packet leave this process; the daemon reads 64 KiB of it and sees the rest
  // was cut off).
  EXPECT_THAT(refusal(ask(ns, std::string(shmq::admin::kMaxControlMessage + 1, ' ')), "invalid_argument"),
              HasSubstr("65537 bytes, more than the 65536-byte limit"));
  {
    RawConnection big(ns);
    ASSERT_TRUE(big.connected());
    const int size = 4 << 20;
    ASSERT_EQ(::setsockopt(big.fd(), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size), 0) << std::strerror(errno);
    const std::string mib(1 << 20, 'x');
    ASSERT_TRUE(big.send(mib)) << std::strerror(errno);
    const std::optional<std::string> reply = big.receive();
    ASSERT_TRUE(reply);
    EXPECT_THAT(refusal(json::parse(*reply), "invalid_argument"), HasSubstr("1048576 bytes, more than the"));
  }

  // Several requests on one connection: one reply each, in order.
  {
    RawConnection c(ns);
    ASSERT_TRUE(c.send(R"({"op":"purge","queue":"a"})"));
    ASSERT_TRUE(c.send("nonsense"));
    ASSERT_TRUE(c.send(R"({"op":"delete","queue":"b"})"));
    const auto r1 = c.receive(), r2 = c.receive(), r3 = c.receive();
    ASSERT_TRUE(r1 && r2 && r3);
    EXPECT_THAT(refusal(json::parse(*r1), "not_found"), HasSubstr("queue 'a' not found"));
    EXPECT_THAT(refusal(json::parse(*r2), "invalid_argument"), HasSubstr("not valid JSON"));
    EXPECT_THAT(refusal(json::parse(*r3), "not_found"), HasSubstr("queue 'b' not found"));
  }

  // Clients that hang up: right after connecting, and right after a request
  // (the daemon's reply goes nowhere).
  for (int i = 0; i < 10; ++i) {
    RawConnection gone(ns);
    ASSERT_TRUE(gone.connected());
    if (i % 2 == 1) {
      ASSERT_TRUE(gone.send(R"({"op":"create","queue":"half","config":{"capa)"));
    }
  }
  {
    RawConnection gone(ns);
    ASSERT_TRUE(gone.send(R"({"op":"create","queue":"hangup","config":{"capacity":8,"slot_size":64}})"));
  }

  // The daemon is alive and serves a well-formed request.
  const json created = ask(ns, R"({"op":"create","queue":"good","config":{"capacity":8,"slot_size":64}})");
  EXPECT_EQ(created, json({{"ok", true}}));
  EXPECT_TRUE(exists(ns.queue_path("good")));
  EXPECT_EQ(::kill(daemon.pid(), 0), 0);

  // The silent client was closed at the end of its lifetime (~5 s), not before.
  EXPECT_TRUE(silent.closed_by_daemon(30s)) << "an idle connection was kept open";
  EXPECT_GE(shmq::test::now_ms() - silent_since, 4'500U);
  EXPECT_EQ(ask(ns, R"({"op":"delete","queue":"good"})"), json({{"ok", true}}));
}

TEST(ShmqdControlTest, MultiProcessConnectionsPastTheLimitAreRefusedNotQueued) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(std::make_unique<RawConnection>(ns));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  // The daemon accepts them all (a request on the last one is answered)...
  ASSERT_TRUE(idle.back()->send(R"({"op":"purge","queue":"x"})"));
  ASSERT_TRUE(idle.back()->receive());
  // ...and answers the 65th with an error at once.
  RawConnection extra(ns);
  ASSERT_TRUE(extra.connected());
  const std::optional<std::string> busy = extra.receive();
  ASSERT_TRUE(busy);
  EXPECT_THAT(refusal(json::parse(*busy), "daemon_unavailable"), HasSubstr("64 control connections open"));
  // They hang up, and each waits until the daemon has closed its end: then
  // the daemon has dropped all 64, and the next request must be served.
  for (std::size_t i = 0; i < idle.size(); ++i) {
    ASSERT_TRUE(idle[i]->hang_up()) << i << ": " << std::strerror(errno);
    ASSERT_TRUE(idle[i]->closed_by_daemon(10s)) << "the daemon did not close connection " << i;
  }
  idle.clear();
  EXPECT_THAT(refusal(ask(ns, R"({"op":"purge","queue":"x"})"), "not_found"), HasSubstr("queue 'x' not found"));
}

TEST(ShmqdControlTest, MultiProcessStoppedDaemonTimesOutInsteadOfHanging) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  ASSERT_EQ(::kill(daemon.pid(), SIGSTOP), 0);
  {
    shmq::Client client({.ns = ns.name(), .daemon_timeout = 300ms});
    const std::uint64_t start = shmq::test::now_ms();
    try {
      client.create_queue("late", small_queue());
      ADD_FAILURE() << "a stopped daemon created a queue";
    } catch (const shmq::Error& e) {
      EXPECT_EQ(e.value(), errc::timeout) << e.what();
      EXPECT_THAT(e.what(), HasSubstr("did not reply within 300 ms"));
    }
    EXPECT_LT(shmq::test::now_ms() - start, 5'000U);
  }
  ASSERT_EQ(::kill(daemon.pid(), SIGCONT), 0);
}

TEST(ShmqdControlTest, MultiProcessWithoutADaemonCreateFallsBackAndPurgeSaysToStartOne) {
  TestNamespace ns;
  const std::string sock = shmq::admin::control_socket_path(ns.name());
  {
    shmq::Client client({.ns = ns.name()});
    client.create_queue("direct", small_queue());
    EXPECT_TRUE(exists(ns.queue_path("direct")));
    try {
      (void)client.purge_queue("direct");
      ADD_FAILURE() << "purged without a daemon";
    } catch (const shmq::Error& e) {
      EXPECT_EQ(e.value(), errc::daemon_unavailable);
      EXPECT_EQ(std::string(e.what()),
                "no shmqd in namespace " + ns.name() + ": start `shmqd --namespace " + ns.name() + "`");
    }
    EXPECT_TRUE(client.delete_queue("direct"));
    EXPECT_FALSE(client.delete_queue("direct"));

    // A socket file a dead daemon left (nobody listens): the same fall-back.
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::close(fd);
    ASSERT_TRUE(exists(sock));
    client.create_queue("stale", small_queue());
    EXPECT_TRUE(exists(ns.queue_path("stale")));
  }
  // A daemon started now replaces the stale socket and serves.
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  EXPECT_THAT(daemon.err(), HasSubstr("removed the stale control socket"));
  EXPECT_EQ(ask(ns, R"({"op":"delete","queue":"stale"})"), json({{"ok", true}}));
  // Stopped cleanly, it removes its socket: clients fall back at once.
  daemon.stop(SIGTERM);
  EXPECT_FALSE(exists(sock));
}

}  // namespace
