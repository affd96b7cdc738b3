// shmq-chaos's controller: starts shmqd and the workers in a private
// namespace, injects faults for the run's duration (kill -9 of consumers,
// producers, the dead-letter keeper and shmqd, SIGTERM of shmqd, SIGSTOP past
// the heartbeat timeout, purges, dead-letter replays), restarts what died,
// then drains the queue, audits it, checks the ledger and tears the namespace
// down.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "workers.hpp"

namespace shmq::chaos {

struct ChaosOptions {
  RunShape shape;
  std::chrono::seconds duration{60};
  std::uint64_t max_messages = 50'000'000;    // over all producers: sizes the ledger
  std::chrono::milliseconds interval{100};   // between two faults
  std::chrono::seconds drain_timeout{60};
  std::uint64_t seed = 0;
  bool daemon_faults = true;                  // kill, stop and restart shmqd too
  std::string shmqd_path;
  std::string log_path;                       // shmqd's output
  bool progress = true;                       // a line on stderr every 10 s
};

// The figures of a run. Passed when nothing was lost, corrupted, duplicated
// without a redelivery, leaked, wedged or failed.
struct ChaosReport {
  double seconds = 0;
  std::uint64_t messages = 0;       // commits confirmed to the producers
  std::uint64_t deliveries = 0;     // messages received, all groups
  std::uint64_t redeliveries = 0;   // of them, delivery_count > 1
  std::uint64_t nacks = 0;
  std::uint64_t lease_lost = 0;     // acks refused: the lease had been taken back
  std::uint64_t in_doubt = 0;       // commits a killed producer may or may not have made
  std::uint64_t amo_dropped = 0;    // at-most-once messages lost with a killed or fenced consumer (allowed, one each)
  std::uint64_t consumer_kills = 0, producer_kills = 0, keeper_kills = 0, stops = 0, fenced = 0;
  std::uint64_t daemon_kills = 0, daemon_terms = 0, daemon_restarts = 0, daemon_stops = 0;
  std::uint64_t dead_lettered = 0;      // messages of the dead-letter group seen in the area, checked intact
  std::uint64_t replay_faults = 0;      // replays asked of the keeper
  std::uint64_t replayed = 0;           // dead letters published again
  std::uint64_t replay_duplicates = 0;  // second deliveries charged to a keeper killed mid-replay (allowed)
  std::uint64_t dlq_freed = 0;          // dead letters the keeper freed to make room, after recording them
  std::uint64_t purges = 0;             // purges through shmqd
  std::uint64_t purged = 0;             // messages they reported dropped, summed over the groups
  std::uint64_t purge_excused = 0;      // missing messages charged to those drops (allowed)
  std::uint64_t lost = 0, corrupted = 0, duplicates = 0, leaked = 0;
  std::uint64_t stray = 0;              // dead letters in a group that never nacks often
  std::vector<std::string> failures;  // one line each: what went wrong
  bool interrupted = false;

  [[nodiscard]] bool passed() const noexcept {
    return !interrupted && failures.empty() && lost == 0 && corrupted == 0 && duplicates == 0 && leaked == 0 &&
           stray == 0;
  }
  [[nodiscard]] std::string summary() const;
};

// Runs the whole thing. Throws shmq::Error when it cannot even start (no
// shmqd binary, a namespace in use, no memory for the ledger).
ChaosReport run_chaos(const ChaosOptions& options);

}  // namespace shmq::chaos
