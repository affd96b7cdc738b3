// watch [QUEUE]: stat (or every queue) refreshed live with rates per second.
// On a terminal it redraws in place (alternate screen, ANSI escapes), reads
// keys without echo, and quits on `q` or Ctrl-C with the terminal restored.
// When stdout is not a terminal it prints one line (or, with --json, one JSON
// object) per interval.
#include <poll.h>
#include <csignal>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "report.hpp"
#include "shmq/error.hpp"

namespace shmq::cli {

namespace {

// SIGINT and SIGTERM arrive on a signalfd that the wait polls beside the
// keyboard: no asynchronous handler (whose delivery a sanitizer may defer).
class StopSignals {
 public:
  StopSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &set, &saved_);
    fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd_ < 0) throw Failure(kInternal, std::string("watch: signalfd: ") + std::generic_category().message(errno));
  }
  ~StopSignals() {
    ::close(fd_);
    ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
  sigset_t saved_{};
};

struct WatchArgs {
  std::string queue;
  std::uint32_t interval_ms = 1000;
  std::uint32_t count = 0;
};

// Puts the terminal in the state watch needs and restores it however watch ends.
class Screen {
 public:
  explicit Screen(bool active) : active_(active) {
    if (!active_) return;
    if (::isatty(STDIN_FILENO) != 0 && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);  // ISIG stays: Ctrl-C is SIGINT
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      keys_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen, hide the cursor
    std::fflush(stdout);
  }
  ~Screen() {
    if (!active_) return;
    std::fputs("\x1b[?25h\x1b[?1049l", stdout);
    std::fflush(stdout);
    if (keys_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  [[nodiscard]] bool reads_keys() const noexcept { return keys_; }

  static void draw(const std::string& text) {
    std::string frame = "\x1b[H";
    for (std::size_t start = 0; start < text.size();) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      frame.append(text, start, end - start);
      frame += "\x1b[K\n";  // the tty turns \n into \r\n
      start = end + 1;
    }
    frame += "\x1b[J";
    std::fwrite(frame.data(), 1, frame.size(), stdout);
    std::fflush(stdout);
  }

 private:
  bool active_;
  bool keys_ = false;
  termios saved_{};
};

struct Snapshot {
  std::uint64_t at_ns = 0;
  std::map<std::string, admin::QueueStats> queues;
  std::map<std::string, std::string> errors;
};

Snapshot take_snapshot(const std::string& only, const admin::Namespace& reg) {
  Snapshot s;
  s.at_ns = admin::monotonic_ns();
  const std::vector<std::string> names = only.empty() ? reg.queue_names() : std::vector<std::string>{only};
  for (const std::string& name : names) {
    try {
      const admin::Queue q = reg.queue(name);
      s.queues[name] = q.stats();
    } catch (const Error& e) {
      if (!only.empty() && e.value() == errc::not_found) throw;  // watch QUEUE: the queue must exist
      s.errors[name] = e.what();
    }
  }
  return s;
}

struct Rates {
  std::optional<double> in;                   // messages claimed per second (tail)
  std::vector<std::optional<double>> out, acked;  // per group: deliveries, acks per second
};

Rates rates_of(const Snapshot* prev, const Snapshot& now, const std::string& name) {
  Rates r;
  const admin::QueueStats& cur = now.queues.at(name);
  r.out.resize(cur.groups.size());
  r.acked.resize(cur.groups.size());
  if (prev == nullptr || !prev->queues.contains(name) || now.at_ns <= prev->at_ns) return r;
  const admin::QueueStats& old = prev->queues.at(name);
  const double dt = static_cast<double>(now.at_ns - prev->at_ns) / 1e9;
  auto per_s = [dt](std::uint64_t a, std::uint64_t b) { return b >= a ? static_cast<double>(b - a) / dt : 0.0; };
  r.in = per_s(old.tail, cur.tail);
  for (std::size_t g = 0; g < cur.groups.size() && g < old.groups.size(); ++g) {
    r.out[g] = per_s(old.groups[g].delivered + old.groups[g].redelivered,
                     cur.groups[g].delivered + cur.groups[g].redelivered);
    r.acked[g] = per_s(old.groups[g].acked, cur.groups[g].acked);
  }
  return r;
}

std::string rate_text(std::optional<double> r) { return r ? fmt::format("{:.1f}", *r) : "-"; }
nlohmann::ordered_json rate_json(std::optional<double> r) { return r ? nlohmann::ordered_json(*r) : nlohmann::ordered_json(nullptr); }

std::optional<std::uint64_t> oldest(const admin::GroupStats& g, std::uint64_t now_ns) {
  if (g.oldest_unacked_commit_ns == 0) return std::nullopt;
  return age_ms(g.oldest_unacked_commit_ns, now_ns);
}

std::string screen_text(const std::string& ns, const WatchArgs& a, const Snapshot* prev, const Snapshot& now,
                        const admin::Namespace& reg, bool keys) {
  const std::time_t t = std::time(nullptr);
  std::tm local{};
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", ::localtime_r(&t, &local));
  std::string out = fmt::format("shmq-cli watch  namespace {}  every {:.1f}s  {}{}\n\n", ns, a.interval_ms / 1000.0,
                                clock, keys ? "  (q: quit)" : "  (Ctrl-C: quit)");
  std::vector<std::vector<std::string>> rows{
      {"QUEUE", "GROUP", "READY", "PENDING", "LEASED", "LAG", "IN/S", "OUT/S", "ACK/S", "OLDEST UNACKED", "DEAD"}};
  for (const auto& [name, st] : now.queues) {
    const Rates r = rates_of(prev, now, name);
    for (std::size_t g = 0; g < st.groups.size(); ++g) {
      const admin::GroupStats& gs = st.groups[g];
      rows.push_back({g == 0 ? name : "", gs.name, std::to_string(gs.ready), std::to_string(gs.pending),
                      std::to_string(gs.leased), std::to_string(gs.lag), g == 0 ? rate_text(r.in) : "",
                      rate_text(r.out[g]), rate_text(r.acked[g]), age_text(oldest(gs, now.at_ns)),
                      std::to_string(gs.dead_lettered)});
    }
  }
  out += rows.size() > 1 ? table(rows) : "no queues\n";
  for (const auto& [name, err] : now.errors) out += fmt::format("{}: {}\n", name, err);
  if (!a.queue.empty() && now.queues.contains(a.queue))
    out += "\n" + stat_text(ns, a.queue, now.queues.at(a.queue), reg, now.at_ns);
  return out;
}

std::string line_text(const Snapshot* prev, const Snapshot& now) {
  const std::time_t t = std::time(nullptr);
  std::tm local{};
  char clock[32];
  std::strftime(clock, sizeof clock, "%Y-%m-%dT%H:%M:%S", ::localtime_r(&t, &local));
  std::string out = clock;
  for (const auto& [name, st] : now.queues) {
    const Rates r = rates_of(prev, now, name);
    out += fmt::format(" | {} in={}/s", name, rate_text(r.in));
    for (std::size_t g = 0; g < st.groups.size(); ++g) {
      const admin::GroupStats& gs = st.groups[g];
      out += fmt::format(" {}: ready={} pending={} leased={} out={}/s ack={}/s oldest={}", gs.name, gs.ready,
                         gs.pending, gs.leased, rate_text(r.out[g]), rate_text(r.acked[g]),
                         age_text(oldest(gs, now.at_ns)));
    }
  }
  if (now.queues.empty()) out += " | no queues";
  return out + "\n";
}

nlohmann::ordered_json line_json(const Snapshot* prev, const Snapshot& now) {
  nlohmann::ordered_json queues = nlohmann::ordered_json::array();
  for (const auto& [name, st] : now.queues) {
    const Rates r = rates_of(prev, now, name);
    nlohmann::ordered_json groups = nlohmann::ordered_json::array();
    for (std::size_t g = 0; g < st.groups.size(); ++g) {
      const admin::GroupStats& gs = st.groups[g];
      const auto age = oldest(gs, now.at_ns);
      groups.push_back({{"name", gs.name}, {"ready", gs.ready}, {"pending", gs.pending}, {"leased", gs.leased},
                        {"lag", gs.lag}, {"out_per_s", rate_json(r.out[g])}, {"acked_per_s", rate_json(r.acked[g])},
                        {"oldest_unacked_age_ms", age ? nlohmann::ordered_json(*age) : nlohmann::ordered_json(nullptr)}});
    }
    queues.push_back({{"name", name}, {"in_per_s", rate_json(r.in)}, {"free", st.free}, {"groups", groups}});
  }
  return {{"time_unix_ms", admin::realtime_ns() / 1'000'000}, {"queues", queues}};
}

// Sleeps one interval; true when the user asked to quit (q, Ctrl-C, SIGTERM).
bool wait_or_quit(const Screen& screen, const StopSignals& stop, std::uint32_t interval_ms) {
  const std::uint64_t deadline = admin::monotonic_ns() / 1'000'000 + interval_ms;
  for (;;) {
    const std::uint64_t now = admin::monotonic_ns() / 1'000'000;
    if (now >= deadline) return false;
    pollfd p[2] = {{stop.fd(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(p, screen.reads_keys() ? 2 : 1, static_cast<int>(deadline - now)) <= 0) continue;
    if ((p[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      (void)::read(stop.fd(), &info, sizeof info);  // consumed: not pending when the mask is restored
      return true;
    }
    if ((p[1].revents & POLLIN) != 0) {
      char c = 0;
      if (::read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) return true;
    }
  }
}

int run_watch(const Globals& g, const WatchArgs& a) {
  const std::string ns = g.ns();
  if (a.interval_ms == 0) throw Failure(kUsage, "--interval 0 is invalid: give milliseconds >= 1");
  const StopSignals stop;

  const bool tty = ::isatty(STDOUT_FILENO) != 0 && !g.json;
  admin::Namespace reg(ns);
  std::optional<Snapshot> prev;
  Snapshot now = take_snapshot(a.queue, reg);  // fails (not found) before the screen changes
  Screen screen(tty);
  for (std::uint32_t n = 1;; ++n) {
    if (!reg.has_registry()) reg = admin::Namespace(ns);  // the first session may come later
    if (tty)
      Screen::draw(screen_text(ns, a, prev ? &*prev : nullptr, now, reg, screen.reads_keys()));
    else if (g.json)
      std::printf("%s\n", line_json(prev ? &*prev : nullptr, now).dump().c_str());
    else
      std::fputs(line_text(prev ? &*prev : nullptr, now).c_str(), stdout);
    std::fflush(stdout);
    if ((a.count != 0 && n >= a.count) || wait_or_quit(screen, stop, a.interval_ms)) break;
    prev = std::move(now);
    now = take_snapshot(a.queue, reg);
  }
  return kOk;
}

}  // namespace

void add_watch_command(CLI::App& app, Globals& g, Commands& out) {
  auto a = std::make_shared<WatchArgs>();
  CLI::App* watch = app.add_subcommand("watch", "Live view of one queue (or all) with rates per second; q quits");
  watch->add_option("QUEUE", a->queue, "Queue (default: every queue of the namespace)");
  watch->add_option("--interval", a->interval_ms, "Milliseconds between refreshes")->capture_default_str();
  watch->add_option("--count", a->count, "Stop after this many refreshes (default 0: until q or Ctrl-C)");
  add_json_flag(watch, g);
  watch->footer("On a terminal it redraws in place; piped, it prints one line (with --json one object) per interval.\n"
                "Example: shmq-cli watch orders --interval 500");
  out.push_back({watch, [&g, a] { return run_watch(g, *a); }});
}

}  // namespace shmq::cli
