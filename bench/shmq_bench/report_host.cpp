// The machine a run measured: CPU model, online cores and kernel release, and
// the one line that names them above the table and the charts.
#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

namespace shmq_bench {
namespace {

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

}  // namespace

HostInfo host_info() {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return {cpu_model(), online > 0 ? static_cast<unsigned>(online) : 0U, kernel_release()};
}

std::string host_line(const HostInfo& host) {
  return fmt::format("{}, {} core{}, Linux {}", host.cpu, host.cores, host.cores == 1 ? "" : "s", host.kernel);
}

}  // namespace shmq_bench
