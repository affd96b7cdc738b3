// shmq-bench latency: round trips between two pinned processes, every
// transport interleaved in short rounds, samples pooled per transport.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace shmq_bench {

struct LatencyOptions {
  std::vector<std::string> transports;  // from latency_transports()
  std::vector<std::uint64_t> sizes{8, 64, 1024, 65536, 1048576};
  std::vector<std::uint32_t> groups{1};  // shmq transports: fan-out to each of these
  std::uint64_t samples = 1'000'000;    // per transport, size and fan-out: stop there
  double duration_s = 30;               // stop starting rounds after this long
  std::chrono::milliseconds round{50};  // one transport's turn in a round
  std::array<int, 2> cpus{-1, -1};      // ping side, echo side
  std::string ns;                       // shmq namespace (private to this run)
  std::string json;                     // write results here if set
  std::string plot;                     // draw charts here if set (.svg or .png)
};

// Runs the measurement and prints the table; returns the process exit status.
int run_latency(const LatencyOptions& options);

}  // namespace shmq_bench
