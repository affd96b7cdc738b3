// The shmqd program (daemon/): started for real (fork + exec) in a private
// namespace. It creates the configured queues that clients then use, runs
// once per namespace, refuses a bad config before creating anything, stops on
// SIGTERM leaving every segment, restarts after SIGKILL with nothing to clean
// up, and idles without burning CPU.
//
// Tests that start shmqd and talk to it contain "MultiProcess" (they run under
// ThreadSanitizer too). A test makes its shmq::Client only after its last
// fork: a Client owns a heartbeat thread (see multiprocess_test.cpp).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "os/names.hpp"
#include "os/process.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::ChildExit;
using shmq::test::ConfigFile;
using shmq::test::kStartLimit;
using shmq::test::kStopLimit;
using shmq::test::now_ms;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> objects_of(const TestNamespace& ns) {
  std::vector<std::string> names;
  for (const std::string& o : ns.objects()) names.push_back(o.substr(shmq::detail::namespace_prefix(ns.name()).size()));
  return names;
}

// CPU time of every thread of `pid` in nanoseconds (the first field of each
// /proc/<pid>/task/<tid>/schedstat): exact, where utime + stime in /proc/<pid>/stat
// come in 10 ms ticks charged to whoever runs when the tick fires.
std::uint64_t cpu_ns(pid_t pid) {
  std::uint64_t total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "schedstat");
    std::uint64_t ns = 0;
    if (in >> ns) total += ns;
  }
  return total;
}

const char* const kTwoQueues = R"(
[daemon]
heartbeat_interval_ms = 100
heartbeat_timeout_ms = 2000

[queues.orders]
capacity = 8
slot_size = 64
mode = 0o660
owner_group = "root"

[[queues.orders.groups]]
name = "billing"

[[queues.orders.groups]]
name = "audit"
delivery = "at-most-once"

[queues.plain]
)";

std::string receive_text(shmq::Consumer& consumer) {
  shmq::Message m = consumer.receive(10s);
  if (!m) return std::string("<") + shmq::to_string(m.status()) + ">";
  std::string text(m.text());
  if (m.ack() != Status::Ok) return "<ack failed>";
  return text;
}

// ---- tests ----------------------------------------------------------------------

TEST(ShmqdTest, MultiProcessCreatesConfiguredQueuesThatClientsUse) {
  TestNamespace ns;
  ConfigFile config(kTwoQueues);
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  EXPECT_THAT(daemon.err(), HasSubstr("shmqd ready: namespace " + ns.name() + ", 2 queues, pid " +
                                      std::to_string(daemon.pid())));
  const std::vector<std::string> objects = objects_of(ns);
  EXPECT_THAT(objects, Contains("q.orders"));
  EXPECT_THAT(objects, Contains("q.plain"));
  EXPECT_THAT(objects, Contains("registry"));

  struct stat st {};
  ASSERT_EQ(::stat(ns.queue_path("orders").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0660U);
  EXPECT_EQ(st.st_gid, 0U);  // owner_group "root"
  ASSERT_EQ(::stat(ns.queue_path("plain").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);

  // The last fork is behind us: a Client may start its heartbeat thread now.
  shmq::Client client({.ns = ns.name()});
  shmq::Producer producer = client.producer("orders");
  shmq::Consumer billing = client.consumer("orders", "billing");
  shmq::Consumer audit = client.consumer("orders", "audit");
  EXPECT_EQ(audit.mode(), shmq::DeliveryMode::AtMostOnce);
  ASSERT_EQ(producer.send("order 1", 10s), Status::Ok);
  EXPECT_EQ(receive_text(billing), "order 1");
  EXPECT_EQ(receive_text(audit), "order 1");

  shmq::Producer plain_producer = client.producer("plain");
  shmq::Consumer plain_consumer = client.consumer("plain");
  ASSERT_EQ(plain_producer.send("hello", 10s), Status::Ok);
  EXPECT_EQ(receive_text(plain_consumer), "hello");
}

TEST(ShmqdTest, MultiProcessSecondInstanceExitsNamingTheFirst) {
  TestNamespace ns;
  Shmqd first(ns);
  ASSERT_TRUE(first.wait_ready()) << first.err();
  const auto second = shmq::test::run_program(
      {SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name()}, kStartLimit);
  EXPECT_TRUE(second.exit.exited) << second.err;
  EXPECT_EQ(second.exit.code, 3) << second.err;
  EXPECT_THAT(second.err, HasSubstr("another shmqd (pid " + std::to_string(first.pid()) +
                                    ") already runs namespace \"" + ns.name() + "\""));
  // Daemonized, the parent reports the same refusal.
  const auto background =
      shmq::test::run_program({SHMQ_TEST_SHMQD_PATH, "--namespace", ns.name()}, kStartLimit);
  EXPECT_EQ(background.exit.code, 3) << background.err;
  EXPECT_THAT(background.err, HasSubstr("pid " + std::to_string(first.pid())));
  // The first one is unaffected.
  EXPECT_EQ(::kill(first.pid(), 0), 0);
}

TEST(ShmqdTest, BadConfigExitsBeforeCreatingAnything) {
  TestNamespace ns;
  // A good queue first: it must not be created either.
  ConfigFile config("[queues.good]\ncapacity = 8\n\n[queues.orders]\nslot_size = 64\ncapacity = 1000\n");
  const auto r = shmq::test::run_program(
      {SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name(), "--config", config.path()}, kStartLimit);
  EXPECT_TRUE(r.exit.exited);
  EXPECT_EQ(r.exit.code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(config.path() + ":6:12: queues.orders.capacity: "));
  EXPECT_THAT(r.err, HasSubstr("power of two"));
  EXPECT_THAT(objects_of(ns), testing::IsEmpty());
  // A missing file and an unknown flag are refused the same way.
  const auto missing = shmq::test::run_program(
      {SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name(), "--config", config.path() + ".nope"},
      kStartLimit);
  EXPECT_EQ(missing.exit.code, 2);
  EXPECT_THAT(missing.err, HasSubstr("cannot read the config file"));
  const auto flag = shmq::test::run_program({SHMQ_TEST_SHMQD_PATH, "--namespace", ns.name(), "--frobnicate"},
                                            kStartLimit);
  EXPECT_EQ(flag.exit.code, 2);
  EXPECT_THAT(objects_of(ns), testing::IsEmpty());
}

TEST(ShmqdTest, ConfigThatIsADirectoryExitsWithUsage) {
  TestNamespace ns;
  const std::string dir = std::filesystem::temp_directory_path().string();
  const auto r = shmq::test::run_program(
      {SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name(), "--config", dir}, kStartLimit);
  EXPECT_TRUE(r.exit.exited && r.exit.code == 2) << "exit " << r.exit.code << " timed out " << r.exit.timed_out
                                                 << ": " << r.err;
  EXPECT_THAT(r.err, HasSubstr("shmqd: " + dir + ": is a directory"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_THAT(objects_of(ns), testing::IsEmpty());
}

TEST(ShmqdTest, BadFlagIsOneLineStartingWithShmqd) {
  TestNamespace ns;
  for (const auto& [args, flag] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--frobnicate"}, "--frobnicate"}, {{"--log-level", "loud"}, "--log-level"}}) {
    std::vector<std::string> argv{SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name()};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = shmq::test::run_program(argv, kStartLimit);
    EXPECT_TRUE(r.exit.exited && r.exit.code == 2) << flag << ": exit " << r.exit.code << ": " << r.err;
    EXPECT_THAT(r.err, testing::StartsWith("shmqd: ")) << flag;
    EXPECT_THAT(r.err, HasSubstr(flag));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << flag << ": one line: " << r.err;
  }
  EXPECT_THAT(objects_of(ns), testing::IsEmpty());
}

TEST(ShmqdTest, MultiProcessSigtermExitsZeroAndLeavesSegments) {
  TestNamespace ns;
  ConfigFile config(kTwoQueues);
  std::optional<Shmqd> daemon(std::in_place, ns, config.path());
  ASSERT_TRUE(daemon->wait_ready()) << daemon->err();
  // Attached before the daemon stops, exchanging messages after it stopped.
  shmq::Client client({.ns = ns.name()});
  shmq::Producer producer = client.producer("orders");
  shmq::Consumer billing = client.consumer("orders", "billing");
  ASSERT_EQ(producer.send("before", 10s), Status::Ok);

  const ChildExit e = daemon->stop(SIGTERM);
  EXPECT_TRUE(e.exited) << daemon->err();
  EXPECT_EQ(e.code, 0) << daemon->err();
  EXPECT_THAT(daemon->err(), HasSubstr("SIGTERM received"));
  const std::vector<std::string> objects = objects_of(ns);
  EXPECT_THAT(objects, Contains("q.orders"));
  EXPECT_THAT(objects, Contains("q.plain"));
  EXPECT_THAT(objects, Contains("registry"));

  ASSERT_EQ(producer.send("after", 10s), Status::Ok);
  EXPECT_EQ(receive_text(billing), "before");
  EXPECT_EQ(receive_text(billing), "after");
}

TEST(ShmqdTest, MultiProcessRestartAfterSigkillNeedsNoCleanup) {
  TestNamespace ns;
  ConfigFile config(kTwoQueues);
  {
    Shmqd first(ns, config.path());
    ASSERT_TRUE(first.wait_ready()) << first.err();
    const ChildExit e = first.stop(SIGKILL);
    EXPECT_EQ(e.signal, SIGKILL);
  }
  // The lock file, the queues and the registry are all still there.
  EXPECT_THAT(objects_of(ns), Contains("shmqd.lock"));
  Shmqd second(ns, config.path());
  ASSERT_TRUE(second.wait_ready()) << second.err();
  EXPECT_THAT(second.err(), HasSubstr("adopted queue orders"));
  EXPECT_THAT(second.err(), HasSubstr("adopted queue plain"));
  EXPECT_THAT(second.err(), Not(HasSubstr("created queue")));
  EXPECT_THAT(second.err(), Not(HasSubstr("created the registry")));
  // And the restarted one holds the namespace now.
  const auto third = shmq::test::run_program(
      {SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name()}, kStartLimit);
  EXPECT_EQ(third.exit.code, 3);
  EXPECT_THAT(third.err, HasSubstr("pid " + std::to_string(second.pid())));
}

// The ready line counts every queue of the namespace, not only the configured
// ones: after a restart it agrees with the watchdog's line.
TEST(ShmqdTest, MultiProcessReadyLineCountsQueuesItDidNotCreate) {
  TestNamespace ns;
  ConfigFile config(kTwoQueues);
  {
    Shmqd first(ns, config.path());
    ASSERT_TRUE(first.wait_ready()) << first.err();
    EXPECT_THAT(first.err(), HasSubstr(std::string(shmq::support::kShmqdReadyLine) + " namespace " + ns.name() + ", 2 queues"));
  }
  (void)shmq::detail::create_queue_segment(ns.name(), "extra", {});
  Shmqd second(ns);  // no config: it adopts nothing, the watchdog finds all three
  ASSERT_TRUE(second.wait_ready()) << second.err();
  EXPECT_THAT(second.err(), HasSubstr("scanning every 10 ms, 3 queues"));
  EXPECT_THAT(second.err(), HasSubstr(std::string(shmq::support::kShmqdReadyLine) + " namespace " + ns.name() + ", 3 queues"));
}

TEST(ShmqdTest, MultiProcessWarnsWhenAnExistingQueueDiffersFromTheConfig) {
  TestNamespace ns;
  {
    ConfigFile small("[queues.orders]\ncapacity = 8\nslot_size = 64\n");
    Shmqd first(ns, small.path());
    ASSERT_TRUE(first.wait_ready()) << first.err();
  }
  ConfigFile big("[queues.orders]\ncapacity = 16\nslot_size = 64\n");
  Shmqd second(ns, big.path());
  ASSERT_TRUE(second.wait_ready()) << second.err();
  EXPECT_THAT(second.err(), HasSubstr("queue orders exists with other settings"));
  EXPECT_THAT(second.err(), HasSubstr("capacity 8 (config: 16)"));
}

TEST(ShmqdTest, MultiProcessDaemonizesOnceReady) {
  TestNamespace ns;
  ConfigFile config(kTwoQueues);
  const auto r = shmq::test::run_program(
      {SHMQ_TEST_SHMQD_PATH, "--namespace", ns.name(), "--config", config.path()}, kStartLimit);
  ASSERT_EQ(r.exit.code, 0) << r.err;
  // Ready means created: the queues exist when the parent has exited.
  EXPECT_THAT(objects_of(ns), Contains("q.orders"));
  // The daemon's pid is in the lock file; stop it and wait until it is gone.
  std::ifstream lock(shmq::detail::instance_lock_path(ns.name()));
  pid_t pid = 0;
  ASSERT_TRUE(lock >> pid);
  ASSERT_GT(pid, 0);
  const int pidfd = shmq::detail::pidfd_open(pid);
  ASSERT_GE(pidfd, 0) << "the daemonized shmqd is not running";
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  pollfd p{pidfd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kStopLimit).count())), 1)
      << "the daemonized shmqd did not stop on SIGTERM";
  ::close(pidfd);
}

TEST(ShmqdTest, MultiProcessIdlesBelowOnePercentOfACore) {
  TestNamespace ns;
  ConfigFile config(kTwoQueues);
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const std::uint64_t cpu_before = cpu_ns(daemon.pid());
  const std::uint64_t wall_before = now_ms();
  // The measurement window, not a synchronisation: shmqd has nothing to do,
  // and must not print anything either.
  EXPECT_TRUE(daemon.quiet_for(1500ms)) << daemon.err();
  const std::uint64_t cpu_ms = (cpu_ns(daemon.pid()) - cpu_before) / 1'000'000;
  const std::uint64_t wall_ms = now_ms() - wall_before;
  EXPECT_LT(cpu_ms * 100, wall_ms) << "shmqd used " << cpu_ms << " ms of CPU in " << wall_ms << " ms while idle";
}

}  // namespace

namespace {

// Attaches as the unprivileged user nobody and sends and receives one
// message on queue `queue`: 0 on success, else why (see the returns).
int round_trip_as_nobody(const TestNamespace& ns, const std::string& queue) {
  constexpr uid_t kNobody = 65534;
  if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) return 90;
  try {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer(queue);
    if (p.send("hello", 5s) != Status::Ok) return 91;
    shmq::Consumer k = c.consumer(queue);
    shmq::Message m = k.receive(5s);
    if (!m || m.text() != "hello" || m.ack() != Status::Ok) return 92;
  } catch (const shmq::Error& e) {
    std::fprintf(stderr, "as nobody: %s\n", e.what());
    return e.value() == shmq::errc::permission_denied ? 93 : 94;
  }
  return 0;
}

TEST(ShmqdTest, MultiProcessRegistryModeLetsAnotherUserAttach) {
  TestNamespace ns;
  const ConfigFile config(
      "[daemon]\nregistry_mode = \"0666\"\n[queues.shared]\ncapacity = 8\nslot_size = 64\nmode = \"0666\"\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  struct stat st {};
  ASSERT_EQ(::stat(ns.registry_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0666U);
  const pid_t child = shmq::test::fork_child([&] { return round_trip_as_nobody(ns, "shared"); });
  const ChildExit e = shmq::test::wait_child(child, 30s);
  EXPECT_TRUE(e.exited && e.code == 0) << "exit " << e.code << "\n" << daemon.err();
}

TEST(ShmqdTest, MultiProcessDefaultRegistryKeepsOtherUsersOut) {
  TestNamespace ns;
  const ConfigFile config("[queues.shared]\ncapacity = 8\nslot_size = 64\nmode = \"0666\"\n");
  Shmqd daemon(ns, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const pid_t child = shmq::test::fork_child([&] { return round_trip_as_nobody(ns, "shared"); });
  const ChildExit e = shmq::test::wait_child(child, 30s);
  EXPECT_TRUE(e.exited && e.code == 93) << "exit " << e.code << " (93: refused with permission_denied)";
}

}  // namespace
