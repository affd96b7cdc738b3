// shmq-cli watch end to end (the real binary against real segments in a
// namespace of its own): under a pseudo-terminal it redraws, quits on q or
// Ctrl-C and gives the terminal back; piped, it prints one line per interval.
#include <gtest/gtest.h>

#include <poll.h>
#include <pty.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli_fixture.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::test::ProgramResult;
using shmq::test::cli_tests::Cli;
using shmq::test::cli_tests::describe;
using shmq::test::cli_tests::exited_with;
using shmq::test::cli_tests::json_lines;
using shmq::test::cli_tests::kCli;

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

}  // namespace
