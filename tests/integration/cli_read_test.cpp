// shmq-cli's read commands end to end (the real binary against real segments
// in a namespace of its own): stat and list with their documented JSON, help
// with an example for every command, and stat and sessions showing who holds
// what, telling a dead consumer from a live one.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::ProgramResult;
using shmq::test::cli_tests::Cli;
using shmq::test::cli_tests::describe;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::has_keys;

// ---- read commands and their JSON --------------------------------------------

TEST_F(Cli, StatJsonHasTheDocumentedShape) {
  create("orders", {"--groups", "billing,audit", "--at-most-once", "audit", "--max-deliveries", "3"});
  ASSERT_TRUE(exited_with(cli({"send", "orders", "hello"}), 0));
  const ProgramResult r = cli({"stat", "orders", "--json"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(has_keys(j, {"name", "capacity", "slot_size", "free", "groups", "sessions"})) << j.dump();
  EXPECT_EQ(j["name"], "orders");
  EXPECT_EQ(j["capacity"], 1024);
  EXPECT_EQ(j["slot_size"], 64);
  EXPECT_EQ(j["free"], 1023);
  ASSERT_EQ(j["groups"].size(), 2U);
  for (const auto& g : j["groups"]) {
    EXPECT_TRUE(has_keys(g, {"name", "mode", "ready", "leased", "delivered", "acked", "redelivered", "dead_lettered",
                             "oldest_unacked_age_ms", "consumers"}))
        << g.dump();
    EXPECT_EQ(g["ready"], 1);
    EXPECT_TRUE(g["oldest_unacked_age_ms"].is_number());
  }
  EXPECT_EQ(j["groups"][0]["name"], "billing");
  EXPECT_EQ(j["groups"][0]["mode"], "at-least-once");
  EXPECT_EQ(j["groups"][1]["mode"], "at-most-once");
  EXPECT_TRUE(j["sessions"].is_array());

  const ProgramResult human = cli({"stat", "orders"});
  ASSERT_TRUE(exited_with(human, 0)) << describe(human);
  EXPECT_NE(human.out.find("billing"), std::string::npos);
  EXPECT_NE(human.out.find("OLDEST UNACKED"), std::string::npos);
}

TEST_F(Cli, ListShowsEveryQueueWithDepthPerGroup) {
  create("a");
  create("b", {"--groups", "x,y"});
  ASSERT_TRUE(exited_with(cli({"send", "b"}, "1\n2\n"), 0));
  const ProgramResult r = cli({"list", "--json"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["queues"].size(), 2U);
  const nlohmann::json& b = j["queues"][1];
  EXPECT_EQ(b["name"], "b");
  EXPECT_TRUE(has_keys(b, {"name", "capacity", "slot_size", "free", "in_flight", "sessions", "groups"}));
  EXPECT_EQ(b["groups"][1]["name"], "y");
  EXPECT_EQ(b["groups"][1]["depth"], 2);
  const ProgramResult human = cli({"list"});
  EXPECT_NE(human.out.find("x=2 y=2"), std::string::npos) << human.out;
}

TEST_F(Cli, EveryCommandHasHelpWithAnExample) {
  for (const char* c : {"list", "stat", "watch", "create", "delete", "purge", "send", "recv", "peek", "dlq",
                        "sessions", "check", "gc"}) {
    const ProgramResult r = cli({c, "--help"});
    EXPECT_TRUE(exited_with(r, 0)) << c << ": " << describe(r);
    EXPECT_NE(r.out.find("Example:"), std::string::npos) << c << ": " << r.out;
  }
}

// ---- sessions and consumers ---------------------------------------------------

TEST_F(Cli, MultiProcessStatShowsWhoHoldsWhatAndTellsADeadConsumer) {
  create("q");
  ASSERT_TRUE(exited_with(cli({"send", "q"}, "1\n2\n3\n"), 0));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const std::string name = ns();
  const pid_t child = shmq::test::fork_child([&] {
    shmq::Client client(shmq::ClientOptions{.ns = name});
    shmq::Consumer c = client.consumer("q");
    for (int i = 0; i < 2; ++i) c.receive(5s).keep_lease();
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) return 1;
    ::pause();
    return 0;
  });
  char byte = 0;
  ASSERT_TRUE(shmq::test::read_exact(ready[0], &byte, 1, 30s));

  nlohmann::json j = nlohmann::json::parse(cli({"stat", "q", "--json"}).out);
  const nlohmann::json& g = j["groups"][0];
  EXPECT_EQ(g["leased"], 2);
  EXPECT_EQ(g["ready"], 1);
  ASSERT_EQ(g["consumers"].size(), 1U) << g.dump();
  const nlohmann::json& c = g["consumers"][0];
  EXPECT_TRUE(has_keys(c, {"session", "pid", "leased", "heartbeat_age_ms"}));
  EXPECT_EQ(c["pid"], child);
  EXPECT_EQ(c["leased"], 2);
  EXPECT_EQ(c["state"], "alive");
  ASSERT_EQ(j["sessions"].size(), 1U);
  EXPECT_TRUE(has_keys(j["sessions"][0], {"session", "pid", "role", "heartbeat_age_ms", "state"}));
  EXPECT_EQ(j["sessions"][0]["role"], "consumer");

  const nlohmann::json s = nlohmann::json::parse(cli({"sessions", "--json"}).out);
  ASSERT_EQ(s["sessions"].size(), 1U);
  EXPECT_EQ(s["sessions"][0]["pid"], child);
  EXPECT_EQ(s["sessions"][0]["queues"][0]["name"], "q");

  ::kill(child, SIGKILL);
  (void)shmq::test::wait_child(child, 30s);
  j = nlohmann::json::parse(cli({"stat", "q", "--json"}).out);
  EXPECT_EQ(j["groups"][0]["consumers"][0]["state"], "dead");
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
