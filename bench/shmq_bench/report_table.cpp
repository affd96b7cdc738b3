// The human latency table: the host line, then one aligned row per result
// (percentiles with thousands separators, ratios), a blank line between sizes;
// and the exact size labels the table and the charts share.
#include "report.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <fmt/format.h>

namespace shmq_bench {
namespace {

std::string with_thousands(std::uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string grouped;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return grouped;
}

// Two decimals, but three significant digits below 1 (shmq against uds is 0.00-something).
std::string ratio_cell(double value) {
  if (value == 0) return "-";
  return value < 1 ? fmt::format("{:.3g}", value) : fmt::format("{:.2f}", value);
}

using TableRow = std::array<std::string, 12>;
using ColumnWidths = std::array<std::size_t, std::tuple_size_v<TableRow>>;

TableRow table_row(const LatencyResult& r) {
  const Percentiles& p = r.pct;
  return {r.transport,
          human_bytes(r.size),
          std::to_string(r.groups),
          with_thousands(p.samples),
          with_thousands(p.p50),
          with_thousands(p.p90),
          with_thousands(p.p99),
          with_thousands(p.p999),
          with_thousands(p.p9999),
          with_thousands(p.max),
          ratio_cell(r.ratio_to_floor),
          ratio_cell(r.ratio_to_uds)};
}

// The transport name is left-aligned, every number right-aligned.
void print_row(std::FILE* out, const TableRow& row, const ColumnWidths& widths) {
  std::string line = fmt::format("{:<{}}", row[0], widths[0]);
  for (std::size_t i = 1; i < row.size(); ++i) line += fmt::format("  {:>{}}", row[i], widths[i]);
  fmt::print(out, "{}\n", line);
}

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
  constexpr std::array<std::string_view, 4> kUnits = {"B", "KiB", "MiB", "GiB"};
  std::size_t unit = 0;
  // Only exact multiples go up a unit, so a label names the size exactly.
  while (unit + 1 < kUnits.size() && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{} {}", bytes, kUnits[unit]);
}

void print_latency_table(std::FILE* out, const HostInfo& host, const std::vector<LatencyResult>& results) {
  const TableRow header = {"transport", "size",     "groups",    "samples", "p50 ns",  "p90 ns",
                           "p99 ns",    "p99.9 ns", "p99.99 ns", "max ns",  "x floor", "x uds"};
  std::vector<TableRow> rows;
  rows.reserve(results.size());
  for (const LatencyResult& r : results) rows.push_back(table_row(r));
  ColumnWidths widths{};
  for (std::size_t i = 0; i < widths.size(); ++i) {
    widths[i] = header[i].size();
    for (const TableRow& row : rows) widths[i] = std::max(widths[i], row[i].size());
  }
  fmt::print(out, "{}\n", host_line(host));
  print_row(out, header, widths);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0 && results[i].size != results[i - 1].size) fmt::print(out, "\n");
    print_row(out, rows[i], widths);
  }
}

}  // namespace shmq_bench
