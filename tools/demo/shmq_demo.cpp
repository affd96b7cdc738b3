// shmq-demo: a producer process and a consumer process exchange messages
// through one queue, then print a summary (throughput and one-way latency from
// commit to receive). The README's first command runs it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "shmq/shmq.hpp"

namespace {

using namespace std::chrono_literals;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (cpu < CPU_SETSIZE && sched_setaffinity(0, sizeof set, &set) != 0) std::perror("sched_setaffinity");
}

// The consumer: receives `count` messages, checks their sequence, acks them,
// and reports latency percentiles. Exit code 0 on success.
int consume(const std::string& ns, std::uint64_t count, shmq::WaitStrategy wait) {
  shmq::Client client({.ns = ns});
  shmq::Consumer consumer = client.consumer("demo", "default", {wait});
  std::vector<std::uint32_t> latency;
  latency.reserve(count);
  std::uint64_t expected = 0;
  const std::uint64_t start = now_ns();
  for (std::uint64_t i = 0; i < count; ++i) {
    shmq::Message m = consumer.receive(5s);
    if (!m) {
      std::fprintf(stderr, "shmq-demo: consumer: %s after %llu messages\n", shmq::to_string(m.status()),
                   static_cast<unsigned long long>(i));
      return 1;
    }
    latency.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(now_ns() - m.commit_ns(), UINT32_MAX)));
    std::uint64_t seq = 0;
    std::memcpy(&seq, m.data().data(), sizeof seq);
    if (seq != expected++) {
      std::fprintf(stderr, "shmq-demo: consumer: message %llu out of order\n", static_cast<unsigned long long>(seq));
      return 1;
    }
    if (m.ack() != shmq::Status::Ok) return 1;
  }
  const double secs = static_cast<double>(now_ns() - start) / 1e9;
  std::sort(latency.begin(), latency.end());
  auto pct = [&](double p) { return latency[static_cast<std::size_t>(p * static_cast<double>(latency.size() - 1))]; };
  std::printf("consumer  %llu messages in %.3f s: %.2f M msg/s, in order, all acked\n",
              static_cast<unsigned long long>(count), secs, static_cast<double>(count) / secs / 1e6);
  std::printf("latency   commit -> receive (ns): p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n", pct(0.5), pct(0.9),
              pct(0.99), pct(0.999), latency.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): only CLI11 set-up is outside a try
  CLI::App app{"shmq-demo: one producer and one consumer process exchange messages through shmq"};
  std::string ns = "demo";
  std::uint64_t count = 1'000'000;
  std::uint32_t size = 64;
  std::string wait_name = "adaptive";
  app.add_option("--namespace", ns, "namespace to use");
  app.add_option("-n,--messages", count, "messages to send")->check(CLI::Range(1ULL, 1'000'000'000ULL));
  app.add_option("--size", size, "payload bytes")->check(CLI::Range(8U, 1U << 20));
  app.add_option("--wait", wait_name, "consumer wait strategy")
      ->check(CLI::IsMember({"spin", "yield", "park", "adaptive"}));
  CLI11_PARSE(app, argc, argv);
  const shmq::WaitStrategy wait = wait_name == "spin"    ? shmq::WaitStrategy::BusySpin
                                  : wait_name == "yield" ? shmq::WaitStrategy::SpinYield
                                  : wait_name == "park"  ? shmq::WaitStrategy::Park
                                                         : shmq::WaitStrategy::Adaptive;
  try {
    shmq::Client client({.ns = ns});
    shmq::QueueConfig config;
    config.capacity = 1024;
    config.slot_size = size;
    client.create_queue("demo", config);
    std::printf("shmq-demo: namespace '%s', queue 'demo' (%u slots x %u B), %llu messages\n", ns.c_str(),
                config.capacity, size, static_cast<unsigned long long>(count));
    std::fflush(stdout);

    const pid_t child = ::fork();
    if (child == 0) {
      pin(1);
      const int code = consume(ns, count, wait);
      std::fflush(stdout);
      std::_Exit(code);
    }
    pin(0);
    shmq::Producer producer = client.producer("demo");
    const std::uint64_t start = now_ns();
    std::uint64_t sent = 0;
    for (; sent < count; ++sent) {
      shmq::Loan loan = producer.loan(size, 5s);
      if (!loan) break;
      std::memcpy(loan.data().data(), &sent, sizeof sent);  // written in place: zero-copy
      if (loan.commit() != shmq::Status::Ok) break;
    }
    const double secs = static_cast<double>(now_ns() - start) / 1e9;
    std::printf("producer  %llu messages in %.3f s\n", static_cast<unsigned long long>(sent), secs);
    std::fflush(stdout);
    int status = 0;
    ::waitpid(child, &status, 0);
    client.delete_queue("demo");
    const bool ok = sent == count && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    std::printf("shmq-demo: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
  } catch (const shmq::Error& e) {
    std::fprintf(stderr, "shmq-demo: %s\n", e.what());
    return 2;
  }
}
