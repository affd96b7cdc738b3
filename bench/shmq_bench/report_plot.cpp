// The gnuplot charts of a latency run, two in one .svg or .png: percentile
// curves per transport at one size, and p50 against message size. The data
// and the script go to a temporary directory; gnuplot runs as a child.
#include "report.hpp"
#include "report_impl.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace shmq_bench {
namespace {

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

}  // namespace

void plot_latency(const std::string& path, const HostInfo& host, const std::vector<LatencySeries>& series,
                  const std::vector<LatencyResult>& results, std::uint64_t curve_size) {
  terminal_for(path);  // a wrong extension fails before any work
  const TempDir dir;
  const std::string script_path = dir.path() + "/latency.gp";
  write_text_file(script_path, gnuplot_script(path, dir.path(), host, series, results, curve_size));
  run_gnuplot(script_path, path);
}

}  // namespace shmq_bench
