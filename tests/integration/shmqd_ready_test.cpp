// Knowing when shmqd serves, without systemd and without a failing request:
// `shmqd --ready-fd N` (a pipe that gets "ready <pid>\n" once the control
// socket answers, or EOF if shmqd does not start), and `shmq-cli wait-ready`
// (pings the control socket until shmqd answers, with no warning in its log).
//
// Tests that start shmqd contain "MultiProcess" (they run under TSan too).
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shmq/admin/control.hpp"
#include "support/shmqd_ready.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::ChildExit;
using shmq::test::ConfigFile;
using shmq::test::kStartLimit;
using shmq::test::now_ms;
using shmq::test::ProgramResult;
using shmq::test::run_program;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kCli = SHMQ_TEST_SHMQ_CLI_PATH;
constexpr auto kLimit = 60s;  // only a broken program reaches it

// A pipe whose write end a program run by run_program inherits (the read end
// and everything else is close-on-exec).
class InheritedPipe {
 public:
  InheritedPipe() {
    EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0);
    ::fcntl(fds_[1], F_SETFD, 0);
  }
  ~InheritedPipe() {
    close_write_end();
    ::close(fds_[0]);
  }
  InheritedPipe(const InheritedPipe&) = delete;
  InheritedPipe& operator=(const InheritedPipe&) = delete;

  [[nodiscard]] std::string write_end() const { return std::to_string(fds_[1]); }
  void close_write_end() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  // Once the program is gone: everything it wrote (our write end is closed
  // first, so this ends at EOF).
  std::string drain() {
    close_write_end();
    std::string text;
    char buf[256];
    for (ssize_t n = 0; (n = ::read(fds_[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    return text;
  }

 private:
  int fds_[2] = {-1, -1};
};

ProgramResult run_shmqd(const TestNamespace& ns, std::vector<std::string> extra) {
  std::vector<std::string> argv{SHMQ_TEST_SHMQD_PATH, "--foreground", "--namespace", ns.name()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_program(argv, kStartLimit);
}

TEST(ShmqdReadyTest, ReadyMessageFormat) {
  EXPECT_EQ(shmq::support::shmqd_ready_message(4242), "ready 4242\n");
  EXPECT_EQ(shmq::support::parse_shmqd_ready("ready 4242\n"), 4242);
  EXPECT_EQ(shmq::support::parse_shmqd_ready("ready 4242"), std::nullopt);  // not whole yet
  EXPECT_EQ(shmq::support::parse_shmqd_ready(""), std::nullopt);
  EXPECT_EQ(shmq::support::parse_shmqd_ready("ready 0\n"), std::nullopt);
  EXPECT_EQ(shmq::support::parse_shmqd_ready("ready 12x\n"), std::nullopt);
  EXPECT_EQ(shmq::support::parse_shmqd_ready("ready 99999999999999999999\n"), std::nullopt);
}

TEST(ShmqdReadyTest, MultiProcessReadyFdGetsThePidOnceTheControlSocketAnswers) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();  // "ready <its pid>\n", then the descriptor closed
  // The moment the line came, the socket answers (one try: no retry, no wait).
  const std::optional<shmq::admin::ControlReply> pong =
      shmq::admin::call_daemon(ns.name(), {shmq::admin::ControlOp::Ping, {}, {}}, kStartLimit);
  ASSERT_TRUE(pong.has_value()) << "no control socket when the ready line came\n" << daemon.err();
  EXPECT_TRUE(pong->ok) << pong->error;
  EXPECT_EQ(pong->pid, static_cast<std::uint64_t>(daemon.pid()));
  // The log line of the same moment was written first.
  EXPECT_THAT(daemon.err(), HasSubstr(std::string(shmq::support::kShmqdReadyLine) + " namespace " + ns.name()));
}

TEST(ShmqdReadyTest, MultiProcessBadConfigClosesTheReadyFdWithNothingWritten) {
  TestNamespace ns;
  ConfigFile config("[queues.orders]\ncapacity = 1000\n");
  InheritedPipe ready;
  const ProgramResult r = run_shmqd(ns, {"--config", config.path(), "--ready-fd", ready.write_end()});
  EXPECT_TRUE(r.exit.exited && r.exit.code == 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("queues.orders.capacity: capacity 1000 is invalid"));  // the config's error, not the flag's
  EXPECT_EQ(ready.drain(), "");
  EXPECT_THAT(ns.objects(), IsEmpty());
}

TEST(ShmqdReadyTest, MultiProcessAnotherShmqdRunningClosesTheReadyFdWithNothingWritten) {
  TestNamespace ns;
  Shmqd first(ns);
  ASSERT_TRUE(first.wait_ready()) << first.err();
  InheritedPipe ready;
  const ProgramResult r = run_shmqd(ns, {"--ready-fd", ready.write_end()});
  EXPECT_TRUE(r.exit.exited && r.exit.code == 3) << r.err;
  EXPECT_EQ(ready.drain(), "");
}

TEST(ShmqdReadyTest, ReadyFdMustBeAnOpenWritableDescriptorAboveStderr) {
  TestNamespace ns;
  const int read_only = ::open("/dev/null", O_RDONLY);  // inherited: no O_CLOEXEC
  ASSERT_GE(read_only, 3);
  const struct {
    std::string fd;
    std::string says;
  } cases[] = {{"1", "--ready-fd 1 is stdin, stdout or stderr"},
               {"987", "--ready-fd 987 is not an open file descriptor"},
               {std::to_string(read_only), "--ready-fd " + std::to_string(read_only) + " is open for reading only"}};
  for (const auto& c : cases) {
    const ProgramResult r = run_shmqd(ns, {"--ready-fd", c.fd});
    EXPECT_TRUE(r.exit.exited && r.exit.code == 2) << c.fd << ": " << r.err;
    EXPECT_THAT(r.err, StartsWith("shmqd: " + c.says + ": pass the write end of a pipe")) << c.fd;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  ::close(read_only);
  EXPECT_THAT(ns.objects(), IsEmpty());
}

// ---- shmq-cli wait-ready ----------------------------------------------------------

ProgramResult wait_ready(const TestNamespace& ns, const std::string& timeout_ms) {
  return run_program({kCli, "--namespace", ns.name(), "wait-ready", "--timeout", timeout_ms}, kLimit);
}

TEST(ShmqdReadyTest, MultiProcessWaitReadyAnswersAtOnceWithoutAWarningInTheLog) {
  TestNamespace ns;
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const ProgramResult r = wait_ready(ns, "10000");
  EXPECT_TRUE(r.exit.exited && r.exit.code == 0) << r.err;
  EXPECT_EQ(r.out, "shmqd ready in namespace " + ns.name() + " (pid " + std::to_string(daemon.pid()) + ")\n");
  // shmqd logs the ping at debug level, this launcher's: once that line is
  // read, a warning about the request would have been read too.
  ASSERT_TRUE(daemon.wait_for(": ping: ok")) << daemon.err();
  EXPECT_THAT(daemon.err(), Not(HasSubstr("[warning]"))) << daemon.err();
}

TEST(ShmqdReadyTest, MultiProcessWaitReadyWaitsForAShmqdStartedAfterIt) {
  TestNamespace ns;
  const pid_t waiter = shmq::test::fork_child([&] {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::execl(kCli.c_str(), kCli.c_str(), "--namespace", ns.name().c_str(), "wait-ready", "--timeout", "60000",
            static_cast<char*>(nullptr));
    return 127;
  });
  Shmqd daemon(ns);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const ChildExit e = shmq::test::wait_child(waiter, kLimit);
  EXPECT_TRUE(e.exited && e.code == 0) << "exit " << e.code << " signal " << e.signal;
  ASSERT_TRUE(daemon.wait_for(": ping: ok")) << daemon.err();
  EXPECT_THAT(daemon.err(), Not(HasSubstr("[warning]"))) << daemon.err();
}

TEST(ShmqdReadyTest, WaitReadyWithoutShmqdTimesOutWithExit6InBoundedTime) {
  TestNamespace ns;
  const std::uint64_t start = now_ms();
  const ProgramResult r = wait_ready(ns, "300");
  const std::uint64_t took = now_ms() - start;
  EXPECT_TRUE(r.exit.exited && r.exit.code == 6) << r.err;
  EXPECT_EQ(r.err, "shmq-cli: no shmqd answered in namespace " + ns.name() + " within 300 ms: start `shmqd " +
                       "--namespace " + ns.name() + "`, or check its log if it runs\n");
  EXPECT_GE(took, 300U);
  EXPECT_LT(took, 20'000U);  // bounded: only a wait-ready that ignores --timeout gets near this
  // --timeout 0 asks once; a negative one is a usage error.
  const ProgramResult once = wait_ready(ns, "0");
  EXPECT_TRUE(once.exit.exited && once.exit.code == 6) << once.err;
  const ProgramResult negative = wait_ready(ns, "-1");
  EXPECT_TRUE(negative.exit.exited && negative.exit.code == 2) << negative.err;
  EXPECT_THAT(ns.objects(), IsEmpty());  // it made nothing in the namespace
}

}  // namespace
