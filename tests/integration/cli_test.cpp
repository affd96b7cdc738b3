// shmq-cli end to end: the real binary against real segments (and a real shmqd
// where the command needs one) in a namespace of its own. Every error class
// has its exit code and message checked; the redelivery story is told with
// shell commands only; watch runs under a pseudo-terminal.
#include <gtest/gtest.h>

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::ProgramResult;
using shmq::test::run_program;
using shmq::test::TestNamespace;

const std::string kCli = SHMQ_TEST_SHMQ_CLI_PATH;
constexpr auto kLimit = 60s;  // only a broken program reaches it

std::string describe(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit.code) + " signal " + std::to_string(r.exit.signal) +
         (r.exit.timed_out ? " (timed out)" : "") + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

bool exited_with(const ProgramResult& r, int code) { return r.exit.exited && r.exit.code == code; }

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    if (end > start) out.push_back(nlohmann::json::parse(text.substr(start, end - start)));
  return out;
}

std::set<std::string> keys_of(const nlohmann::json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

bool has_keys(const nlohmann::json& object, const std::set<std::string>& wanted) {
  const std::set<std::string> keys = keys_of(object);
  for (const std::string& k : wanted)
    if (keys.count(k) == 0) return false;
  return true;
}

class Cli : public ::testing::Test {
 protected:
  // shmq-cli --namespace <ns> args...
  ProgramResult cli(std::vector<std::string> args, const std::string& input = {}) const {
    return cli_in(ns_, std::move(args), input);
  }
  static ProgramResult cli_in(const TestNamespace& ns, std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), {kCli, "--namespace", ns.name()});
    return run_program(args, kLimit, input);
  }
  void create(const std::string& queue, std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"create", queue, "--capacity", "1024", "--slot-size", "64"};
    args.insert(args.end(), extra.begin(), extra.end());
    const ProgramResult r = cli(args);
    ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  }
  [[nodiscard]] const std::string& ns() const { return ns_.name(); }

  TestNamespace ns_;
};

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

// ---- send, recv, peek ---------------------------------------------------------

TEST_F(Cli, SendAndRecvCarryTextAndBinaryPayloads) {
  create("q");
  char path[] = "/tmp/shmq_cli_test_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const unsigned char binary[] = {0xFF, 0x00, 0xFE, 'a'};
  ASSERT_EQ(::write(fd, binary, sizeof binary), static_cast<ssize_t>(sizeof binary));
  ::close(fd);
  const ProgramResult s1 = cli({"send", "q", "héllo"});
  const ProgramResult s2 = cli({"send", "q", "--file", path});
  ::unlink(path);
  ASSERT_TRUE(exited_with(s1, 0)) << describe(s1);
  ASSERT_TRUE(exited_with(s2, 0)) << describe(s2);
  EXPECT_NE(s1.out.find("id 1024"), std::string::npos) << s1.out;

  const ProgramResult r = cli({"recv", "q", "-n", "2", "--json"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2U) << r.out;
  EXPECT_EQ(keys_of(lines[0]), (std::set<std::string>{"id", "delivery_count", "size", "data"}));
  EXPECT_EQ(lines[0]["data"], "héllo");
  EXPECT_EQ(lines[0]["id"], 1024);
  EXPECT_EQ(lines[0]["delivery_count"], 1);
  EXPECT_EQ(keys_of(lines[1]), (std::set<std::string>{"id", "delivery_count", "size", "data_base64"}));
  EXPECT_EQ(lines[1]["data_base64"], "/wD+YQ==");
  EXPECT_EQ(lines[1]["size"], 4);
}

TEST_F(Cli, PeekShowsWaitingMessagesWithoutTakingThem) {
  create("q");
  ASSERT_TRUE(exited_with(cli({"send", "q"}, "one\ntwo\nthree\n"), 0));
  const ProgramResult p = cli({"peek", "q", "-n", "2", "--json"});
  ASSERT_TRUE(exited_with(p, 0)) << describe(p);
  const auto lines = json_lines(p.out);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0]["data"], "one");
  EXPECT_EQ(lines[1]["data"], "two");
  EXPECT_EQ(lines[0]["delivery_count"], 0);
  const ProgramResult r = cli({"recv", "q", "-n", "3", "--json"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  EXPECT_EQ(json_lines(r.out).at(0)["data"], "one");
}

// The redelivery story from a shell: send 1000, take 5 without acking (they
// come back when that process is gone), then all 1000 arrive, those 5 twice.
TEST_F(Cli, MultiProcessRedeliveryStoryFromTheShell) {
  create("jobs");
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += "job-" + std::to_string(i) + "\n";
  const ProgramResult s = cli({"send", "jobs"}, lines);
  ASSERT_TRUE(exited_with(s, 0)) << describe(s);
  EXPECT_NE(s.out.find("sent 1000 messages"), std::string::npos) << s.out;

  const ProgramResult first = cli({"recv", "jobs", "-n", "5", "--no-ack", "--json"});
  ASSERT_TRUE(exited_with(first, 0)) << describe(first);
  std::set<std::uint64_t> unacked;
  for (const auto& m : json_lines(first.out)) unacked.insert(m["id"].get<std::uint64_t>());
  ASSERT_EQ(unacked.size(), 5U);

  const ProgramResult all = cli({"recv", "jobs", "-n", "1000", "--json", "--timeout", "30000"});
  ASSERT_TRUE(exited_with(all, 0)) << describe(all);
  std::map<std::uint64_t, std::uint32_t> count_of;
  for (const auto& m : json_lines(all.out)) count_of[m["id"].get<std::uint64_t>()] = m["delivery_count"];
  ASSERT_EQ(count_of.size(), 1000U);
  EXPECT_EQ(count_of.begin()->first, 1024U);
  EXPECT_EQ(count_of.rbegin()->first, 2023U);
  std::set<std::uint64_t> twice;
  for (const auto& [id, count] : count_of)
    if (count == 2) twice.insert(id);
    else EXPECT_EQ(count, 1U) << "id " << id;
  EXPECT_EQ(twice, unacked);

  const ProgramResult check = cli({"check", "jobs"});
  EXPECT_TRUE(exited_with(check, 0)) << describe(check);
  EXPECT_NE(check.out.find("jobs: ok"), std::string::npos) << check.out;
}

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

// ---- errors: exit code and message --------------------------------------------

TEST_F(Cli, BadNumbersAreUsageErrors) {
  ProgramResult r = cli({"create", "q", "--capacity", "abc", "--slot-size", "64"});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("--capacity"), std::string::npos) << r.err;
  r = cli({"create", "q", "--capacity", "1000", "--slot-size", "64"});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("power of two"), std::string::npos) << r.err;
  r = cli({"create", "q", "--capacity", "8", "--slot-size", "64", "--mode", "0999"});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("mode '0999' is invalid"), std::string::npos) << r.err;
  create("q");
  r = cli({"recv", "q", "-n", "0"});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("'0' is invalid"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

TEST_F(Cli, BadNamesAreUsageErrors) {
  ProgramResult r = cli({"create", "no/slash", "--capacity", "8", "--slot-size", "8"});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("queue name 'no/slash' is invalid"), std::string::npos) << r.err;
  r = run_program({kCli, "--namespace", "a.b", "list"}, kLimit);
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("namespace 'a.b' is invalid"), std::string::npos) << r.err;
  create("q", {"--groups", "a,b"});
  r = cli({"recv", "q"});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("choose one with --group"), std::string::npos) << r.err;
  r = cli({"recv", "q", "--group", "zz"});
  EXPECT_TRUE(exited_with(r, 3)) << describe(r);
  EXPECT_NE(r.err.find("no consumer group 'zz'"), std::string::npos) << r.err;
}

TEST_F(Cli, UnknownQueueIsNotFound) {
  for (std::vector<std::string> args : {std::vector<std::string>{"stat", "nope"}, {"send", "nope", "x"},
                                        {"recv", "nope"}, {"peek", "nope"}, {"check", "nope"},
                                        {"dlq", "nope", "list"}, {"delete", "nope"}}) {
    const ProgramResult r = cli(args);
    EXPECT_TRUE(exited_with(r, 3)) << args[0] << ": " << describe(r);
    EXPECT_NE(r.err.find("'nope' not found"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("`shmq-cli list`"), std::string::npos) << r.err;
  }
}

TEST_F(Cli, ExistingQueueIsAlreadyExists) {
  create("q");
  const ProgramResult r = cli({"create", "q", "--capacity", "8", "--slot-size", "8"});
  EXPECT_TRUE(exited_with(r, 9)) << describe(r);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
}

TEST_F(Cli, TooLargeMessageIsRefusedAndNothingIsSent) {
  create("q");
  const ProgramResult r = cli({"send", "q", std::string(65, 'x')});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("65 bytes, larger than the slot size of queue 'q' (64 bytes)"), std::string::npos) << r.err;
  const ProgramResult lines = cli({"send", "q"}, "ok\n" + std::string(100, 'y') + "\n");
  EXPECT_TRUE(exited_with(lines, 2)) << describe(lines);
  EXPECT_NE(lines.err.find("line 2 is 100 bytes"), std::string::npos) << lines.err;
  const nlohmann::json j = nlohmann::json::parse(cli({"stat", "q", "--json"}).out);
  EXPECT_EQ(j["groups"][0]["ready"], 1);  // line 1 only
}

TEST_F(Cli, SendFileThatIsADirectoryIsAUsageErrorAndSendsNothing) {
  create("q");
  const std::string dir = std::filesystem::temp_directory_path().string();
  const ProgramResult r = cli({"send", "q", "--file", dir});
  EXPECT_TRUE(exited_with(r, 2)) << describe(r);
  EXPECT_NE(r.err.find("--file " + dir + " is a directory"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  const nlohmann::json j = nlohmann::json::parse(cli({"stat", "q", "--json"}).out);
  EXPECT_EQ(j["groups"][0]["ready"], 0);
}

TEST_F(Cli, NegativeOrNonNumericDeadLetterIdIsAUsageError) {
  create("q");
  for (const std::string id : {"-1", "abc", "1x", "+1", "18446744073709551616"}) {
    const ProgramResult r = cli({"dlq", "q", "list", "--id", id});
    EXPECT_TRUE(exited_with(r, 2)) << id << ": " << describe(r);
    EXPECT_NE(r.err.find("'" + id + "' is invalid"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  // A well-formed id that names no dead letter is not found.
  const ProgramResult r = cli({"dlq", "q", "list", "--id", "1024"});
  EXPECT_TRUE(exited_with(r, 3)) << describe(r);
}

TEST_F(Cli, FullQueueExitsWithQueueFull) {
  ASSERT_TRUE(exited_with(cli({"create", "q", "--capacity", "2", "--slot-size", "8"}), 0));
  const ProgramResult r = cli({"send", "q"}, "1\n2\n3\n");
  EXPECT_TRUE(exited_with(r, 7)) << describe(r);
  EXPECT_NE(r.err.find("queue 'q' is full: 2 message(s) sent"), std::string::npos) << r.err;
  const ProgramResult waited = cli({"send", "q", "x", "--timeout", "50"});
  EXPECT_TRUE(exited_with(waited, 7)) << describe(waited);
  EXPECT_NE(waited.err.find("after waiting 50 ms"), std::string::npos) << waited.err;
}

TEST_F(Cli, RecvTimeoutExitsWithTimeoutAfterPrintingWhatCame) {
  create("q");
  ASSERT_TRUE(exited_with(cli({"send", "q", "only"}), 0));
  const ProgramResult r = cli({"recv", "q", "-n", "2", "--timeout", "200", "--json"});
  EXPECT_TRUE(exited_with(r, 6)) << describe(r);
  EXPECT_EQ(json_lines(r.out).size(), 1U);
  EXPECT_NE(r.err.find("received 1 of 2 message(s)"), std::string::npos) << r.err;
}

TEST_F(Cli, PurgeWithoutDaemonSaysHowToStartOne) {
  create("q");
  const ProgramResult r = cli({"purge", "q"});
  EXPECT_TRUE(exited_with(r, 5)) << describe(r);
  EXPECT_NE(r.err.find("no shmqd in namespace " + ns() + ": start `shmqd --namespace " + ns() + "`"),
            std::string::npos)
      << r.err;
}

TEST_F(Cli, PermissionRefusalExitsWithPermission) {
  create("q");  // mode 0600, owned by this (root) user
  const ProgramResult r =
      run_program({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kCli, "--namespace",
                   ns(), "stat", "q"},
                  kLimit);
  EXPECT_TRUE(exited_with(r, 4)) << describe(r);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
}

TEST_F(Cli, CheckListsProblemsAndFails) {
  create("q");
  {
    shmq::detail::MappedQueue q = shmq::detail::open_queue_segment(ns(), "q");
    // A lease word three laps away from its slot: nobody accounts for it.
    q.view.lease(0, 5).word.store(shmq::detail::lease_word(3, shmq::detail::LeaseState::Done, 0, 0));
  }
  const ProgramResult r = cli({"check", "q"});
  EXPECT_TRUE(exited_with(r, 8)) << describe(r);
  EXPECT_NE(r.out.find("slot 5 group 0 has a lease word of lap 3"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("check failed"), std::string::npos) << r.err;
  const ProgramResult j = cli({"check", "q", "--json"});
  EXPECT_TRUE(exited_with(j, 8)) << describe(j);
  EXPECT_FALSE(nlohmann::json::parse(j.out)["ok"].get<bool>());
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

// ---- watch --------------------------------------------------------------------

// Runs shmq-cli under a pseudo-terminal; reads its screen.
class Pty {
 public:
  explicit Pty(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    winsize ws{};
    ws.ws_row = 50;
    ws.ws_col = 200;
    pid_ = ::forkpty(&fd_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      ::execv(args[0], args.data());
      std::_Exit(127);
    }
  }
  ~Pty() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      (void)shmq::test::wait_child(pid_, 10s);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  // Reads until the screen text contains every needle, or `limit`.
  bool wait_for(const std::vector<std::string>& needles, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      bool all = true;
      for (const std::string& n : needles) all = all && screen_.find(n) != std::string::npos;
      if (all) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return false;
    }
  }
  void type(const std::string& keys) { ASSERT_EQ(::write(fd_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size())); }
  // Reads the screen until the program closes it (it exits), then reaps it;
  // after `limit` it is killed (a watch that ignores its quit key redraws
  // for ever: its output alone must not keep the test reading).
  shmq::test::ChildExit wait_exit(std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (auto left = limit; left.count() > 0 && read_some(static_cast<int>(left.count()));) {
      left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    }
    reaped_ = true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const auto e = shmq::test::wait_child(pid_, std::max(left, 0ms));
    while (read_some(0)) {  // what is left in the terminal: a bounded amount, the program is gone
    }
    return e;
  }
  [[nodiscard]] const std::string& screen() const { return screen_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;  // EIO once the child is gone
    screen_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string screen_;
};

TEST_F(Cli, MultiProcessWatchRedrawsOnATerminalAndQuitsOnQ) {
  create("orders", {"--groups", "billing,audit"});
  ASSERT_TRUE(exited_with(cli({"send", "orders"}, "1\n2\n3\n"), 0));
  Pty pty({kCli, "--namespace", ns(), "watch", "orders", "--interval", "100"});
  ASSERT_TRUE(pty.wait_for({"\x1b[?1049h", "QUEUE", "orders", "billing", "audit", "OUT/S", "(q: quit)"}))
      << pty.screen();
  // Rates show once a second frame is drawn: messages flow meanwhile.
  ASSERT_TRUE(exited_with(cli({"recv", "orders", "--group", "billing", "-n", "3"}), 0));
  // A later frame, drawn over the first (cursor home), with billing drained
  // and rates as numbers.
  ASSERT_TRUE(pty.wait_for({"billing  at-least-once  0  ", "0.0"}, 30s)) << pty.screen();
  std::size_t frames = 0;
  for (std::size_t at = 0; (at = pty.screen().find("\x1b[H", at)) != std::string::npos; ++at) ++frames;
  EXPECT_GE(frames, 2U);
  pty.type("q");
  const auto e = pty.wait_exit();
  EXPECT_TRUE(e.exited && e.code == 0) << pty.screen();
  // The terminal is given back: cursor shown, main screen restored.
  EXPECT_NE(pty.screen().find("\x1b[?25h\x1b[?1049l"), std::string::npos);
}

TEST_F(Cli, MultiProcessWatchQuitsOnCtrlCWithTheTerminalRestored) {
  create("q");
  Pty pty({kCli, "--namespace", ns(), "watch", "--interval", "100"});
  ASSERT_TRUE(pty.wait_for({"QUEUE", "q"})) << pty.screen();
  pty.type("\x03");  // the line discipline turns it into SIGINT
  const auto e = pty.wait_exit();
  EXPECT_TRUE(e.exited && e.code == 0) << pty.screen();
  EXPECT_NE(pty.screen().find("\x1b[?1049l"), std::string::npos);
}

TEST_F(Cli, WatchPrintsOneLinePerIntervalWhenPiped) {
  create("q");
  const ProgramResult r = cli({"watch", "q", "--interval", "50", "--count", "3"});
  ASSERT_TRUE(exited_with(r, 0)) << describe(r);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << r.out;
  EXPECT_EQ(r.out.find("\x1b"), std::string::npos) << "no escapes when piped";
  EXPECT_NE(r.out.find("q in="), std::string::npos) << r.out;
  const ProgramResult j = cli({"watch", "--interval", "50", "--count", "2", "--json"});
  ASSERT_TRUE(exited_with(j, 0)) << describe(j);
  const auto lines = json_lines(j.out);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_TRUE(lines[1]["queues"][0]["groups"][0]["out_per_s"].is_number());
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
  EXPECT_EQ(live.objects(), live_before);
  EXPECT_EQ(daemon_only.objects(), daemon_before);
}

}  // namespace
