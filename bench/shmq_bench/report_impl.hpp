// What the files of shmq-bench's report share, not part of report.hpp:
//   report.cpp          percentiles and the ratios to the floor and to uds
//   report_host.cpp     the host description
//   report_table.cpp    the latency table and its size labels
//   report_json.cpp     the JSON file, and writing a whole text file
//   report_plot.cpp     the gnuplot charts
//   report_targets.cpp  the DESIGN.md section 5 verdicts
#pragma once

#include "report.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmq_bench {

inline constexpr std::string_view kFloor = "floor";
inline constexpr std::string_view kFutexFloor = "futex-floor";
inline constexpr std::string_view kUds = "uds";

[[nodiscard]] inline bool is_floor_name(std::string_view transport) {
  return transport == kFloor || transport == kFutexFloor;
}

// value / reference; 0 when there is no reference.
[[nodiscard]] double ratio(std::uint64_t value, std::uint64_t reference);

// The result of `transport` with groups == 1, at `size` unless any size will do.
[[nodiscard]] const LatencyResult* find_result(const std::vector<LatencyResult>& results, std::string_view transport,
                                               std::optional<std::uint64_t> size = std::nullopt);

// Replaces `path` with `text`. Throws std::runtime_error naming the file.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace shmq_bench
