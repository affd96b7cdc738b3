// The DESIGN.md section 5 latency targets this run can judge: each a ratio of
// two measured rows against its bound, printed as "met" or by how much it missed.
#include "report.hpp"
#include "report_impl.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace shmq_bench {
namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

enum class Bound { AtMost, AtLeast };

struct Target {
  std::string_view description;
  double bound;
  Bound kind;
  std::optional<double> measured;  // empty when a row it needs was not measured
};

std::optional<double> measured_ratio(const LatencyResult* numerator, const LatencyResult* denominator,
                                     std::uint64_t Percentiles::*field = &Percentiles::p50) {
  if (numerator == nullptr || denominator == nullptr || denominator->pct.*field == 0) return std::nullopt;
  return ratio(numerator->pct.*field, denominator->pct.*field);
}

std::vector<Target> latency_targets(const std::vector<LatencyResult>& results) {
  const LatencyResult* spin = find_result(results, "shmq-spin", 64);
  const LatencyResult* spin_1mib = find_result(results, "shmq-spin", kMiB);
  const LatencyResult* park = find_result(results, "shmq-park", 64);
  const LatencyResult* floor_row = find_result(results, kFloor);
  const LatencyResult* futex_floor = find_result(results, kFutexFloor);
  const LatencyResult* uds_spin = find_result(results, "uds-spin", 64);
  const LatencyResult* uds = find_result(results, kUds, 64);
  return {
      {"shmq-spin 64 B p50 <= 2x floor p50", 2, Bound::AtMost, measured_ratio(spin, floor_row)},
      {"shmq-spin 64 B p99 <= 4x floor p99", 4, Bound::AtMost, measured_ratio(spin, floor_row, &Percentiles::p99)},
      {"shmq-spin 64 B >= 20x faster than uds-spin (p50)", 20, Bound::AtLeast, measured_ratio(uds_spin, spin)},
      {"shmq-spin 64 B >= 50x faster than uds (p50)", 50, Bound::AtLeast, measured_ratio(uds, spin)},
      {"shmq-spin 1 MiB p50 <= 1.5x shmq-spin 64 B p50", 1.5, Bound::AtMost, measured_ratio(spin_1mib, spin)},
      {"shmq-park 64 B p50 <= 1.2x futex-floor p50", 1.2, Bound::AtMost, measured_ratio(park, futex_floor)},
  };
}

bool is_met(const Target& t) { return t.kind == Bound::AtMost ? *t.measured <= t.bound : *t.measured >= t.bound; }

// How far beyond the bound, relative to it, rounded up so a near miss never reads "0%".
double missed_by_percent(const Target& t) {
  const double excess = t.kind == Bound::AtMost ? *t.measured - t.bound : t.bound - *t.measured;
  return std::ceil(100 * excess / t.bound);
}

}  // namespace

int print_latency_targets(std::FILE* out, const std::vector<LatencyResult>& results) {
  fmt::print(out, "targets (DESIGN.md section 5):\n");
  int missed = 0;
  for (const Target& t : latency_targets(results)) {
    if (!t.measured) {
      fmt::print(out, "  {:<48} not measured in this run\n", t.description);
      continue;
    }
    const bool met = is_met(t);
    missed += met ? 0 : 1;
    const std::string verdict = met ? "met" : fmt::format("MISSED (by {:.0f}%)", missed_by_percent(t));
    fmt::print(out, "  {:<48} {:>8}  {}\n", t.description, fmt::format("{:.2f}x", *t.measured), verdict);
  }
  return missed;
}

}  // namespace shmq_bench
