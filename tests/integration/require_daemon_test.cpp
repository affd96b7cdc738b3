// Which way a queue is made: Client::create_queue says whether shmqd made it
// or, with no shmqd answering, this process did directly; with
// ClientOptions::require_daemon (shmq-cli --require-daemon) create and delete
// fail with errc::daemon_unavailable instead of that fall-back.
//
// Tests that start shmqd contain "MultiProcess" (they run under TSan too); a
// test makes its Client only after its last fork.
#include <string>
#include <utility>
#include <vector>

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::QueueCreatedBy;
using shmq::test::ProgramResult;
using shmq::test::run_program;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using ::testing::HasSubstr;

const std::string kCli = SHMQ_TEST_SHMQ_CLI_PATH;
constexpr auto kLimit = 60s;  // only a broken program reaches it

bool exists(const TestNamespace& ns, const std::string& queue) {
  struct stat st {};
  return ::stat(ns.queue_path(queue).c_str(), &st) == 0;
}

shmq::QueueConfig small_queue() {
  shmq::QueueConfig c;
  c.capacity = 8;
  c.slot_size = 64;
  return c;
}

std::string no_daemon_message(const TestNamespace& ns) {
  return "no shmqd in namespace " + ns.name() + ": start `shmqd --namespace " + ns.name() + "`";
}

// The errc and message `call` throws ("<no error>" if it does not).
template <class Call>
std::pair<shmq::errc, std::string> error_of(Call call) {
  try {
    call();
  } catch (const shmq::Error& e) {
    return {e.value(), e.what()};
  }
  return {shmq::errc::system_error, "<no error>"};
}

ProgramResult cli(const TestNamespace& ns, std::vector<std::string> args) {
  args.insert(args.begin(), {kCli, "--namespace", ns.name()});
  return run_program(args, kLimit);
}

std::string describe(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit.code) + " signal " + std::to_string(r.exit.signal) + "\nstdout: " + r.out +
         "\nstderr: " + r.err;
}

bool exited_with(const ProgramResult& r, int code) { return r.exit.exited && r.exit.code == code; }

const std::vector<std::string> kCreate{"create", "q", "--capacity", "8", "--slot-size", "64"};

// ---- the library ------------------------------------------------------------------

TEST(RequireDaemonTest, WithoutShmqdCreateFallsBackAndSaysItDidSoDirectly) {
  TestNamespace ns;
  shmq::Client client({.ns = ns.name()});
  EXPECT_EQ(client.create_queue("q", small_queue()), QueueCreatedBy::Directly);
  EXPECT_TRUE(exists(ns, "q"));
  EXPECT_TRUE(client.delete_queue("q"));
  EXPECT_FALSE(exists(ns, "q"));
}

TEST(RequireDaemonTest, WithoutShmqdRequireDaemonFailsAndTouchesNothing) {
  TestNamespace ns;
  shmq::Client strict({.ns = ns.name(), .require_daemon = true});
  const auto created = error_of([&] { (void)strict.create_queue("q", small_queue()); });
  EXPECT_EQ(created.first, shmq::errc::daemon_unavailable);
  EXPECT_EQ(created.second, no_daemon_message(ns));
  EXPECT_FALSE(exists(ns, "q"));
  // A queue made directly stays when a strict client is asked to delete it.
  shmq::Client relaxed({.ns = ns.name()});
  ASSERT_EQ(relaxed.create_queue("q", small_queue()), QueueCreatedBy::Directly);
  const auto deleted = error_of([&] { (void)strict.delete_queue("q"); });
  EXPECT_EQ(deleted.first, shmq::errc::daemon_unavailable);
  EXPECT_EQ(deleted.second, no_daemon_message(ns));
  EXPECT_TRUE(exists(ns, "q"));
}

TEST(RequireDaemonTest, MultiProcessWithShmqdCreateSaysTheDaemonDidIt) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  shmq::Client strict({.ns = ns.name(), .require_daemon = true});
  shmq::Client relaxed({.ns = ns.name()});
  EXPECT_EQ(strict.create_queue("strict", small_queue()), QueueCreatedBy::Daemon);
  EXPECT_EQ(relaxed.create_queue("relaxed", small_queue()), QueueCreatedBy::Daemon);
  EXPECT_TRUE(daemon.wait_for("create strict: ok")) << daemon.err();
  EXPECT_TRUE(daemon.wait_for("create relaxed: ok")) << daemon.err();
  EXPECT_TRUE(strict.delete_queue("strict"));
  EXPECT_TRUE(strict.delete_queue("relaxed"));
  EXPECT_TRUE(daemon.wait_for("delete relaxed: ok")) << daemon.err();
  EXPECT_FALSE(exists(ns, "strict"));
  EXPECT_FALSE(exists(ns, "relaxed"));
}

// ---- shmq-cli create/delete [--require-daemon] --------------------------------------

TEST(RequireDaemonTest, CliWithoutShmqdCreatesDirectlyUnlessTheDaemonIsRequired) {
  TestNamespace ns;
  std::vector<std::string> strict = kCreate;
  strict.emplace_back("--require-daemon");
  const ProgramResult refused = cli(ns, strict);
  EXPECT_TRUE(exited_with(refused, 5)) << describe(refused);
  EXPECT_EQ(refused.err, "shmq-cli: " + no_daemon_message(ns) + "\n");
  EXPECT_FALSE(exists(ns, "q"));

  const ProgramResult direct = cli(ns, kCreate);
  ASSERT_TRUE(exited_with(direct, 0)) << describe(direct);
  EXPECT_THAT(direct.out, HasSubstr("created queue q in namespace " + ns.name() + " (directly: no shmqd answered): "));

  const ProgramResult kept = cli(ns, {"delete", "q", "--require-daemon"});
  EXPECT_TRUE(exited_with(kept, 5)) << describe(kept);
  EXPECT_TRUE(exists(ns, "q"));
  const ProgramResult removed = cli(ns, {"delete", "q"});
  EXPECT_TRUE(exited_with(removed, 0)) << describe(removed);
  EXPECT_FALSE(exists(ns, "q"));
}

TEST(RequireDaemonTest, MultiProcessCliWithShmqdSaysTheDaemonCreatedIt) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  std::vector<std::string> strict = kCreate;
  strict.emplace_back("--require-daemon");
  const ProgramResult created = cli(ns, strict);
  ASSERT_TRUE(exited_with(created, 0)) << describe(created);
  EXPECT_THAT(created.out, HasSubstr("created queue q in namespace " + ns.name() + " (by shmqd): capacity 8"));
  EXPECT_TRUE(daemon.wait_for("create q: ok")) << daemon.err();
  const ProgramResult deleted = cli(ns, {"delete", "q", "--require-daemon"});
  EXPECT_TRUE(exited_with(deleted, 0)) << describe(deleted);
  EXPECT_TRUE(daemon.wait_for("delete q: ok")) << daemon.err();
  EXPECT_FALSE(exists(ns, "q"));
}

}  // namespace
