#include "recovery_time.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bench_common.hpp"
#include "support/shmqd_launcher.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "shmq/shmq.hpp"

namespace shmq_bench {

namespace {

using namespace std::chrono_literals;

constexpr const char* kQueue = "recovery";
constexpr auto kStepLimit = 30s;  // a child's report, a redelivery
constexpr std::uint64_t kTargetNs = 50'000'000;  // DESIGN.md section 5
// After the victim has its leases: a few scan periods, so shmqd watches its
// pidfd (a session younger than one scan is found by the scan instead).
constexpr auto kSettle = 50ms;

constexpr std::uint32_t kMaxLeases = 256;

// What the children report, in shared memory.
struct Round {
  std::atomic<std::uint64_t> killed_ns{0};   // parent: just before kill(2)
  std::atomic<std::uint64_t> first_ns{0};    // measurer: first redelivery received
  std::atomic<std::uint64_t> last_ns{0};     // measurer: last of them received
  std::atomic<std::uint32_t> received{0};
  std::atomic<std::uint32_t> wrong{0};       // redeliveries with another id or count than expected
  std::atomic<std::uint64_t> ids[kMaxLeases];  // the victim's leases
};

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  }
  ~Pipe() {
    for (int fd : fds_) ::close(fd);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void signal() const {
    const char b = 1;
    if (::write(fds_[1], &b, 1) != 1) throw std::system_error(errno, std::generic_category(), "pipe write");
  }
  // False if nothing came within `limit` (or the writer is gone).
  [[nodiscard]] bool wait(std::chrono::milliseconds limit) const {
    pollfd p{fds_[0], POLLIN, 0};
    char b = 0;
    return ::poll(&p, 1, static_cast<int>(limit.count())) == 1 && ::read(fds_[0], &b, 1) == 1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// shmqd (support::ShmqdLauncher) in the foreground, its config and its log in
// files (the log printed if something fails), ready once it says so on its
// --ready-fd pipe, stopped with SIGTERM at the end.
class Daemon {
 public:
  Daemon(const std::string& path, const std::string& ns, const std::string& config)
      : log_(std::filesystem::temp_directory_path() / ("shmq-bench-recovery-" + std::to_string(::getpid()) + ".log")),
        config_(std::filesystem::temp_directory_path() /
                ("shmq-bench-recovery-" + std::to_string(::getpid()) + ".toml")),
        launcher_(options(path, ns)) {
    std::ofstream(config_) << config;
    launcher_.start();
    if (launcher_.wait_ready(shmq::support::kShmqdStartLimit)) return;
    const shmq::support::ShmqdExit e = launcher_.stop(SIGKILL);
    const bool exited = e.exited || e.signal != SIGKILL;  // it ended before our SIGKILL
    const std::string why = (exited ? "exited at start: " : "did not get ready: ") + log();
    remove_files();
    throw std::runtime_error("shmqd (" + path + ") " + why + " (pass --shmqd PATH to choose another)");
  }
  ~Daemon() {
    if (launcher_.running()) (void)launcher_.stop(SIGTERM);
    remove_files();
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  [[nodiscard]] std::string log() const {
    std::ifstream in(log_);
    std::string text;
    std::string line;
    while (std::getline(in, line)) text += line + "\n";
    return text;
  }

 private:
  [[nodiscard]] shmq::support::ShmqdOptions options(const std::string& path, const std::string& ns) const {
    shmq::support::ShmqdOptions o;
    o.program = path;
    o.ns = ns;
    o.config = config_.string();
    o.log_level = "info";
    o.log_file = log_.string();
    return o;
  }

  void remove_files() const noexcept {
    std::error_code ignored;
    std::filesystem::remove(log_, ignored);
    std::filesystem::remove(config_, ignored);
  }

  std::filesystem::path log_, config_;
  shmq::support::ShmqdLauncher launcher_;
};

enum class Scenario { Kill, Stop };

class RecoveryRun {
 public:
  explicit RecoveryRun(const RecoveryOptions& o) : o_(o), round_(1), errors_(3) {}

  int run() {
    const std::string config = fmt::format(
        "[queues.{}]\ncapacity = 1024\nslot_size = 64\n\n[[queues.{}.groups]]\nname = \"default\"\n"
        "lease_timeout_ms = 600000\n",
        kQueue, kQueue);
    const std::string shmqd = shmq::support::find_shmqd(o_.shmqd);
    Daemon daemon(shmqd, o_.ns, config);
    std::vector<std::uint32_t> kill_first;
    std::vector<std::uint32_t> kill_all;
    std::vector<std::uint32_t> stop_first;
    std::vector<std::uint32_t> stop_all;
    for (std::uint32_t r = 0; r < o_.rounds; ++r) {
      measure(Scenario::Kill, kill_first, kill_all, daemon);
      measure(Scenario::Stop, stop_first, stop_all, daemon);
    }
    const HostInfo host = host_info();
    fmt::print("shmq-bench recovery: {} rounds per scenario, {} leases held by the victim, shmqd {}\n{}\n\n",
               o_.rounds, o_.leases, shmqd, host_line(host));
    const std::uint64_t hb = static_cast<std::uint64_t>(o_.heartbeat_timeout.count()) * 1'000'000;
    fmt::print("{:<40} {:>10} {:>10} {:>10}\n", "from the signal to", "p50", "p99", "max");
    const auto row = [](const char* what, std::vector<std::uint32_t>& samples) {
      const Percentiles p = percentiles(samples);
      fmt::print("{:<40} {:>10} {:>10} {:>10}\n", what, ms(p.p50), ms(p.p99), ms(p.max));
      return p;
    };
    row("kill -9 -> first redelivery", kill_first);
    const Percentiles ka = row("kill -9 -> all redelivered", kill_all);
    row("SIGSTOP -> first redelivery", stop_first);
    const Percentiles sa = row("SIGSTOP -> all redelivered", stop_all);
    fmt::print("(SIGSTOP: the victim's heartbeat timeout is {} ms)\n\n", o_.heartbeat_timeout.count());
    // A missed target is reported, not an error: the machine may be busy.
    fmt::print("targets (DESIGN.md section 5):\n");
    target("killed consumer: all redelivered, p99 < 50 ms", ka.p99, kTargetNs);
    target(fmt::format("hung consumer: all redelivered, p99 < {} + 50 ms", o_.heartbeat_timeout.count()),
                     sa.p99, hb + kTargetNs);
    return 0;
  }

 private:
  static std::string ms(std::uint64_t ns) { return fmt::format("{:.2f} ms", static_cast<double>(ns) / 1e6); }

  static void target(const std::string& what, std::uint64_t measured, std::uint64_t bound) {
    const bool met = measured < bound;
    fmt::print("  {:<52} {:>10}  {}\n", what, ms(measured),
               met ? "met" : fmt::format("MISSED (by {:.0f}%)", 100.0 * (static_cast<double>(measured) /
                                                                         static_cast<double>(bound) - 1)));
  }

  // One round: a producer child sends `leases` messages, the victim leases
  // them all, the measurer waits for them; the parent signals the victim.
  void measure(Scenario scenario, std::vector<std::uint32_t>& first, std::vector<std::uint32_t>& all,
               const Daemon& daemon) {
    Round& r = *round_;
    r.killed_ns = 0;
    r.first_ns = 0;
    r.last_ns = 0;
    r.received = 0;
    r.wrong = 0;
    for (std::size_t i = 0; i < errors_.size(); ++i) errors_[i].text[0] = '\0';
    const std::uint32_t n = o_.leases;

    const pid_t producer = spawn(-1, [&] { send_messages(n); }, errors_[0]);
    check(wait_all(std::span<const pid_t>(&producer, 1), kStepLimit), "producer", daemon);

    Pipe victim_ready;
    Pipe measurer_ready;
    const pid_t victim = spawn(-1, [&] { hold(scenario, n, victim_ready); }, errors_[1]);
    if (!victim_ready.wait(kStepLimit)) {
      ::kill(victim, SIGKILL);
      ::waitpid(victim, nullptr, 0);
      throw std::runtime_error("the victim did not lease its messages: " + std::string(errors_[1].text));
    }
    const pid_t measurer = spawn(-1, [&] { redeliveries(n, measurer_ready); }, errors_[2]);
    const bool measuring = measurer_ready.wait(kStepLimit);
    std::this_thread::sleep_for(kSettle);
    r.killed_ns = now_ns();
    ::kill(victim, scenario == Scenario::Kill ? SIGKILL : SIGSTOP);
    if (!measuring) ::kill(measurer, SIGKILL);  // reaped by wait_all
    std::string problem = wait_all(std::span<const pid_t>(&measurer, 1), kStepLimit);
    if (!measuring) problem = "did not start";
    if (scenario == Scenario::Stop) ::kill(victim, SIGKILL);  // fenced; now it dies for good
    ::waitpid(victim, nullptr, 0);
    check(problem, "measurer", daemon);
    if (r.wrong != 0 || r.received != n)
      throw std::runtime_error(fmt::format("round lost messages: {} of {} redelivered, {} with a wrong id or count",
                                           r.received.load(), n, r.wrong.load()));
    first.push_back(static_cast<std::uint32_t>(r.first_ns - r.killed_ns));
    all.push_back(static_cast<std::uint32_t>(r.last_ns - r.killed_ns));
  }

  void check(const std::string& problem, const char* who, const Daemon& daemon) const {
    if (problem.empty()) return;
    std::string why;
    for (std::size_t i = 0; i < errors_.size(); ++i)
      if (!errors_[i].empty()) why += std::string(" ") + errors_[i].text;
    throw std::runtime_error(fmt::format("the {} failed: {}{}\nshmqd's log:\n{}", who, problem, why, daemon.log()));
  }

  void send_messages(std::uint32_t n) const {
    shmq::Client c({.ns = o_.ns});
    shmq::Producer p = c.producer(kQueue);
    for (std::uint32_t i = 0; i < n; ++i)
      if (const shmq::Status s = p.send("recovery", kStepLimit); s != shmq::Status::Ok)
        throw std::runtime_error(std::string("send: ") + shmq::to_string(s));
  }

  void hold(Scenario scenario, std::uint32_t n, const Pipe& ready) const {
    shmq::ClientOptions options{.ns = o_.ns, .heartbeat_interval = std::max(1ms, o_.heartbeat_timeout / 6),
                                .heartbeat_timeout = o_.heartbeat_timeout};
    if (scenario == Scenario::Kill) options = {.ns = o_.ns};
    shmq::Client c(options);
    shmq::Consumer consumer = c.consumer(kQueue);
    std::vector<shmq::Message> held;
    for (std::uint32_t i = 0; i < n; ++i) {
      shmq::Message m = consumer.receive(kStepLimit);
      if (!m) throw std::runtime_error(std::string("victim receive: ") + shmq::to_string(m.status()));
      round_->ids[i] = m.id();
      held.push_back(std::move(m));
    }
    ready.signal();
    for (;;) ::pause();  // until SIGKILL
  }

  void redeliveries(std::uint32_t n, const Pipe& ready) const {
    shmq::Client c({.ns = o_.ns});
    shmq::Consumer consumer = c.consumer(kQueue);
    Round& r = *round_;
    ready.signal();
    for (std::uint32_t i = 0; i < n; ++i) {
      shmq::Message m = consumer.receive(kStepLimit);
      const std::uint64_t t = now_ns();
      if (!m) throw std::runtime_error(std::string("no redelivery: ") + shmq::to_string(m.status()));
      if (i == 0) r.first_ns = t;
      r.last_ns = t;
      bool known = false;
      for (std::uint32_t k = 0; k < n; ++k) known |= r.ids[k] == m.id();
      if (!known || m.delivery_count() != 2) ++r.wrong;
      ++r.received;
      if (m.ack() != shmq::Status::Ok) throw std::runtime_error("ack of a redelivery failed");
    }
  }

  const RecoveryOptions& o_;
  SharedArray<Round> round_;
  SharedArray<ChildError> errors_;
};

}  // namespace

int run_recovery(const RecoveryOptions& options) {
  if (options.leases == 0 || options.leases > kMaxLeases)
    throw std::invalid_argument("--leases must be 1 to " + std::to_string(kMaxLeases));
  const NamespaceSweep sweep(options.ns);
  return RecoveryRun(options).run();
}

}  // namespace shmq_bench
