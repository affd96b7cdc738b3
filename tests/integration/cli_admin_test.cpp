// shmq-cli's administration end to end (the real binary against real segments
// and a real shmqd, each in a namespace of its own): create, purge and delete
// through the daemon, the dead-letter area listed, replayed and purged, and gc
// removing what dead processes left while keeping every live namespace.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::ProgramResult;
using shmq::test::TestNamespace;
using shmq::test::cli_tests::Cli;
using shmq::test::cli_tests::describe;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::has_keys;
using shmq::test::cli_tests::json_lines;

// ---- through the daemon --------------------------------------------------------

TEST_F(Cli, MultiProcessCreatePurgeDeleteGoThroughTheDaemon) {
  shmq::test::Shmqd shmqd(ns_);
  ASSERT_TRUE(shmqd.wait_ready()) << shmqd.err();
  create("q", {"--groups", "a,b"});
  ASSERT_TRUE(exited_with(cli({"send", "q"}, "1\n2\n3\n"), 0));
  ASSERT_TRUE(exited_with(cli({"recv", "q", "--group", "a"}), 0));  // a: 2 left, b: 3
  const ProgramResult p = cli({"purge", "q"});
  ASSERT_TRUE(exited_with(p, 0)) << describe(p);
  EXPECT_NE(p.out.find("5 message(s) dropped"), std::string::npos) << p.out;
  const nlohmann::json j = nlohmann::json::parse(cli({"stat", "q", "--json"}).out);
  EXPECT_EQ(j["groups"][0]["ready"], 0);
  EXPECT_EQ(j["groups"][1]["ready"], 0);
  EXPECT_EQ(j["free"], 1024);
  const ProgramResult d = cli({"delete", "q"});
  ASSERT_TRUE(exited_with(d, 0)) << describe(d);
  EXPECT_EQ(nlohmann::json::parse(cli({"list", "--json"}).out)["queues"].size(), 0U);
  EXPECT_TRUE(shmqd.wait_for("purge q: ok")) << shmqd.err();
  EXPECT_TRUE(shmqd.wait_for("create q: ok")) << shmqd.err();
}

// ---- dead letters ---------------------------------------------------------------

TEST_F(Cli, MultiProcessDeadLetterListReplayPurge) {
  create("q", {"--max-deliveries", "1", "--groups", "a,b"});
  ASSERT_TRUE(exited_with(cli({"send", "q"}, "first\nsecond\n"), 0));
  // Group a gives up on both: each delivered once, not acked, and past
  // max_deliveries the next receive moves them to the dead-letter area.
  ASSERT_TRUE(exited_with(cli({"recv", "q", "--group", "a", "-n", "2", "--no-ack"}), 0));
  const ProgramResult none = cli({"recv", "q", "--group", "a", "--timeout", "100"});
  ASSERT_TRUE(exited_with(none, 6)) << describe(none);

  ProgramResult l = cli({"dlq", "q", "list", "--json"});
  ASSERT_TRUE(exited_with(l, 0)) << describe(l);
  auto letters = json_lines(l.out);
  ASSERT_EQ(letters.size(), 2U) << l.out;
  EXPECT_TRUE(has_keys(letters[0], {"id", "group", "delivery_count", "reason", "dead_for_ms", "size", "data"}));
  EXPECT_EQ(letters[0]["group"], "a");
  const std::uint64_t first_id = letters[0]["data"] == "first" ? letters[0]["id"] : letters[1]["id"];

  const ProgramResult replay = cli({"dlq", "q", "replay", "--id", std::to_string(first_id)});
  ASSERT_TRUE(exited_with(replay, 0)) << describe(replay);
  EXPECT_NE(replay.out.find("replayed 1 dead letter"), std::string::npos) << replay.out;
  const ProgramResult again = cli({"recv", "q", "--group", "a", "--json", "--timeout", "5000"});
  ASSERT_TRUE(exited_with(again, 0)) << describe(again);
  EXPECT_EQ(json_lines(again.out).at(0)["id"], first_id);
  EXPECT_EQ(json_lines(again.out).at(0)["data"], "first");

  const ProgramResult missing = cli({"dlq", "q", "replay", "--id", "999999"});
  EXPECT_TRUE(exited_with(missing, 3)) << describe(missing);
  EXPECT_NE(missing.err.find("no dead letter with id 999999"), std::string::npos) << missing.err;

  const ProgramResult purge = cli({"dlq", "q", "purge"});
  ASSERT_TRUE(exited_with(purge, 0)) << describe(purge);
  EXPECT_NE(purge.out.find("purged 1 dead letter"), std::string::npos) << purge.out;
  l = cli({"dlq", "q", "list", "--json"});
  EXPECT_TRUE(json_lines(l.out).empty()) << l.out;
  // Group b never lost anything.
  const ProgramResult b = cli({"recv", "q", "--group", "b", "-n", "2", "--timeout", "5000"});
  EXPECT_TRUE(exited_with(b, 0)) << describe(b);
  EXPECT_TRUE(exited_with(cli({"check", "q"}), 0));
}

// ---- gc -----------------------------------------------------------------------

TEST_F(Cli, MultiProcessGcRemovesWhatDeadProcessesLeftAndNothingLive) {
  TestNamespace dead;
  TestNamespace live;
  TestNamespace daemon_only;
  // A process creates a queue and dies without cleaning up (its session stays
  // in the registry, naming a pid that is gone).
  const std::string dead_ns = dead.name();
  const pid_t child = shmq::test::fork_child([&] {
    shmq::Client client(shmq::ClientOptions{.ns = dead_ns});
    client.create_queue("left", {.capacity = 8, .slot_size = 8});
    std::_Exit(0);
    return 0;
  });
  ASSERT_TRUE(shmq::test::wait_child(child, 30s).exited);
  ASSERT_FALSE(dead.objects().empty());
  // A namespace with only a running shmqd, and one with a live session (the
  // Client last: fork while this process holds none).
  shmq::test::Shmqd shmqd(daemon_only);
  ASSERT_TRUE(shmqd.wait_ready()) << shmqd.err();
  shmq::Client client(shmq::ClientOptions{.ns = live.name()});
  client.create_queue("busy", {.capacity = 8, .slot_size = 8});
  const auto live_before = live.objects();
  const auto daemon_before = daemon_only.objects();

  ProgramResult r = cli_in(dead, {"gc", "--dry-run"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  EXPECT_NE(r.out.find("would remove /dev/shm/shmq." + dead_ns + ".q.left"), std::string::npos) << r.out;
  EXPECT_FALSE(dead.objects().empty());

  // --all sees every namespace; a dry run changes nothing anywhere.
  r = cli_in(dead, {"gc", "--all", "--dry-run", "--json"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  std::map<std::string, std::string> kept;
  for (const auto& k : j["kept"]) kept[k["namespace"]] = k["reason"];
  EXPECT_NE(kept[live.name()].find("live session"), std::string::npos) << r.out;
  EXPECT_NE(kept[daemon_only.name()].find("shmqd (pid " + std::to_string(shmqd.pid()) + ")"), std::string::npos)
      << r.out;
  EXPECT_NE(j["removed"].dump().find("shmq." + dead_ns + ".registry"), std::string::npos) << r.out;

  r = cli_in(dead, {"gc"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  EXPECT_NE(r.out.find("removed /dev/shm/shmq." + dead_ns + ".q.left"), std::string::npos) << r.out;
  EXPECT_TRUE(dead.objects().empty()) << "left: " << dead.objects().size();

  for (const TestNamespace* ns : {&live, &daemon_only}) {
    r = cli_in(*ns, {"gc"});
    ASSERT_TRUE(exited_with(r, 0)) << describe(r);
    EXPECT_NE(r.out.find("keeping namespace " + ns->name()), std::string::npos) << r.out;
  }
  // objects() lists /dev/shm again: what gc left (cppcheck takes it for a pure function).
  // cppcheck-suppress knownConditionTrueFalse
  EXPECT_EQ(live.objects(), live_before);
  // cppcheck-suppress knownConditionTrueFalse
  EXPECT_EQ(daemon_only.objects(), daemon_before);
}

}  // namespace
