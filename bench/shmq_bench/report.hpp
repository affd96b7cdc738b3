// What shmq-bench prints and writes: percentiles of pooled round-trip samples,
// the latency table, the JSON file, the gnuplot charts and the target check.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace shmq_bench {

struct HostInfo {
  std::string cpu;     // "model name" of /proc/cpuinfo
  unsigned cores = 0;  // online CPUs
  std::string kernel;  // uname -r
};
[[nodiscard]] HostInfo host_info();
// "AMD EPYC 7B13, 2 cores, Linux 6.1.0-18-amd64"
[[nodiscard]] std::string host_line(const HostInfo& host);

// "8 B", "64 B", "1 KiB", "1 MiB": the largest unit that divides `bytes` exactly.
[[nodiscard]] std::string human_bytes(std::uint64_t bytes);

// Every round-trip sample of one transport at one size and fan-out, pooled
// over all rounds of the run.
struct LatencySeries {
  std::string transport;  // "floor", "futex-floor", "shmq-spin", "shmq-spin-touch", "uds", ...
  std::uint64_t size = 0;    // message bytes (the floors: 64, one cache line)
  std::uint32_t groups = 1;  // consumer groups fanned out to (1 for non-shmq)
  std::vector<std::uint32_t> samples_ns;  // round trips, any order
};

struct Percentiles {
  std::uint64_t samples = 0;
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
};
// Nearest-rank percentiles; sorts `samples` in place. All zero when empty.
[[nodiscard]] Percentiles percentiles(std::vector<std::uint32_t>& samples);

struct LatencyResult {
  std::string transport;
  std::uint64_t size = 0;
  std::uint32_t groups = 1;
  Percentiles pct;
  double ratio_to_floor = 0;  // p50 / floor's p50; 0 when no floor was measured
  double ratio_to_uds = 0;    // p50 / uds p50 at the same size; 0 when no uds row
};
// One result per series, in the order given. Sorts every series' samples.
[[nodiscard]] std::vector<LatencyResult> summarize(std::vector<LatencySeries>& series);

// The human table: transport, size, groups, samples, p50 .. max, x floor, x uds.
void print_latency_table(std::FILE* out, const HostInfo& host, const std::vector<LatencyResult>& results);

// {"host":{"cpu","cores","kernel"},"results":[{"transport","size","groups","samples",
//  "p50_ns","p90_ns","p99_ns","p999_ns","p9999_ns","max_ns","ratio_to_floor"}]}
// Throws std::runtime_error naming the file when it cannot be written.
void write_latency_json(const std::string& path, const HostInfo& host, const std::vector<LatencyResult>& results);

// Two charts in one image (.svg or .png by extension, via gnuplot): percentile
// curves per transport at `curve_size`, and p50 against size per transport.
// `series` must be sorted (summarize does that). Throws std::runtime_error with
// what to do when gnuplot is missing or fails.
void plot_latency(const std::string& path, const HostInfo& host, const std::vector<LatencySeries>& series,
                  const std::vector<LatencyResult>& results, std::uint64_t curve_size);

// The DESIGN.md section 5 latency targets that this run can judge, one line
// each: measured ratio, target, "met" or "MISSED by N%". Returns how many missed.
int print_latency_targets(std::FILE* out, const std::vector<LatencyResult>& results);

}  // namespace shmq_bench
