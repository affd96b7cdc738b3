// shmq-bench: latency and throughput of shmq against the floor and the
// kernel's IPC, measured in the same run (see the README's benchmark section),
// and how fast shmqd gives a dead or hung consumer's messages to another.
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>

#include <sched.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "bench_common.hpp"
#include "latency.hpp"
#include "shmq/admin/namespace.hpp"
#include "recovery_time.hpp"
#include "shmq/config.hpp"
#include "shmq/error.hpp"
#include "throughput.hpp"
#include "transports.hpp"

namespace {

using namespace shmq_bench;

constexpr int kUsage = 2;

// --cpus A,B: two distinct CPUs this process may run on.
std::array<int, 2> checked_cpus(const std::vector<int>& given) {
  const std::array<int, 2> cpus = given.empty() ? two_cpus() : std::array<int, 2>{given[0], given[1]};
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  (void)::sched_getaffinity(0, sizeof allowed, &allowed);
  for (int c : cpus) {
    if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
      throw CLI::ValidationError("--cpus", "needs two CPUs this process may use; pass --cpus A,B (see `nproc`)");
  }
  if (cpus[0] == cpus[1]) throw CLI::ValidationError("--cpus", "the two processes need two different CPUs");
  return cpus;
}

void check_namespace(const std::string& ns) {
  try {
    shmq::admin::validate_namespace(ns);
  } catch (const shmq::Error& e) {
    throw CLI::ValidationError("--namespace", e.what());
  }
}

// Fails before a long run, not after it.
void check_writable(const std::string& path, const char* option) {
  if (path.empty()) return;
  if (!std::ofstream(path)) throw CLI::ValidationError(option, "cannot write " + path);
}

void check_plot_name(const std::string& path) {
  if (!path.empty() && !path.ends_with(".svg") && !path.ends_with(".png"))
    throw CLI::ValidationError("--plot", "use a .svg or .png file name");
  check_writable(path, "--plot");
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): only CLI11 set-up is outside a try
  CLI::App app{"shmq-bench: shmq against the hardware floor and the kernel's IPC, in one run"};
  app.require_subcommand(1);
  const std::string ns = "bench" + std::to_string(::getpid());

  LatencyOptions lat;
  lat.transports = latency_transports();
  lat.ns = ns;
  std::vector<int> lat_cpus;
  std::uint32_t round_ms = 50;
  CLI::App* latency = app.add_subcommand("latency", "round trips between two processes pinned to two CPUs");
  latency->footer(
      "Example: shmq-bench latency --transports floor,shmq-spin,uds --sizes 64,1048576 --duration 10 "
      "--json out.json --plot out.svg");
  latency->add_option("--transports", lat.transports, "comma-separated; default: all")
      ->delimiter(',')
      ->check(CLI::IsMember(latency_transports()));
  latency->add_option("--sizes", lat.sizes, "message sizes in bytes")
      ->delimiter(',')
      ->check(CLI::Range(kMinMessageSize, std::uint64_t{1} << 30))
      ->capture_default_str();
  latency->add_option("--groups", lat.groups, "shmq fan-out: consumer groups, e.g. 1,2,4,8")
      ->delimiter(',')
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  latency->add_option("--samples", lat.samples, "round trips per row, at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  latency->add_option("--duration", lat.duration_s, "seconds; no round starts after this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  latency->add_option("--round-ms", round_ms, "one row's turn in a round")
      ->check(CLI::Range(1, 60'000))
      ->capture_default_str();
  latency->add_option("--cpus", lat_cpus, "ping CPU,echo CPU; default: the first two allowed")
      ->delimiter(',')
      ->expected(2);
  latency->add_option("--namespace", lat.ns, "shmq namespace of the run (swept before and after)")
      ->capture_default_str();
  latency->add_option("--json", lat.json, "write the results as JSON");
  latency->add_option("--plot", lat.plot, "draw percentile and size charts (.svg or .png, gnuplot)");

  ThroughputOptions thr;
  thr.ns = ns;
  std::vector<int> thr_cpus;
  std::string wait;
  CLI::App* throughput = app.add_subcommand("throughput", "messages per second, producers to consumers, with acks");
  throughput->footer("Example: shmq-bench throughput --sizes 64,4096 --producers 2 --consumers 2");
  throughput->add_option("--sizes", thr.sizes, "message sizes in bytes")
      ->delimiter(',')
      ->check(CLI::Range(kMinMessageSize, std::uint64_t{1} << 26))
      ->capture_default_str();
  throughput->add_option("--producers", thr.producers)->check(CLI::Range(1, 64))->capture_default_str();
  throughput->add_option("--consumers", thr.consumers)->check(CLI::Range(1, 64))->capture_default_str();
  throughput->add_option("--messages", thr.messages, "per transport and size")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  throughput->add_option("--rounds", thr.rounds, "transports alternate round by round")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  throughput->add_option("--capacity", thr.capacity, "shmq queue slots (a power of two)")
      ->check(CLI::Range(1U, 1U << 24))
      ->capture_default_str();
  throughput->add_option("--wait", wait, "spin, yield, park or adaptive; default: spin if every process has a CPU")
      ->check(CLI::IsMember({"spin", "yield", "park", "adaptive"}));
  throughput->add_option("--cpus", thr_cpus, "producer CPU,consumer CPU (1 -> 1)")->delimiter(',')->expected(2);
  throughput->add_option("--namespace", thr.ns, "shmq namespace of the run (swept before and after)")
      ->capture_default_str();
  throughput->add_option("--json", thr.json, "write the results as JSON");

  RecoveryOptions rec;
  rec.ns = ns;
  std::uint32_t heartbeat_timeout_ms = 300;
  CLI::App* recovery = app.add_subcommand(
      "recovery", "kill -9 / SIGSTOP a consumer holding leases: time until another consumer has them (starts shmqd)");
  recovery->footer("Example: shmq-bench recovery --rounds 50 --leases 16");
  recovery->add_option("--rounds", rec.rounds, "rounds per scenario")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  recovery->add_option("--leases", rec.leases, "messages the victim holds")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  recovery->add_option("--heartbeat-timeout", heartbeat_timeout_ms, "ms, of the SIGSTOPped victim")
      ->check(CLI::Range(static_cast<std::uint32_t>(shmq::kMinHeartbeatTimeout.count()), 60'000U))
      ->capture_default_str();
  recovery->add_option("--shmqd", rec.shmqd, "the daemon; default: ../daemon/shmqd or shmqd next to shmq-bench, else PATH");
  recovery->add_option("--namespace", rec.ns, "shmq namespace of the run (swept before and after)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
    if (latency->parsed()) {
      check_namespace(lat.ns);
      lat.cpus = checked_cpus(lat_cpus);
      lat.round = std::chrono::milliseconds(round_ms);
      check_writable(lat.json, "--json");
      check_plot_name(lat.plot);
    } else if (recovery->parsed()) {
      check_namespace(rec.ns);
      rec.heartbeat_timeout = std::chrono::milliseconds(heartbeat_timeout_ms);
    } else {
      check_namespace(thr.ns);
      thr.cpus = checked_cpus(thr_cpus);
      if ((thr.capacity & (thr.capacity - 1)) != 0)
        throw CLI::ValidationError("--capacity", "must be a power of two");
      if (thr.messages < thr.rounds) throw CLI::ValidationError("--messages", "must be at least --rounds");
      if (!wait.empty()) {
        thr.wait = wait == "spin"    ? shmq::WaitStrategy::BusySpin
                   : wait == "yield" ? shmq::WaitStrategy::SpinYield
                   : wait == "park"  ? shmq::WaitStrategy::Park
                                     : shmq::WaitStrategy::Adaptive;
      }
      check_writable(thr.json, "--json");
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsage;
  }

  try {
    if (latency->parsed()) return run_latency(lat);
    if (recovery->parsed()) return run_recovery(rec);
    return run_throughput(thr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq-bench: %s\n", e.what());
    return 1;
  }
}
