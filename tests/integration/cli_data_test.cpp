// shmq-cli's data commands end to end (the real binary against real segments
// in a namespace of its own): send and recv carry text and binary payloads,
// peek shows without taking, and the redelivery story is told with shell
// commands only.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"

namespace {

using shmq::test::ProgramResult;
using shmq::test::cli_tests::Cli;
using shmq::test::cli_tests::describe;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::json_lines;
using shmq::test::cli_tests::keys_of;

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

}  // namespace
