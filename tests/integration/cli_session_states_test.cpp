// shmq-cli's README promise on session states, checked against the real
// binaries (issue 12): a consumer shows alive, then hung when stopped without
// shmqd, fenced when shmqd fences it, dead when killed, and gone once its
// registry entry is free, the same in `stat` and `sessions`, JSON and text.
//
// Children are forked while the test holds no Client; every wait is bounded
// and waits on a condition (a pipe, the registry, the CLI's own output).
#include <gtest/gtest.h>

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "children.hpp"
#include "cli_fixture.hpp"
#include "core/registry.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::fail;
using shmq::test::Pipe;
using shmq::test::ProgramResult;
using shmq::test::SharedArray;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::Victim;
using shmq::test::cli_tests::cli;
using shmq::test::cli_tests::cli_json;
using shmq::test::cli_tests::CliPromises;
using shmq::test::cli_tests::create_queue;
using shmq::test::cli_tests::eventually;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::kLimit;

// ---- session states in stat and sessions ------------------------------------

shmq::ClientOptions quick_heartbeat(const TestNamespace& ns) {
  shmq::ClientOptions o;
  o.ns = ns.name();
  o.heartbeat_interval = 20ms;
  o.heartbeat_timeout = 200ms;
  return o;
}

// A consumer of q that leases one message, reports its session and that it
// holds it, and waits to be stopped or killed.
int holding_consumer(const TestNamespace& ns, std::atomic<std::uint32_t>& session, const Pipe& holding) {
  shmq::Client c(quick_heartbeat(ns));
  session = c.session_id();
  shmq::Consumer consumer = c.consumer("q");
  const shmq::Message m = consumer.receive(20s);
  if (!m) return fail(70, "receive: %s", shmq::to_string(m.status()));
  if (!holding.signal()) return fail(71, "cannot report holding");
  ::pause();
  return 0;
}

// The state `shmq-cli stat q --json` gives consumer `owner` of group 0 ("" if
// it lists none), and the one it gives session `owner` among the sessions.
std::string consumer_state(const TestNamespace& ns, std::uint32_t owner) {
  const nlohmann::json j = cli_json(ns, {"stat", "q"});
  if (j.is_null()) return "";
  for (const auto& c : j["groups"][0]["consumers"])
    if (c["session"] == owner) return c["state"];
  return "";
}
std::string stat_session_state(const TestNamespace& ns, std::uint32_t owner) {
  const nlohmann::json j = cli_json(ns, {"stat", "q"});
  if (j.is_null()) return "";
  for (const auto& s : j["sessions"])
    if (s["session"] == owner) return s["state"];
  return "";
}
// The state `shmq-cli sessions --json` gives session `owner` ("" if not listed).
std::string sessions_state(const TestNamespace& ns, std::uint32_t owner) {
  const nlohmann::json j = cli_json(ns, {"sessions"});
  if (j.is_null()) return "";
  for (const auto& s : j["sessions"])
    if (s["session"] == owner) return s["state"];
  return "";
}
// The text line of `shmq-cli ARGS` that names `pid`.
std::string line_naming(const TestNamespace& ns, const std::vector<std::string>& args, pid_t pid) {
  const ProgramResult r = cli(ns, args);
  const std::string p = " " + std::to_string(pid) + " ";
  std::size_t start = 0;
  for (std::size_t end; (end = r.out.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = " " + r.out.substr(start, end - start) + " ";
    if (line.find(p) != std::string::npos) return line;
  }
  return "";
}
bool shows(const std::string& line, const std::string& state) { return line.find(" " + state + " ") != std::string::npos; }

// The text of `stat q` and of `sessions` both show `pid` in `state`.
void expect_text_shows(const TestNamespace& ns, pid_t pid, const std::string& state) {
  const std::string stat_line = line_naming(ns, {"stat", "q"}, pid);
  EXPECT_TRUE(shows(stat_line, state)) << stat_line;
  const std::string sessions_line = line_naming(ns, {"sessions"}, pid);
  EXPECT_TRUE(shows(sessions_line, state)) << sessions_line;
}

// Without shmqd nobody fences a stopped consumer: it stays hung.
TEST_F(CliPromises, StoppedConsumerIsHungWithoutShmqd) {
  create_queue(ns_, "q");
  ASSERT_TRUE(exited_with(cli(ns_, {"send", "q", "m"}), 0));
  SharedArray<std::atomic<std::uint32_t>> session(1);
  Pipe holding;
  Victim victim([&] { return holding_consumer(ns_, session[0], holding); });
  ASSERT_TRUE(holding.wait(kLimit));
  const std::uint32_t o = session[0].load();
  EXPECT_EQ(consumer_state(ns_, o), "alive");
  EXPECT_EQ(sessions_state(ns_, o), "alive");
  ASSERT_TRUE(victim.signal(SIGSTOP));
  EXPECT_TRUE(eventually([&] { return consumer_state(ns_, o) == "hung"; })) << consumer_state(ns_, o);
  EXPECT_EQ(stat_session_state(ns_, o), "hung");
  EXPECT_EQ(sessions_state(ns_, o), "hung");
  expect_text_shows(ns_, victim.pid(), "hung");
}

// With shmqd the stopped consumer is fenced (and its lease taken back).
TEST_F(CliPromises, StoppedConsumerIsFencedByShmqd) {
  Shmqd daemon(ns_);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  create_queue(ns_, "q");
  ASSERT_TRUE(exited_with(cli(ns_, {"send", "q", "m"}), 0));
  SharedArray<std::atomic<std::uint32_t>> session(1);
  Pipe holding;
  Victim victim([&] { return holding_consumer(ns_, session[0], holding); });
  ASSERT_TRUE(holding.wait(kLimit));
  const std::uint32_t o = session[0].load();
  ASSERT_TRUE(victim.signal(SIGSTOP));
  EXPECT_TRUE(eventually([&] { return sessions_state(ns_, o) == "fenced"; })) << daemon.err();
  EXPECT_EQ(stat_session_state(ns_, o), "fenced");
  expect_text_shows(ns_, victim.pid(), "fenced");
}

// Killed with no shmqd to recover it: the registry still names it (dead);
// once its entry is Free, its lease names a session that has left (gone).
TEST_F(CliPromises, KilledConsumerIsDeadThenGoneOnceItsEntryIsFree) {
  create_queue(ns_, "q");
  ASSERT_TRUE(exited_with(cli(ns_, {"send", "q", "m"}), 0));
  SharedArray<std::atomic<std::uint32_t>> session(1);
  Pipe holding;
  Victim victim([&] { return holding_consumer(ns_, session[0], holding); });
  ASSERT_TRUE(holding.wait(kLimit));
  const std::uint32_t o = session[0].load();
  const pid_t pid = victim.pid();
  ASSERT_TRUE(victim.signal(SIGKILL));
  (void)victim.wait(kLimit);
  EXPECT_EQ(consumer_state(ns_, o), "dead");
  EXPECT_EQ(sessions_state(ns_, o), "dead");
  EXPECT_TRUE(shows(line_naming(ns_, {"stat", "q"}, pid), "dead")) << line_naming(ns_, {"stat", "q"}, pid);
  EXPECT_TRUE(shows(line_naming(ns_, {"sessions"}, pid), "dead")) << line_naming(ns_, {"sessions"}, pid);

  // Its entry freed as a detach would, the lease left behind.
  {
    ASSERT_TRUE(shmq::detail::release_session(shmq::detail::open_or_create_registry(ns_.name()).view, o));
  }
  EXPECT_EQ(consumer_state(ns_, o), "gone");
  EXPECT_EQ(sessions_state(ns_, o), "") << "a Free entry is no session";
  const ProgramResult text = cli(ns_, {"stat", "q"});
  EXPECT_NE(text.out.find(" gone"), std::string::npos) << text.out;
}

}  // namespace
