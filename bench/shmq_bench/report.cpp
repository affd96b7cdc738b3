// shmq-bench's numbers: nearest-rank percentiles of the pooled samples and
// each result's ratios to the floor and to uds at the same size.
#include "report.hpp"
#include "report_impl.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace shmq_bench {
namespace {

constexpr std::uint64_t kPerHundredThousand = 100'000;

// Nearest rank, 1-based: ceil(p * n) with p in hundred-thousandths, so that
// p99.99 of 10000 samples is rank 9999 exactly (floating point may round up).
std::uint64_t nearest_rank(const std::vector<std::uint32_t>& sorted, std::uint64_t per_hundred_thousand) {
  const std::uint64_t n = sorted.size();
  const std::uint64_t rank = (n * per_hundred_thousand + kPerHundredThousand - 1) / kPerHundredThousand;
  return sorted[rank - 1];  // rank >= 1: n >= 1 and p > 0
}

std::uint64_t p50_of(const LatencyResult* result) { return result == nullptr ? 0 : result->pct.p50; }

}  // namespace

double ratio(std::uint64_t value, std::uint64_t reference) {
  return reference == 0 ? 0 : static_cast<double>(value) / static_cast<double>(reference);
}

const LatencyResult* find_result(const std::vector<LatencyResult>& results, std::string_view transport,
                                 std::optional<std::uint64_t> size) {
  const auto match = [&](const LatencyResult& r) {
    return r.transport == transport && r.groups == 1 && (!size || r.size == *size);
  };
  const auto it = std::find_if(results.begin(), results.end(), match);
  return it == results.end() ? nullptr : &*it;
}

Percentiles percentiles(std::vector<std::uint32_t>& samples) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  return {.samples = samples.size(),
          .p50 = nearest_rank(samples, 50'000),
          .p90 = nearest_rank(samples, 90'000),
          .p99 = nearest_rank(samples, 99'000),
          .p999 = nearest_rank(samples, 99'900),
          .p9999 = nearest_rank(samples, 99'990),
          .max = samples.back()};
}

std::vector<LatencyResult> summarize(std::vector<LatencySeries>& series) {
  std::vector<LatencyResult> results;
  results.reserve(series.size());
  for (LatencySeries& s : series) results.push_back({s.transport, s.size, s.groups, percentiles(s.samples_ns)});
  const std::uint64_t floor_p50 = p50_of(find_result(results, kFloor));
  for (LatencyResult& r : results) {
    r.ratio_to_floor = ratio(r.pct.p50, floor_p50);
    r.ratio_to_uds = r.transport == kUds ? 1 : ratio(r.pct.p50, p50_of(find_result(results, kUds, r.size)));
  }
  return results;
}

}  // namespace shmq_bench
