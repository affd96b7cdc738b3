// shmq-cli's README promises, each checked against the real binaries (issue
// 12): the exit codes 1, 6, 7 and 130; read commands join no session; the
// namespace after the command and from $SHMQ_NAMESPACE; create's defaults;
// peek never shows a torn message while producers run. (The session states
// in stat and sessions are in cli_session_states_test.cpp.)
//
// Children are forked while the test holds no Client; every wait is bounded
// and waits on a condition (a pipe, the registry, the CLI's own output).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
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
using shmq::test::ChildExit;
using shmq::test::fail;
using shmq::test::now_ms;
using shmq::test::Pipe;
using shmq::test::ProgramResult;
using shmq::test::run_program;
using shmq::test::SharedArray;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::Victim;
using shmq::test::cli_tests::cli;
using shmq::test::cli_tests::cli_json;
using shmq::test::cli_tests::CliPromises;
using shmq::test::cli_tests::create_queue;
using shmq::test::cli_tests::describe;
using shmq::test::cli_tests::eventually;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::json_lines;
using shmq::test::cli_tests::kCli;
using shmq::test::cli_tests::kLimit;

// Every session word of the namespace's registry (state, generation, pid).
std::vector<shmq::detail::Word> session_words(const TestNamespace& ns) {
  const shmq::detail::MappedRegistry registry = shmq::detail::open_or_create_registry(ns.name());
  const shmq::detail::RegistryView& reg = registry.view;
  std::vector<shmq::detail::Word> words;
  for (std::uint32_t i = 0; i < shmq::detail::kMaxSessions; ++i)
    words.push_back(reg.sessions[i].word.load(std::memory_order_acquire));
  return words;
}

// ---- exit codes ---------------------------------------------------------------

TEST_F(CliPromises, ExitCode1ForACorruptSegment) {
  create_queue(ns_, "q");
  {
    const int fd = ::open(ns_.queue_path("q").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const char junk[16] = "not a header!!!";
    ASSERT_EQ(::pwrite(fd, junk, sizeof junk, 0), static_cast<ssize_t>(sizeof junk));
    ::close(fd);
  }
  const ProgramResult r = cli(ns_, {"stat", "q"});
  EXPECT_TRUE(exited_with(r, 1)) << describe(r);
  EXPECT_NE(r.err.find("shmq-cli: "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
}

TEST_F(CliPromises, ExitCode6WhenRecvGetsFewerThanAskedOrShmqdDoesNotAnswer) {
  create_queue(ns_, "q");
  ASSERT_TRUE(exited_with(cli(ns_, {"send", "q", "one"}), 0));
  const ProgramResult r = cli(ns_, {"recv", "q", "-n", "2", "--timeout", "200"});
  EXPECT_TRUE(exited_with(r, 6)) << describe(r);
  EXPECT_NE(r.out.find("one"), std::string::npos) << "the one it got is printed: " << r.out;
  const ProgramResult w = cli(ns_, {"wait-ready", "--timeout", "0"});
  EXPECT_TRUE(exited_with(w, 6)) << describe(w);
}

TEST_F(CliPromises, ExitCode7WhenSendFindsTheQueueFull) {
  ASSERT_TRUE(exited_with(cli(ns_, {"create", "q", "--capacity", "2", "--slot-size", "64"}), 0));
  ASSERT_TRUE(exited_with(cli(ns_, {"send", "q"}, "a\nb\n"), 0));
  const ProgramResult r = cli(ns_, {"send", "q", "c"});
  EXPECT_TRUE(exited_with(r, 7)) << describe(r);
  const ProgramResult waited = cli(ns_, {"send", "q", "c", "--timeout", "100"});
  EXPECT_TRUE(exited_with(waited, 7)) << describe(waited);
}

// recv waiting on an empty queue, interrupted (SIGINT as Ctrl-C, SIGTERM):
// exit 130, and it detached first (its session is gone from the registry).
TEST_F(CliPromises, ExitCode130WhenAWaitingRecvIsInterrupted) {
  create_queue(ns_, "q");
  for (const int signo : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(signo));
    Victim recv([&] {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 1);
      ::dup2(null, 2);
      const std::string ns = ns_.name();
      ::execl(kCli.c_str(), kCli.c_str(), "--namespace", ns.c_str(), "recv", "q", static_cast<char*>(nullptr));
      return 127;
    });
    // Waiting once its session is attached to q as a consumer.
    const auto attached = [&] {
      const nlohmann::json j = cli_json(ns_, {"sessions"});
      if (j.is_null()) return false;
      for (const auto& s : j["sessions"])
        if (s["pid"] == recv.pid() && !s["queues"].empty()) return true;
      return false;
    };
    ASSERT_TRUE(eventually(attached)) << "recv never attached";
    ASSERT_TRUE(recv.signal(signo));
    const ChildExit e = recv.wait(kLimit);
    EXPECT_TRUE(e.exited && e.code == 130) << "exited " << e.exited << " code " << e.code << " signal " << e.signal;
    const nlohmann::json after = cli_json(ns_, {"sessions"});
    EXPECT_TRUE(after["sessions"].empty()) << after.dump();
  }
}

// ---- read commands join no session ----------------------------------------

TEST_F(CliPromises, ReadCommandsLeaveTheSessionTableAsItWas) {
  create_queue(ns_, "q");
  ASSERT_TRUE(exited_with(cli(ns_, {"send", "q", "hello"}), 0));
  const std::vector<shmq::detail::Word> before = session_words(ns_);
  const std::vector<std::vector<std::string>> reads{
      {"list"},          {"list", "--json"},      {"stat", "q"},        {"stat", "q", "--json"},
      {"peek", "q"},     {"peek", "q", "--json"}, {"sessions"},         {"sessions", "--json"},
      {"check"},         {"check", "q", "--json"}, {"dlq", "q", "list"}, {"dlq", "q", "list", "--json"},
      {"watch", "q", "--count", "1"},             {"watch", "--count", "1", "--json"}};
  for (const auto& args : reads) {
    std::string what;
    for (const std::string& a : args) what += a + " ";
    const ProgramResult r = cli(ns_, args);
    EXPECT_TRUE(exited_with(r, 0)) << what << describe(r);
    EXPECT_EQ(session_words(ns_), before) << what << "changed the session table";
  }
  // The message is still there, never delivered.
  const nlohmann::json st = cli_json(ns_, {"stat", "q"});
  EXPECT_EQ(st["groups"][0]["ready"], 1);
  EXPECT_EQ(st["groups"][0]["delivered"], 0);
}

// DESIGN.md section 6: a 0640 queue can be observed by its group. The reader
// here (nobody, in group users) may read the queue and the registry and write
// neither: the read commands map both read-only.
constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;
constexpr gid_t kUsers = 100;

// Gives the queue's and the registry's segments to root:users, mode 0640:
// group users may read them, nobody but root may write them.
void make_group_readable(const TestNamespace& ns, const std::string& queue) {
  for (const std::string& path : {ns.queue_path(queue), ns.registry_path()}) {
    ASSERT_EQ(::chown(path.c_str(), 0, kUsers), 0) << path << ": " << std::strerror(errno);
    ASSERT_EQ(::chmod(path.c_str(), 0640), 0) << path << ": " << std::strerror(errno);
  }
}

// Runs each of `commands` as nobody in group users; their results land in
// `codes` (exit code, 100 + signal if killed) and `errors` (stderr, cut).
struct ReaderResults {
  explicit ReaderResults(std::size_t n) : codes(n), errors(n * kErrorBytes) {}
  static constexpr std::size_t kErrorBytes = 400;
  [[nodiscard]] std::string error(std::size_t i) const { return &errors[i * kErrorBytes]; }
  SharedArray<int> codes;
  SharedArray<char> errors;
};

void run_as_group_member(const TestNamespace& ns, const std::vector<std::vector<std::string>>& commands,
                         ReaderResults& results) {
  shmq::test::Child reader([&] {
    const gid_t groups[] = {kUsers};
    if (::setgroups(1, groups) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0)
      return fail(2, "setuid: %s", std::strerror(errno));
    for (std::size_t i = 0; i < commands.size(); ++i) {
      const ProgramResult r = cli(ns, commands[i]);
      int code = r.exit.exited ? r.exit.code : 100 + r.exit.signal;
      // list and sessions report a queue they cannot open in their output, and still exit 0.
      if (code == 0 && (r.out.find("\"error\"") != std::string::npos ||
                        r.out.find("permission denied") != std::string::npos))
        code = 200;
      results.codes[i] = code;
      std::snprintf(&results.errors[i * ReaderResults::kErrorBytes], ReaderResults::kErrorBytes, "%s%s",
                    r.err.c_str(), code == 0 ? "" : r.out.substr(0, 200).c_str());
    }
    return 0;
  });
  ASSERT_TRUE(shmq::test::exited_cleanly(reader.wait(kLimit)));
}

std::string joined(const std::vector<std::string>& args) {
  std::string s;
  for (const std::string& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// A queue with one dead letter ("first") and one message waiting ("second").
void make_queue_with_a_dead_letter(const TestNamespace& ns) {
  create_queue(ns, "q", {"--mode", "0640", "--max-deliveries", "1"});
  ASSERT_TRUE(exited_with(cli(ns, {"send", "q", "first"}), 0));
  ASSERT_TRUE(exited_with(cli(ns, {"recv", "q", "--no-ack"}), 0));
  const ProgramResult none = cli(ns, {"recv", "q", "--timeout", "100"});  // dead-letters "first"
  ASSERT_TRUE(exited_with(none, 6)) << describe(none);
  ASSERT_TRUE(exited_with(cli(ns, {"send", "q", "second"}), 0));
}

TEST_F(CliPromises, ReadCommandsWorkWithOnlyReadPermission) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the reader as nobody";
  make_queue_with_a_dead_letter(ns_);
  make_group_readable(ns_, "q");
  const std::vector<std::vector<std::string>> reads{
      {"list"},          {"list", "--json"},       {"stat", "q"},        {"stat", "q", "--json"},
      {"peek", "q"},     {"peek", "q", "--json"},  {"sessions"},         {"sessions", "--json"},
      {"check"},         {"check", "q", "--json"}, {"dlq", "q", "list"}, {"dlq", "q", "list", "--json"},
      {"watch", "q", "--count", "1"},              {"watch", "--count", "1", "--json"}};
  ReaderResults results(reads.size());
  run_as_group_member(ns_, reads, results);
  for (std::size_t i = 0; i < reads.size(); ++i)
    EXPECT_EQ(results.codes[i], 0) << joined(reads[i]) << ": " << results.error(i);
}

// What the reader reads is what is there: the message waiting and the dead letter.
TEST_F(CliPromises, ReadCommandsWithOnlyReadPermissionShowTheQueue) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the reader as nobody";
  make_queue_with_a_dead_letter(ns_);
  make_group_readable(ns_, "q");
  SharedArray<char> out(4096);
  shmq::test::Child reader([&] {
    const gid_t groups[] = {kUsers};
    if (::setgroups(1, groups) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0)
      return fail(2, "setuid: %s", std::strerror(errno));
    std::string text;
    for (const auto& args : std::vector<std::vector<std::string>>{{"peek", "q"}, {"dlq", "q", "list"}, {"stat", "q", "--json"}})
      text += cli(ns_, args).out + "\n";
    std::snprintf(&out[0], out.size(), "%s", text.c_str());
    return 0;
  });
  ASSERT_TRUE(shmq::test::exited_cleanly(reader.wait(kLimit)));
  const std::string text = &out[0];
  EXPECT_NE(text.find("second"), std::string::npos) << "peek: " << text;
  EXPECT_NE(text.find("first"), std::string::npos) << "dlq list: " << text;
  EXPECT_NE(text.find("\"dead_letters\": 1"), std::string::npos) << "stat: " << text;
}

// `shmq-cli stat --json` without what changes as time passes.
nlohmann::json without_ages(nlohmann::json stat) {
  for (auto& g : stat["groups"]) g.erase("oldest_unacked_age_ms");
  return stat;
}

// The write commands, run by a user who may only read, fail with exit 4 and a
// message saying they need write permission, and change nothing.
TEST_F(CliPromises, WriteCommandsWithOnlyReadPermissionFailClearlyAndChangeNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the writer as nobody";
  make_queue_with_a_dead_letter(ns_);
  const nlohmann::json stat_before = cli_json(ns_, {"stat", "q"});
  ASSERT_FALSE(stat_before.is_null());
  const ProgramResult dlq_before = cli(ns_, {"dlq", "q", "list", "--json"});
  ASSERT_TRUE(exited_with(dlq_before, 0)) << describe(dlq_before);
  ASSERT_EQ(json_lines(dlq_before.out).size(), 1U) << dlq_before.out;
  const std::vector<shmq::detail::Word> sessions_before = session_words(ns_);
  make_group_readable(ns_, "q");

  const std::vector<std::vector<std::string>> writes{{"dlq", "q", "purge"},
                                                     {"dlq", "q", "replay"},
                                                     {"send", "q", "third"},
                                                     {"recv", "q", "--timeout", "0"}};
  ReaderResults results(writes.size());
  run_as_group_member(ns_, writes, results);
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const std::string err = results.error(i);
    EXPECT_EQ(results.codes[i], 4) << joined(writes[i]) << ": " << err;
    EXPECT_NE(err.find("permission denied"), std::string::npos) << joined(writes[i]) << ": " << err;
    EXPECT_NE(err.find("needs write permission"), std::string::npos) << joined(writes[i]) << ": " << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
  }

  // Nothing changed: the same dead letter, the same counts, the same sessions.
  const ProgramResult dlq_after = cli(ns_, {"dlq", "q", "list", "--json"});
  ASSERT_TRUE(exited_with(dlq_after, 0)) << describe(dlq_after);
  const std::vector<nlohmann::json> letters = json_lines(dlq_after.out);
  ASSERT_EQ(letters.size(), 1U) << dlq_after.out;
  EXPECT_EQ(letters[0]["id"], json_lines(dlq_before.out)[0]["id"]);
  EXPECT_EQ(letters[0]["data"], "first");
  const nlohmann::json stat_after = cli_json(ns_, {"stat", "q"});
  ASSERT_FALSE(stat_after.is_null());
  EXPECT_EQ(without_ages(stat_after), without_ages(stat_before));
  EXPECT_EQ(session_words(ns_), sessions_before);
}

// ---- where the namespace comes from --------------------------------------------

TEST_F(CliPromises, NamespaceIsTakenAfterTheCommandAndFromTheEnvironment) {
  create_queue(ns_, "here");
  const auto names = [](const ProgramResult& r) {
    std::string out;
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return out;
    out = j["namespace"].get<std::string>() + ":";
    for (const auto& q : j["queues"]) out += q["name"].get<std::string>();
    return out;
  };
  const std::string want = ns_.name() + ":here";
  const ProgramResult after = run_program({kCli, "list", "--json", "--namespace", ns_.name()}, kLimit);
  EXPECT_TRUE(exited_with(after, 0)) << describe(after);
  EXPECT_EQ(names(after), want);

  const std::vector<std::string> env{"SHMQ_NAMESPACE=" + ns_.name()};
  const ProgramResult from_env = run_program({kCli, "list", "--json"}, kLimit, {}, env);
  EXPECT_TRUE(exited_with(from_env, 0)) << describe(from_env);
  EXPECT_EQ(names(from_env), want);

  // The flag wins over the environment, before or after the command.
  const TestNamespace other;
  const std::vector<std::string> other_env{"SHMQ_NAMESPACE=" + other.name()};
  EXPECT_EQ(names(run_program({kCli, "--namespace", ns_.name(), "list", "--json"}, kLimit, {}, other_env)), want);
  EXPECT_EQ(names(run_program({kCli, "list", "--namespace", ns_.name(), "--json"}, kLimit, {}, other_env)), want);
  const ProgramResult empty = run_program({kCli, "list", "--json"}, kLimit, {}, other_env);
  EXPECT_EQ(names(empty), other.name() + ":") << describe(empty);
}

// ---- create's defaults ------------------------------------------------------

void expect_documented_defaults(const TestNamespace& ns, const std::string& queue) {
  const nlohmann::json j = cli_json(ns, {"stat", queue});
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["dlq_capacity"], 64) << j.dump();
  ASSERT_EQ(j["groups"].size(), 1U) << j.dump();
  const nlohmann::json& g = j["groups"][0];
  EXPECT_EQ(g["name"], "default");
  EXPECT_EQ(g["mode"], "at-least-once");
  EXPECT_EQ(g["max_deliveries"], 5);
  EXPECT_EQ(g["lease_timeout_ms"], 30000);
  struct stat st {};
  ASSERT_EQ(::stat(ns.queue_path(queue).c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(st.st_mode & 07777, 0600U) << std::oct << (st.st_mode & 07777);
}

TEST_F(CliPromises, CreateWithOnlyTheRequiredFlagsHasTheDocumentedDefaults) {
  const ProgramResult direct = cli(ns_, {"create", "direct", "--capacity", "8", "--slot-size", "32"});
  ASSERT_TRUE(exited_with(direct, 0)) << describe(direct);
  ASSERT_NE(direct.out.find("directly"), std::string::npos) << direct.out;
  expect_documented_defaults(ns_, "direct");

  Shmqd daemon(ns_);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const ProgramResult by_daemon = cli(ns_, {"create", "served", "--capacity", "8", "--slot-size", "32"});
  ASSERT_TRUE(exited_with(by_daemon, 0)) << describe(by_daemon);
  ASSERT_NE(by_daemon.out.find("by shmqd"), std::string::npos) << by_daemon.out;
  expect_documented_defaults(ns_, "served");
}

// ---- peek never shows a torn message ---------------------------------------

std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261U;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619U;
  return h;
}

// "P<k>:<i>:<filler>:" + its checksum in hex; the filler's length and letter change with i.
std::string checked_message(int k, std::uint64_t i) {
  std::string m = "P" + std::to_string(k) + ":" + std::to_string(i) + ":" +
                  std::string(5 + (i * 7) % 60, static_cast<char>('a' + i % 26)) + ":";
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", fnv1a(m));
  return m + hex;
}

bool checksum_ok(const std::string& m) {
  const std::size_t colon = m.rfind(':');
  if (colon == std::string::npos || m.size() - colon != 9) return false;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", fnv1a(std::string_view(m).substr(0, colon + 1)));
  return m.compare(colon + 1, 8, hex) == 0;
}

TEST_F(CliPromises, PeekNeverShowsATornMessageWhileProducersRun) {
  constexpr int kProducers = 2;
  ASSERT_TRUE(exited_with(cli(ns_, {"create", "q", "--capacity", "8", "--slot-size", "128"}), 0));
  SharedArray<std::atomic<int>> stop(1);
  Pipe started;
  std::vector<std::unique_ptr<Victim>> children;
  for (int k = 0; k < kProducers; ++k) {
    children.push_back(std::make_unique<Victim>([&, k] {
      shmq::ClientOptions o;
      o.ns = ns_.name();
      shmq::Client c(o);
      shmq::Producer p = c.producer("q");
      if (!started.signal()) return fail(70, "cannot report start");
      for (std::uint64_t i = 0; stop[0].load() == 0; ++i) {
        const std::string m = checked_message(k, i);
        (void)p.try_send(std::as_bytes(std::span(m.data(), m.size())));
      }
      return 0;
    }));
  }
  children.push_back(std::make_unique<Victim>([&] {  // keeps slots turning over
    shmq::ClientOptions o;
    o.ns = ns_.name();
    shmq::Client c(o);
    shmq::Consumer consumer = c.consumer("q");
    if (!started.signal()) return fail(70, "cannot report start");
    while (stop[0].load() == 0) {
      shmq::Message m = consumer.receive(10ms);
      if (m) (void)m.ack();
    }
    return 0;
  }));
  for (int i = 0; i <= kProducers; ++i) ASSERT_TRUE(started.wait(kLimit));

  std::size_t shown = 0;
  int runs = 0;
  const std::uint64_t deadline = now_ms() + 15'000;
  for (; runs < 300 && now_ms() < deadline; ++runs) {
    const ProgramResult r = cli(ns_, {"peek", "q", "-n", "8", "--json"});
    ASSERT_TRUE(exited_with(r, 0)) << describe(r);
    std::size_t start = 0;
    for (std::size_t end; (end = r.out.find('\n', start)) != std::string::npos; start = end + 1) {
      const nlohmann::json m = nlohmann::json::parse(r.out.substr(start, end - start));
      ASSERT_TRUE(m.contains("data")) << m.dump();
      const std::string data = m["data"];
      EXPECT_TRUE(checksum_ok(data)) << "torn: " << data;
      EXPECT_EQ(m["size"], data.size());
      ++shown;
    }
  }
  stop[0] = 1;
  for (auto& child : children) EXPECT_TRUE(shmq::test::exited_cleanly(child->wait(kLimit)));
  std::printf("peek: %d runs showed %zu messages\n", runs, shown);
  EXPECT_GT(shown, 0U);
}

}  // namespace
