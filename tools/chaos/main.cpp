// shmq-chaos: a soak under faults. Starts shmqd, producer and consumer
// processes and a dead-letter keeper in a private namespace, kills and stops
// them (and shmqd), purges the queue and replays its dead letters at random
// for --duration, then checks that no committed message was lost, corrupted
// or duplicated without a redelivery, that only the dead-letter group
// dead-lettered anything, that no slot leaked, and that the teardown left
// nothing in /dev/shm. Prints one summary line.
//
// Exit codes: 0 passed; 1 a check failed; 2 usage; 3 could not start; 130 interrupted.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "controller.hpp"
#include "shmq/config.hpp"
#include "shmq/error.hpp"
#include "support/shmqd_launcher.hpp"

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): only CLI11 set-up is outside a try
  using shmq::chaos::ChaosOptions;
  ChaosOptions o;
  o.shape.ns = "chaos" + std::to_string(::getpid());
  o.seed = std::random_device{}();
  unsigned duration_s = 60;
  unsigned interval_ms = 100;
  unsigned heartbeat_timeout_ms = 500;
  unsigned drain_s = 60;
  unsigned hold_us = 100;
  bool no_daemon_faults = false;
  bool quiet = false;

  CLI::App app{"shmq-chaos: kill -9, SIGSTOP, shmqd restarts, purges and dead-letter replays under load; checks nothing is lost", "shmq-chaos"};
  app.add_option("--duration", duration_s, "Seconds of faults before the drain and the checks")
      ->capture_default_str()->check(CLI::Range(1U, 7U * 24 * 3600));
  app.add_option("--producers", o.shape.producers, "Producer processes")
      ->capture_default_str()->check(CLI::Range(1U, shmq::chaos::kMaxProducers));
  app.add_option("--consumers", o.shape.consumers_per_group, "Consumer processes per group (4 groups)")
      ->capture_default_str()->check(CLI::Range(1U, shmq::chaos::kMaxConsumersPerGroup));
  app.add_option("--interval", interval_ms, "Milliseconds between two faults")
      ->capture_default_str()->check(CLI::Range(1U, 3'600'000U));
  app.add_option("--rate", o.shape.rate, "Messages per second per producer (0: as fast as the queue takes them)")
      ->capture_default_str()->check(CLI::Range(0U, 100'000'000U));
  app.add_option("--hold-us", hold_us, "Mean microseconds a consumer holds 1 in 16 messages (simulated work)")
      ->capture_default_str()->check(CLI::Range(0U, 10'000'000U));
  app.add_option("--max-messages", o.max_messages,
                 "Messages over all producers at most (the ledger takes 4 bytes each, reserved lazily)")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 36));
  app.add_option("--slot-size", o.shape.slot_size, "Payload bytes per slot (messages are 32..slot-size bytes)")
      ->capture_default_str()->check(CLI::Range(static_cast<unsigned>(shmq::chaos::kPayloadHeader), 1U << 20));
  app.add_option("--heartbeat-timeout", heartbeat_timeout_ms, "Milliseconds without a heartbeat before fencing")
      ->capture_default_str()->check(CLI::Range(static_cast<unsigned>(shmq::kMinHeartbeatTimeout.count()), 60'000U));
  app.add_option("--drain-timeout", drain_s, "Seconds the queue may take to empty after the faults")
      ->capture_default_str()->check(CLI::Range(1U, 3600U));
  app.add_flag("--no-daemon-faults", no_daemon_faults, "Never kill, stop or restart shmqd");
  app.add_option("--seed", o.seed, "Seed of the fault schedule (printed; default random)");
  app.add_option("--namespace", o.shape.ns, "Namespace of the run (must be unused)")->capture_default_str();
  app.add_option("--shmqd", o.shmqd_path, "The shmqd program (default: next to shmq-chaos, else $PATH)");
  app.add_option("--log", o.log_path, "Where shmqd's output goes (default /tmp/shmq-chaos.<namespace>.log)");
  app.add_flag("--quiet", quiet, "No progress lines on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  o.duration = std::chrono::seconds(duration_s);
  o.interval = std::chrono::milliseconds(interval_ms);
  o.drain_timeout = std::chrono::seconds(drain_s);
  o.shape.hold = std::chrono::microseconds(hold_us);
  o.shape.heartbeat_timeout = std::chrono::milliseconds(heartbeat_timeout_ms);
  o.shape.heartbeat_interval = std::max(std::chrono::milliseconds(5), o.shape.heartbeat_timeout / 10);
  o.daemon_faults = !no_daemon_faults;
  o.progress = !quiet;
  o.shmqd_path = shmq::support::find_shmqd(o.shmqd_path);
  const bool own_log = o.log_path.empty();  // removed after a pass
  if (own_log) o.log_path = "/tmp/shmq-chaos." + o.shape.ns + ".log";

  std::fprintf(stderr, "shmq-chaos: namespace %s, seed %llu, %u s, %u producers, %u consumers x %u groups, shmqd %s, log %s\n",
               o.shape.ns.c_str(), static_cast<unsigned long long>(o.seed), duration_s, o.shape.producers,
               o.shape.consumers_per_group, shmq::chaos::kGroups, o.shmqd_path.c_str(), o.log_path.c_str());
  try {
    const shmq::chaos::ChaosReport report = shmq::chaos::run_chaos(o);
    std::printf("%s\n", report.summary().c_str());
    if (report.passed() && own_log) ::unlink(o.log_path.c_str());
    if (!report.passed()) std::fprintf(stderr, "shmq-chaos: shmqd's output is in %s\n", o.log_path.c_str());
    if (report.interrupted) return 130;
    return report.passed() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq-chaos: %s\n", e.what());
    return 3;
  }
}
