// shmq-cli's errors end to end (the real binary against real segments in a
// namespace of its own): every error class has its exit code and its one-line
// message checked, bad numbers and names, unknown and existing queues, too
// large messages, full queues, timeouts, a missing shmqd, permissions, and a
// check that finds problems.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"
#include "os/queue_segment.hpp"
#include "test_support.hpp"

namespace {

using shmq::test::ProgramResult;
using shmq::test::run_program;
using shmq::test::cli_tests::Cli;
using shmq::test::cli_tests::describe;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::json_lines;
using shmq::test::cli_tests::kCli;
using shmq::test::cli_tests::kLimit;

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

}  // namespace
