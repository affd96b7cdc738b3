#include "throughput.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_common.hpp"
#include "processes.hpp"
#include "report.hpp"
#include "shmq/shmq.hpp"

namespace shmq_bench {

namespace {

using namespace std::chrono_literals;

constexpr auto kReceivePoll = 50ms;  // how often an idle consumer checks whether the run is over
constexpr auto kStall = 30s;         // a producer blocked this long gives up
constexpr std::chrono::seconds kRoundLimit{300};

// The run's clock: from the first message any consumer receives to the last
// message of all, so process start-up is not counted, and no clock is read
// per message (a clock read costs about as much as a message).
struct alignas(128) RunClock {
  std::atomic<std::uint64_t> first_ns{UINT64_MAX};
  std::atomic<std::uint64_t> last_ns{0};
  std::atomic<std::uint64_t> received{0};
  // Sum of tag_hash over every shmq message the consumers received, added by
  // each consumer once at its end: equal to the sum over every message sent
  // only if each arrived exactly once.
  std::atomic<std::uint64_t> tag_sum{0};
  void reset() noexcept {
    first_ns = UINT64_MAX;
    last_ns = 0;
    received = 0;
    tag_sum = 0;
  }
  void started() noexcept {
    std::uint64_t unset = UINT64_MAX;
    first_ns.compare_exchange_strong(unset, now_ns(), std::memory_order_relaxed);
  }
  // Counts `n` more received; true once all `total` are in (and stops the clock).
  bool add(std::uint64_t n, std::uint64_t total) noexcept {
    if (received.fetch_add(n, std::memory_order_relaxed) + n < total) return false;
    last_ns.store(now_ns(), std::memory_order_relaxed);
    return true;
  }
  [[nodiscard]] bool done(std::uint64_t total) const noexcept {
    return received.load(std::memory_order_relaxed) >= total;
  }
};

struct Row {
  std::string transport;
  std::uint64_t size = 0;
  std::uint32_t producers = 1, consumers = 1;
  std::uint64_t messages = 0;  // sent
  std::uint64_t received = 0;  // counted by the consumers (uds: bytes / size)
  std::uint64_t ns = 0;
  std::string error;
  [[nodiscard]] double per_second() const { return ns == 0 ? 0 : static_cast<double>(messages) * 1e9 / static_cast<double>(ns); }
};

const char* strategy_name(shmq::WaitStrategy s) {
  switch (s) {
    case shmq::WaitStrategy::BusySpin: return "spin";
    case shmq::WaitStrategy::SpinYield: return "yield";
    case shmq::WaitStrategy::Park: return "park";
    case shmq::WaitStrategy::Adaptive: return "adaptive";
  }
  return "?";
}

void check(shmq::Status s, const char* what) {
  if (s != shmq::Status::Ok) throw std::runtime_error(std::string(what) + ": " + shmq::to_string(s));
}

// Each shmq message starts with its tag, producer << 48 | index; the
// consumers sum a mix of the tags they receive.
std::uint64_t message_tag(std::uint32_t producer, std::uint64_t index) noexcept {
  return (std::uint64_t{producer} << 48) | index;
}
std::uint64_t tag_hash(std::uint64_t tag) noexcept {
  tag = (tag ^ (tag >> 30)) * 0xBF58476D1CE4E5B9ULL;
  tag = (tag ^ (tag >> 27)) * 0x94D049BB133111EBULL;
  return tag ^ (tag >> 31);
}

std::uint64_t sum_words(std::span<const std::byte> bytes) noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, bytes.data() + i, sizeof w);
    sum += w;
  }
  return sum;
}

class ThroughputRun {
 public:
  explicit ThroughputRun(const ThroughputOptions& o)
      : o_(o), pinned_(o.producers == 1 && o.consumers == 1), errors_(o.producers + o.consumers) {
    const bool enough_cores = o.producers + o.consumers <= std::max(2U, host_info().cores);
    wait_ = o.wait.value_or(enough_cores ? shmq::WaitStrategy::BusySpin : shmq::WaitStrategy::Adaptive);
  }

  int run() {
    shmq_rows_.resize(o_.sizes.size());
    uds_rows_.resize(o_.sizes.size());
    create_queues();
    for (std::uint32_t round = 1; round <= o_.rounds; ++round) {
      const std::uint64_t n = o_.messages / o_.rounds + (round <= o_.messages % o_.rounds ? 1 : 0);
      for (std::size_t i = 0; i < o_.sizes.size(); ++i) {
        measure(shmq_rows_[i], n, [&] { return shmq_round(o_.sizes[i], n); });
        measure(uds_rows_[i], n, [&] { return uds_round(o_.sizes[i], n); });
      }
      std::fprintf(stderr, "shmq-bench: round %u of %u done\n", round, o_.rounds);
    }
    delete_queues();
    return report();
  }

 private:
  static std::string queue_name(std::uint64_t size) { return "throughput-" + std::to_string(size); }

  void create_queues() {
    shmq::Client client({.ns = o_.ns});  // gone before the children are forked
    for (std::size_t i = 0; i < o_.sizes.size(); ++i) {
      shmq::QueueConfig config{.capacity = o_.capacity, .slot_size = static_cast<std::uint32_t>(o_.sizes[i]),
                               .dlq_capacity = 0};
      client.create_queue(queue_name(o_.sizes[i]), config);
      shmq_rows_[i].transport = std::string("shmq-") + strategy_name(wait_);
      shmq_rows_[i].producers = o_.producers;
      shmq_rows_[i].consumers = o_.consumers;
      uds_rows_[i].transport = "uds";
      shmq_rows_[i].size = uds_rows_[i].size = o_.sizes[i];
    }
  }

  void delete_queues() {
    shmq::Client client({.ns = o_.ns});
    for (std::uint64_t size : o_.sizes) (void)client.delete_queue(queue_name(size));
  }

  template <class Round>
  void measure(Row& row, std::uint64_t n, Round&& round) {
    if (!row.error.empty()) return;
    clock_->reset();
    for (std::size_t i = 0; i < errors_.size(); ++i) errors_[i].text[0] = '\0';
    const std::vector<pid_t> children = round();
    const std::string problem = wait_all(children, kRoundLimit);
    if (!problem.empty()) {
      row.error = problem;
      for (std::size_t i = 0; i < errors_.size(); ++i)
        if (!errors_[i].empty()) row.error = errors_[i].text;
      return;
    }
    const std::uint64_t first = clock_->first_ns;
    const std::uint64_t last = clock_->last_ns;
    row.messages += n;
    row.received += clock_->received;
    row.ns += last > first ? last - first : 0;
    // Every message once: the uds rows count bytes, the shmq rows check tags.
    if (row.transport != "uds" && clock_->tag_sum != expected_tag_sum(n))
      row.error = "the consumers did not receive every message exactly once (tag sums differ)";
  }

  [[nodiscard]] int cpu(std::size_t side) const { return pinned_ ? o_.cpus[side] : -1; }

  std::vector<pid_t> shmq_round(std::uint64_t size, std::uint64_t n) {
    std::vector<pid_t> children;
    for (std::uint32_t c = 0; c < o_.consumers; ++c)
      children.push_back(spawn(cpu(1), [&] { shmq_consumer(size, n); }, errors_[c]));
    for (std::uint32_t p = 0; p < o_.producers; ++p) {
      const std::uint64_t share = n / o_.producers + (p < n % o_.producers ? 1 : 0);
      children.push_back(spawn(cpu(0), [&, p, share] { shmq_producer(size, p, share); }, errors_[o_.consumers + p]));
    }
    return children;
  }

  // What the consumers' tag_sum must be after a round of `n` messages.
  [[nodiscard]] std::uint64_t expected_tag_sum(std::uint64_t n) const {
    std::uint64_t sum = 0;
    for (std::uint32_t p = 0; p < o_.producers; ++p)
      for (std::uint64_t i = 0; i < n / o_.producers + (p < n % o_.producers ? 1 : 0); ++i)
        sum += tag_hash(message_tag(p, i));
    return sum;
  }

  void shmq_producer(std::uint64_t size, std::uint32_t p, std::uint64_t count) const {
    shmq::Client client({.ns = o_.ns});
    shmq::Producer producer = client.producer(queue_name(size), {wait_});
    std::vector<std::byte> payload(size, std::byte{0x5a});
    for (std::uint64_t i = 0; i < count; ++i) {
      shmq::Loan loan = producer.loan(size, kStall);
      check(loan.status(), "loan");
      const std::uint64_t tag = message_tag(p, i);
      std::memcpy(payload.data(), &tag, sizeof tag);
      std::memcpy(loan.data().data(), payload.data(), size);
      check(loan.commit(size), "commit");
    }
  }

  void shmq_consumer(std::uint64_t size, std::uint64_t total) const {
    shmq::Client client({.ns = o_.ns});
    shmq::Consumer consumer = client.consumer(queue_name(size), "default", {wait_});
    std::uint64_t sum = 0;
    std::uint64_t tags = 0;
    bool started = false;
    while (!clock_->done(total)) {
      shmq::Message m = consumer.receive(kReceivePoll);
      if (m.status() == shmq::Status::Timeout) continue;
      check(m.status(), "receive");
      if (!started) clock_->started();
      started = true;
      sum += sum_words(m.data());  // the consumer reads what it was sent
      std::uint64_t tag = 0;
      std::memcpy(&tag, m.data().data(), sizeof tag);
      tags += tag_hash(tag);
      check(m.ack(), "ack");
      if (clock_->add(1, total)) break;
    }
    sink_.store(sum, std::memory_order_relaxed);
    clock_->tag_sum.fetch_add(tags, std::memory_order_relaxed);
  }

  // One writer, one reader, a write() per message; the reader takes whatever
  // the socket holds with each read(), the fastest way to drain a stream.
  std::vector<pid_t> uds_round(std::uint64_t size, std::uint64_t n) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) throw std::system_error(errno, std::generic_category(), "socketpair");
    std::vector<pid_t> children;
    children.push_back(spawn(o_.cpus[1], [&] { uds_reader(sv[1], size * n, *clock_); }, errors_[0]));
    children.push_back(spawn(o_.cpus[0], [&] { uds_writer(sv[0], size, n); }, errors_[1]));
    ::close(sv[0]);
    ::close(sv[1]);
    return children;
  }

  static void uds_writer(int fd, std::uint64_t size, std::uint64_t count) {
    std::vector<std::byte> message(size, std::byte{0x5a});
    for (std::uint64_t i = 0; i < count; ++i) {
      std::memcpy(message.data(), &i, sizeof i);
      for (std::size_t done = 0; done < size;) {
        const ssize_t k = ::write(fd, message.data() + done, size - done);
        if (k > 0) done += static_cast<std::size_t>(k);
        else if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "write");
      }
    }
  }

  static void uds_reader(int fd, std::uint64_t bytes, RunClock& clock) {
    std::vector<std::byte> buffer(std::size_t{256} * 1024);
    for (std::uint64_t got = 0; got < bytes;) {
      const ssize_t k = ::read(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), bytes - got));
      if (k > 0) {
        if (got == 0) clock.started();
        got += static_cast<std::uint64_t>(k);
        (void)clock.add(static_cast<std::uint64_t>(k), bytes);
      } else if (k == 0) {
        throw std::runtime_error("uds: the writer closed early");
      } else if (errno != EINTR) {
        throw std::system_error(errno, std::generic_category(), "read");
      }
    }
  }

  int report() {
    const HostInfo host = host_info();
    std::printf("%s\n", host_line(host).c_str());
    std::printf("%-16s %8s %7s %10s %14s %12s %7s\n", "transport", "size", "P->C", "messages", "msg/s", "MB/s",
                "x uds");
    nlohmann::json results = nlohmann::json::array();
    bool failed = false;
    for (std::size_t i = 0; i < o_.sizes.size(); ++i) {
      for (const Row* row : {&shmq_rows_[i], &uds_rows_[i]}) {
        if (!row->error.empty()) {
          std::fprintf(stderr, "shmq-bench: %s %llu B failed: %s\n", row->transport.c_str(),
                       static_cast<unsigned long long>(row->size), row->error.c_str());
          failed = true;
          continue;
        }
        const double rate = row->per_second();
        const double uds = uds_rows_[i].error.empty() ? uds_rows_[i].per_second() : 0;
        const double ratio = uds > 0 ? rate / uds : 0;
        std::printf("%-16s %8s %7s %10llu %14.0f %12.1f %7s\n", row->transport.c_str(), human_bytes(row->size).c_str(),
                    fmt::format("{}->{}", row->producers, row->consumers).c_str(),
                    static_cast<unsigned long long>(row->messages), rate, rate * static_cast<double>(row->size) / 1e6,
                    ratio > 0 ? fmt::format("{:.2f}", ratio).c_str() : "-");
        results.push_back({{"transport", row->transport},
                           {"size", row->size},
                           {"producers", row->producers},
                           {"consumers", row->consumers},
                           {"messages", row->messages},
                           {"received", row->transport == "uds" ? row->received / row->size : row->received},
                           {"msgs_per_s", rate},
                           {"bytes_per_s", rate * static_cast<double>(row->size)},
                           {"ratio_to_uds", ratio}});
      }
    }
    print_target();
    if (!o_.json.empty()) write_json(host, results);
    return failed ? 1 : 0;
  }

  void print_target() const {
    for (const Row& row : shmq_rows_) {
      if (row.size != 64 || row.producers != 1 || row.consumers != 1 || !row.error.empty()) continue;
      const double rate = row.per_second();
      std::printf("\ntarget (DESIGN.md section 5): 1 -> 1, 64 B, with acks >= 10 M msg/s: %.2f M msg/s, %s\n",
                  rate / 1e6, rate >= 10e6 ? "met" : fmt::format("MISSED (by {:.0f}%)", (1 - rate / 10e6) * 100).c_str());
    }
  }

  void write_json(const HostInfo& host, const nlohmann::json& results) const {
    const nlohmann::json doc = {{"host", {{"cpu", host.cpu}, {"cores", host.cores}, {"kernel", host.kernel}}},
                                {"results", results}};
    std::ofstream out(o_.json);
    out << doc.dump(2) << '\n';
    out.close();
    if (!out) throw std::runtime_error("cannot write " + o_.json + ": " + std::generic_category().message(errno));
  }

  const ThroughputOptions& o_;
  shmq::WaitStrategy wait_;
  bool pinned_;
  std::vector<Row> shmq_rows_, uds_rows_;
  SharedArray<RunClock> clock_;
  SharedArray<ChildError> errors_;
  static inline std::atomic<std::uint64_t> sink_{0};  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): keeps reads
};

}  // namespace

int run_throughput(const ThroughputOptions& options) {
  const NamespaceSweep sweep(options.ns);
  return ThroughputRun(options).run();
}

}  // namespace shmq_bench
