// shmq-bench's output: host description, percentiles and ratios, the table,
// the JSON file, the gnuplot charts and the DESIGN.md section 5 verdicts.
#include "report.hpp"

#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace shmq_bench {
namespace {

constexpr std::string_view kFloor = "floor";
constexpr std::string_view kFutexFloor = "futex-floor";
constexpr std::string_view kUds = "uds";
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

bool is_floor_name(std::string_view transport) { return transport == kFloor || transport == kFutexFloor; }

// ---- host ---------------------------------------------------------------------

// Trims and collapses runs of blanks: some CPUs pad their model name.
std::string tidy_spaces(const std::string& text) {
  std::istringstream words(text);
  std::string word;
  std::string tidy;
  while (words >> word) tidy += (tidy.empty() ? "" : " ") + word;
  return tidy;
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    const auto colon = line.find(':');
    if (!line.starts_with("model name") || colon == std::string::npos) continue;
    if (std::string model = tidy_spaces(line.substr(colon + 1)); !model.empty()) return model;
  }
  return "unknown";
}

std::string kernel_release() {
  utsname names{};
  return uname(&names) == 0 ? std::string(names.release) : std::string("unknown");
}

// ---- percentiles and ratios -------------------------------------------------------

constexpr std::uint64_t kPerHundredThousand = 100'000;

// Nearest rank, 1-based: ceil(p * n) with p in hundred-thousandths, so that
// p99.99 of 10000 samples is rank 9999 exactly (floating point may round up).
std::uint64_t nearest_rank(const std::vector<std::uint32_t>& sorted, std::uint64_t per_hundred_thousand) {
  const std::uint64_t n = sorted.size();
  const std::uint64_t rank = (n * per_hundred_thousand + kPerHundredThousand - 1) / kPerHundredThousand;
  return sorted[rank - 1];  // rank >= 1: n >= 1 and p > 0
}

double ratio(std::uint64_t value, std::uint64_t reference) {
  return reference == 0 ? 0 : static_cast<double>(value) / static_cast<double>(reference);
}

// The result of `transport` with groups == 1, at `size` unless any size will do.
const LatencyResult* find_result(const std::vector<LatencyResult>& results, std::string_view transport,
                                 std::optional<std::uint64_t> size = std::nullopt) {
  const auto match = [&](const LatencyResult& r) {
    return r.transport == transport && r.groups == 1 && (!size || r.size == *size);
  };
  const auto it = std::find_if(results.begin(), results.end(), match);
  return it == results.end() ? nullptr : &*it;
}

std::uint64_t p50_of(const LatencyResult* result) { return result == nullptr ? 0 : result->pct.p50; }

// ---- table ------------------------------------------------------------------------

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

// ---- files --------------------------------------------------------------------------

void write_text_file(const std::string& path, const std::string& text) {
  errno = 0;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) {
    const int error = errno != 0 ? errno : EIO;  // a stream failure need not set errno
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::generic_category().message(error)));
  }
}

// A directory of our own for gnuplot's input, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* tmpdir = std::getenv("TMPDIR");
    const std::string base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    std::string name = base + "/shmq-bench-plot.XXXXXX";
    if (mkdtemp(name.data()) == nullptr) {
      throw std::runtime_error(
          fmt::format("cannot create a temporary directory in {}: {}", base, std::generic_category().message(errno)));
    }
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- gnuplot --------------------------------------------------------------------------

// A gnuplot single-quoted string: no escapes inside, a quote is doubled.
std::string gnuplot_string(std::string_view text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string file_name_safe(std::string_view name) {
  std::string safe(name);
  for (char& c : safe) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
    if (!plain) c = '_';
  }
  return safe;
}

std::string terminal_for(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".svg")
    return R"(set terminal svg size 1500,560 dynamic enhanced font "sans,10" background rgb "white")";
  if (extension == ".png") return R"(set terminal pngcairo size 1500,560 font "sans,10")";
  throw std::runtime_error("--plot: use a .svg or .png file name");
}

// Each transport keeps its colour in both charts.
class LineTypes {
 public:
  explicit LineTypes(const std::vector<LatencySeries>& series) {
    for (const LatencySeries& s : series) {
      if (std::find(names_.begin(), names_.end(), s.transport) == names_.end()) names_.push_back(s.transport);
    }
  }
  [[nodiscard]] std::size_t of(const std::string& transport) const {
    return static_cast<std::size_t>(std::find(names_.begin(), names_.end(), transport) - names_.begin()) + 1;
  }
  // A distinct colour per transport (gnuplot's default cycle has only 8);
  // shmq solid and bold, the floors and the kernel's IPC dashed.
  [[nodiscard]] std::string definitions() const {
    static constexpr std::array<std::string_view, 14> kColours{
        "#000000", "#7f7f7f", "#d62728", "#ff9896", "#e377c2", "#9467bd", "#8c564b",
        "#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#ff7f0e", "#ffbb78", "#17becf"};
    std::string out;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      const bool shmq = names_[i].starts_with("shmq-");
      out += fmt::format("set linetype {} lc rgb '{}' lw {} dt {}\n", i + 1, kColours[i % kColours.size()],
                         shmq ? 2.0 : 1.2, shmq ? 1 : 2);
    }
    return out;
  }

 private:
  std::vector<std::string> names_;
};

// x = 1 / (1 - p), so each further nine of the percentile is one decade.
// gnuplot reads a tic label as a format, hence "%%".
constexpr std::string_view kPercentileTics =
    "('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, '99.999%%' 100000, "
    "'99.9999%%' 1000000, '99.99999%%' 10000000)";

// Twenty points a decade of 1 / (1 - p), as far as the samples resolve, then
// the max at x = n (the rank-n sample).
std::string curve_data(const std::vector<std::uint32_t>& sorted) {
  const auto n = static_cast<double>(sorted.size());
  std::string data;
  for (int k = 0; k <= 100; ++k) {
    const double x = std::pow(10.0, k / 20.0);
    if (x >= n) break;
    const double rank = std::ceil(n - n / x);  // ceil(p * n) with p = 1 - 1/x
    const auto index = static_cast<std::size_t>(std::max(rank, 1.0)) - 1;
    data += fmt::format("{:.6g} {}\n", x, sorted[index]);
  }
  return data + fmt::format("{:.6g} {}\n", n, sorted.back());
}

// The settings a chart needs, set in full so nothing leaks from the one before.
std::string chart_header(std::string_view title, std::string_view xlabel, std::string_view ylabel) {
  return fmt::format(
      "unset label\n"
      "set title {}\nset xlabel {}\nset ylabel {}\n"
      "set logscale xy\nset format y '%.0f'\nset ytics auto\nset yrange [*:*]\n",
      gnuplot_string(title), gnuplot_string(xlabel), gnuplot_string(ylabel));
}

// An empty frame with a note: gnuplot refuses a plot without points.
std::string empty_chart(std::string_view note) {
  return fmt::format(
      "set label {} at graph 0.5,0.5 center\n"
      "set xrange [1:10]\nset yrange [1:10]\nunset xtics\nunset ytics\n"
      "plot 2 with lines lc bgnd notitle\n",
      gnuplot_string(note));
}

std::string plot_command(const std::vector<std::string>& items) {
  std::string command = "plot ";
  for (std::size_t i = 0; i < items.size(); ++i) command += (i > 0 ? ", \\\n     " : "") + items[i];
  return command + "\n";
}

bool on_curve_chart(const LatencySeries& s, std::uint64_t curve_size) {
  return is_floor_name(s.transport) || (s.size == curve_size && s.groups == 1);
}

std::string curve_chart(const std::string& dir, const std::vector<LatencySeries>& series, std::uint64_t curve_size,
                        const LineTypes& line_types) {
  const std::string size = human_bytes(curve_size);
  std::string script = chart_header("round-trip latency percentiles at " + size, "percentile", "round trip (ns)");
  std::vector<std::string> items;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const LatencySeries& s = series[i];
    if (!on_curve_chart(s, curve_size) || s.samples_ns.size() < 2) continue;
    const std::string file = fmt::format("{}/curve-{}-{}.dat", dir, i, file_name_safe(s.transport));
    write_text_file(file, curve_data(s.samples_ns));
    items.push_back(fmt::format("{} using 1:2 with lines lt {} title {}", gnuplot_string(file),
                                line_types.of(s.transport), gnuplot_string(s.transport)));
  }
  if (items.empty()) return script + empty_chart("no series at " + size + " with 2 or more samples");
  return script + fmt::format("set xrange [1:*]\nset xtics {}\n", kPercentileTics) + plot_command(items);
}

// One file per transport (groups == 1, not a floor): "size p50" by size.
std::vector<std::string> size_data_items(const std::string& dir, const std::vector<LatencyResult>& results,
                                         const LineTypes& line_types) {
  std::vector<std::string> transports;
  for (const LatencyResult& r : results) {
    const bool wanted = r.groups == 1 && !is_floor_name(r.transport);
    if (wanted && std::find(transports.begin(), transports.end(), r.transport) == transports.end())
      transports.push_back(r.transport);
  }
  std::vector<std::string> items;
  for (std::size_t i = 0; i < transports.size(); ++i) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> points;
    for (const LatencyResult& r : results) {
      if (r.transport == transports[i] && r.groups == 1) points.emplace_back(r.size, r.pct.p50);
    }
    std::sort(points.begin(), points.end());
    std::string data;
    for (const auto& [size, p50] : points) data += fmt::format("{} {}\n", size, p50);
    const std::string file = fmt::format("{}/p50-{}-{}.dat", dir, i, file_name_safe(transports[i]));
    write_text_file(file, data);
    items.push_back(fmt::format("{} using 1:2 with linespoints lt {} pt 7 ps 0.6 title {}", gnuplot_string(file),
                                line_types.of(transports[i]), gnuplot_string(transports[i])));
  }
  return items;
}

// Tics at the measured sizes, labelled like the table; the range pads them.
std::string size_axis(const std::vector<LatencyResult>& results) {
  std::vector<std::uint64_t> sizes;
  for (const LatencyResult& r : results) {
    if (r.groups == 1 && !is_floor_name(r.transport) && r.size > 0) sizes.push_back(r.size);
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  std::string tics;
  for (const std::uint64_t size : sizes) {
    tics += fmt::format("{}{} {}", tics.empty() ? "" : ", ", gnuplot_string(human_bytes(size)), size);
  }
  return fmt::format("set xrange [{}:{}]\nset xtics ({})\n", static_cast<double>(sizes.front()) / 2,
                     static_cast<double>(sizes.back()) * 2, tics);
}

std::string size_chart(const std::string& dir, const std::vector<LatencyResult>& results, const LineTypes& line_types) {
  std::string script = chart_header("p50 round trip against message size", "message size", "p50 round trip (ns)");
  std::vector<std::string> items = size_data_items(dir, results, line_types);
  if (items.empty()) return script + empty_chart("no transport besides the floors");
  // The floors are measured at one size only: a dashed level across the chart.
  for (const std::string_view floor_name : {kFloor, kFutexFloor}) {
    const LatencyResult* r = find_result(results, floor_name);
    if (r != nullptr && r->pct.p50 > 0)
      items.push_back(fmt::format("{} with lines lt {} lw 1.5 dt 2 title {}", r->pct.p50, line_types.of(r->transport),
                                  gnuplot_string(floor_name)));
  }
  return script + size_axis(results) + plot_command(items);
}

std::string gnuplot_script(const std::string& path, const std::string& dir, const HostInfo& host,
                           const std::vector<LatencySeries>& series, const std::vector<LatencyResult>& results,
                           std::uint64_t curve_size) {
  const LineTypes line_types(series);
  return terminal_for(path) + "\n" +
         // Names and CPU models are literal: '_' and '@' are not markup.
         "set termoption noenhanced\n" +
         fmt::format("set output {}\nset multiplot layout 1,2 title {}\n", gnuplot_string(path),
                     gnuplot_string(host_line(host))) +
         line_types.definitions() + "set grid\nset key outside right top font ',8' samplen 3\n" + curve_chart(dir, series, curve_size, line_types) +
         size_chart(dir, results, line_types) + "unset multiplot\nunset output\n";
}

void run_gnuplot(const std::string& script_path, const std::string& out_path) {
  std::string program = "gnuplot";
  std::string script = script_path;
  char* argv[] = {program.data(), script.data(), nullptr};
  pid_t pid = 0;
  const int error = posix_spawnp(&pid, program.c_str(), nullptr, nullptr, argv, environ);
  if (error == ENOENT) throw std::runtime_error("gnuplot not found: install the Debian package gnuplot-nox");
  if (error != 0) throw std::runtime_error(fmt::format("cannot start gnuplot: {}", std::generic_category().message(error)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(fmt::format("waiting for gnuplot: {}", std::generic_category().message(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                            : fmt::format("signal {}", WTERMSIG(status));
  throw std::runtime_error(fmt::format("gnuplot failed ({}) drawing {}; its messages are above", how, out_path));
}

// ---- targets ----------------------------------------------------------------------------

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

HostInfo host_info() {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return {cpu_model(), online > 0 ? static_cast<unsigned>(online) : 0U, kernel_release()};
}

std::string host_line(const HostInfo& host) {
  return fmt::format("{}, {} core{}, Linux {}", host.cpu, host.cores, host.cores == 1 ? "" : "s", host.kernel);
}

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

void write_latency_json(const std::string& path, const HostInfo& host, const std::vector<LatencyResult>& results) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const LatencyResult& r : results) {
    rows.push_back({{"transport", r.transport},
                    {"size", r.size},
                    {"groups", r.groups},
                    {"samples", r.pct.samples},
                    {"p50_ns", r.pct.p50},
                    {"p90_ns", r.pct.p90},
                    {"p99_ns", r.pct.p99},
                    {"p999_ns", r.pct.p999},
                    {"p9999_ns", r.pct.p9999},
                    {"max_ns", r.pct.max},
                    {"ratio_to_floor", r.ratio_to_floor}});
  }
  const nlohmann::ordered_json doc = {
      {"host", {{"cpu", host.cpu}, {"cores", host.cores}, {"kernel", host.kernel}}},
      {"results", rows},
  };
  // Replace, not throw on, bytes that are not UTF-8 (a CPU name could have them).
  write_text_file(path, doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

void plot_latency(const std::string& path, const HostInfo& host, const std::vector<LatencySeries>& series,
                  const std::vector<LatencyResult>& results, std::uint64_t curve_size) {
  terminal_for(path);  // a wrong extension fails before any work
  const TempDir dir;
  const std::string script_path = dir.path() + "/latency.gp";
  write_text_file(script_path, gnuplot_script(path, dir.path(), host, series, results, curve_size));
  run_gnuplot(script_path, path);
}

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
