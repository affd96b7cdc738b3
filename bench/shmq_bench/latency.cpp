#include "latency.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>

#include "bench_common.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "transports.hpp"

namespace shmq_bench {

namespace {

// Discarded round trips at the start of every turn: at least this many, for
// at least this long (caches, page faults, the other process getting going).
constexpr std::uint64_t kWarmupTrips = 64;
constexpr std::uint64_t kWarmupNs = 5'000'000;
// The floors move one cache line; they are reported at that size.
constexpr std::uint64_t kFloorSize = 64;
// What starting and stopping a turn's two processes may take.
constexpr std::chrono::milliseconds kSetupGuess{20};
// A turn whose processes outlive its length by this much is killed.
constexpr std::chrono::seconds kTurnGrace{30};

struct Case {
  std::unique_ptr<Channel> channel;
  LatencySeries series;
  std::string error;  // why the case stopped early
  std::uint64_t turns_per_round = 0;
};

// What the ping child hands back: how many samples it wrote.
struct TurnCount {
  std::atomic<std::uint64_t> samples{0};
};

class LatencyRun {
 public:
  explicit LatencyRun(const LatencyOptions& options)
      : options_(options),
        samples_(std::min<std::uint64_t>(options.samples, 8'000'000)),
        errors_(2) {}

  int run() {
    make_cases();
    const std::uint64_t start = now_ns();
    const auto budget = static_cast<std::uint64_t>(options_.duration_s * 1e9);
    // Until a round has been timed: every turn takes its full length plus set-up.
    std::uint64_t round_ns =
        schedule_.size() * static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.round + kSetupGuess).count());
    for (std::uint32_t round = 1;; ++round) {
      const std::uint64_t round_start = now_ns();
      const std::uint64_t left = budget - std::min(budget, round_start - start);
      const std::uint64_t rounds_left = std::max<std::uint64_t>(1, left / std::max<std::uint64_t>(round_ns, 1));
      bool wanted = false;
      for (std::size_t i : schedule_) {
        Case& c = cases_[i];
        if (!needs_samples(c)) continue;
        wanted = true;
        // Spread the samples over the rounds still to come, so that a fast
        // transport is not done after the first round and still meets every
        // change of the machine's speed.
        const std::uint64_t missing = options_.samples - c.series.samples_ns.size();
        run_turn(c, std::max<std::uint64_t>(1, missing / (c.turns_per_round * rounds_left)));
      }
      round_ns = now_ns() - round_start;
      std::fprintf(stderr, "shmq-bench: round %u done, %.1f s\n", round, static_cast<double>(now_ns() - start) / 1e9);
      if (!wanted || now_ns() - start >= budget) break;
    }
    return report();
  }
  [[nodiscard]] bool needs_samples(const Case& c) const {
    return c.error.empty() && c.series.samples_ns.size() < options_.samples;
  }

  void add_case(const std::string& transport, std::uint64_t size, std::uint32_t groups) {
    Case c;
    c.series = {.transport = transport, .size = size, .groups = groups, .samples_ns = {}};
    try {
      c.channel = make_channel({.transport = transport, .size = size, .groups = groups, .ns = options_.ns});
    } catch (const Unsupported& e) {
      c.error = std::string("not supported here: ") + e.what();
    } catch (const std::exception& e) {
      c.error = std::string("setup failed: ") + e.what();
      failed_ = true;
    }
    cases_.push_back(std::move(c));
  }

  // Floors once, but scheduled before every size, so that they sample the
  // machine's speed as often as the transports do.
  void make_cases() {
    std::vector<std::size_t> floors;
    for (const std::string& t : options_.transports) {
      if (!is_floor(t)) continue;
      floors.push_back(cases_.size());
      add_case(t, kFloorSize, 1);
    }
    for (std::uint64_t size : options_.sizes) {
      schedule_.insert(schedule_.end(), floors.begin(), floors.end());
      for (std::size_t f : floors) ++cases_[f].turns_per_round;
      for (const std::string& t : options_.transports) {
        if (is_floor(t)) continue;
        for (std::uint32_t groups : is_shmq(t) ? options_.groups : std::vector<std::uint32_t>{1}) {
          schedule_.push_back(cases_.size());
          add_case(t, size, groups);
          cases_.back().turns_per_round = 1;
        }
      }
    }
  }

  // One turn of one case: a fresh pair of processes, up to `wanted` samples.
  void run_turn(Case& c, std::uint64_t wanted) {
    wanted = std::min<std::uint64_t>(wanted, samples_.size());
    count_->samples = 0;
    for (std::size_t i = 0; i < errors_.size(); ++i) errors_[i].text[0] = '\0';
    Channel& channel = *c.channel;
    const pid_t echo = spawn(options_.cpus[1], [&] { echo_side(channel); }, errors_[1]);
    const pid_t ping = spawn(options_.cpus[0], [&] { ping_side(channel, wanted); }, errors_[0]);
    const pid_t children[] = {ping, echo};
    const std::string problem = wait_all(children, options_.round + kTurnGrace);
    if (!problem.empty()) {
      c.error = !errors_[0].empty() ? errors_[0].text : !errors_[1].empty() ? errors_[1].text : problem;
      failed_ = true;
      return;
    }
    const std::uint64_t n = count_->samples;
    c.series.samples_ns.insert(c.series.samples_ns.end(), &samples_[0], &samples_[0] + n);
  }

  void ping_side(Channel& channel, std::uint64_t wanted) {
    const std::unique_ptr<Endpoint> ep = channel.open(Side::Ping);
    std::uint32_t seq = 0;
    const auto round_trip = [&] {
      ep->send(seq);
      const std::uint32_t got = ep->receive();
      if (got != seq)
        throw std::runtime_error("sent message " + std::to_string(seq) + ", got " + std::to_string(got) + " back");
      ++seq;
    };
    const std::uint64_t warmup_start = now_ns();
    for (std::uint64_t i = 0; i < kWarmupTrips || now_ns() - warmup_start < kWarmupNs; ++i) round_trip();

    const auto turn_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.round).count());
    const std::uint64_t start = now_ns();
    std::uint64_t n = 0;
    for (std::uint64_t prev = start; n < wanted;) {
      round_trip();
      const std::uint64_t t = now_ns();
      samples_[n++] = static_cast<std::uint32_t>(std::min<std::uint64_t>(t - prev, UINT32_MAX));
      prev = t;
      if (t - start >= turn_ns) break;
    }
    count_->samples = n;
    ep->send(kStop);
    (void)ep->receive();
  }

  static void echo_side(Channel& channel) {
    const std::unique_ptr<Endpoint> ep = channel.open(Side::Echo);
    for (;;) {
      const std::uint32_t seq = ep->receive();
      ep->send(seq);
      if (seq == kStop) return;
    }
  }

  int report() {
    std::vector<LatencySeries> measured;
    std::vector<std::string> skipped;
    for (Case& c : cases_) {
      const std::string label = c.series.transport + " " + std::to_string(c.series.size) + " B" +
                                (c.series.groups > 1 ? " x" + std::to_string(c.series.groups) : "");
      if (!c.error.empty()) skipped.push_back(label + ": " + c.error);
      else measured.push_back(std::move(c.series));
    }
    cases_.clear();  // removes every queue, socket and message queue of the run

    const HostInfo host = host_info();
    const std::vector<LatencyResult> results = summarize(measured);
    print_latency_table(stdout, host, results);
    std::printf("\n");
    (void)print_latency_targets(stdout, results);
    for (const std::string& s : skipped) std::fprintf(stderr, "shmq-bench: skipped %s\n", s.c_str());
    if (!options_.json.empty()) write_latency_json(options_.json, host, results);
    if (!options_.plot.empty()) {
      const auto& sizes = options_.sizes;
      const std::uint64_t curve_size = std::find(sizes.begin(), sizes.end(), 64) != sizes.end() ? 64 : sizes.front();
      plot_latency(options_.plot, host, measured, results, curve_size);
    }
    return failed_ ? 1 : 0;
  }

  const LatencyOptions& options_;
  std::vector<Case> cases_;
  std::vector<std::size_t> schedule_;  // case indices in the order of one round
  SharedArray<std::uint32_t> samples_;
  SharedArray<TurnCount> count_;
  SharedArray<ChildError> errors_;
  bool failed_ = false;
};

}  // namespace

int run_latency(const LatencyOptions& options) {
  const NamespaceSweep sweep(options.ns);
  return LatencyRun(options).run();
}

}  // namespace shmq_bench
