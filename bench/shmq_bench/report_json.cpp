// The JSON file of a latency run (its shape is in report.hpp), and writing a
// whole text file, which the gnuplot charts use too.
#include "report.hpp"
#include "report_impl.hpp"

#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace shmq_bench {

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

}  // namespace shmq_bench
