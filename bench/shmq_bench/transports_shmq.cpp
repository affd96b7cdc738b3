// shmq as a transport: a "ping" queue fanned out to some groups and a "pong"
// queue, with one wait strategy each ("shmq-spin", "shmq-yield", "shmq-park",
// "shmq-adaptive"), and "shmq-spin-touch", which writes and reads every byte.
#include "transports.hpp"
#include "transports_impl.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "shmq/shmq.hpp"

namespace shmq_bench {
namespace {

struct ShmqFlavour {
  shmq::WaitStrategy strategy;
  bool touch;  // the sender writes and the receiver reads every payload byte
};

ShmqFlavour shmq_flavour(const std::string& transport) {
  if (transport == "shmq-spin") return {shmq::WaitStrategy::BusySpin, false};
  if (transport == "shmq-spin-touch") return {shmq::WaitStrategy::BusySpin, true};
  if (transport == "shmq-yield") return {shmq::WaitStrategy::SpinYield, false};
  if (transport == "shmq-park") return {shmq::WaitStrategy::Park, false};
  return {shmq::WaitStrategy::Adaptive, false};
}

void check(shmq::Status s, const char* what) {
  if (s != shmq::Status::Ok) throw std::runtime_error(std::string(what) + ": " + shmq::to_string(s));
}

// Ping side: produces on `out`, consumes `in` (one group). Echo side: consumes
// every group of `out`, produces on `in`. Messages are acked on receipt.
class ShmqEndpoint final : public Endpoint {
 public:
  ShmqEndpoint(const ChannelSpec& spec, const std::string& send_queue, const std::string& receive_queue,
               std::uint32_t receive_groups)
      : client_({.ns = spec.ns}), size_(spec.size) {
    const ShmqFlavour flavour = shmq_flavour(spec.transport);
    touch_ = flavour.touch;
    producer_.emplace(client_.producer(send_queue, {flavour.strategy}));
    for (std::uint32_t g = 0; g < receive_groups; ++g)
      consumers_.push_back(client_.consumer(receive_queue, "g" + std::to_string(g), {flavour.strategy}));
  }

  void send(std::uint32_t seq) override {
    shmq::Loan loan = producer_->loan(size_, kPeerTimeout);
    check(loan.status(), "loan");
    std::byte* p = loan.data().data();
    std::memcpy(p, &seq, sizeof seq);
    if (touch_) std::memset(p + sizeof seq, static_cast<int>(seq & 0xFF), size_ - sizeof seq);
    check(loan.commit(size_), "commit");
  }

  std::uint32_t receive() override {
    std::uint32_t seq = 0;
    for (std::size_t g = 0; g < consumers_.size(); ++g) {
      shmq::Message m = consumers_[g].receive(kPeerTimeout);
      check(m.status(), "receive");
      const std::uint32_t got = seq_of(m.data().data());
      if (g > 0 && got != seq) throw std::runtime_error("groups received different messages");
      seq = got;
      if (touch_) read_every_byte(m.data());
      check(m.ack(), "ack");
    }
    return seq;
  }

 private:
  static void read_every_byte(std::span<const std::byte> bytes) noexcept {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, bytes.data() + i, sizeof word);
      sum += word;
    }
    sink_.store(sum, std::memory_order_relaxed);
  }

  static inline std::atomic<std::uint64_t> sink_{0};  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): keeps the reads
  shmq::Client client_;
  std::optional<shmq::Producer> producer_;
  std::vector<shmq::Consumer> consumers_;
  std::size_t size_;
  bool touch_ = false;
};

shmq::QueueConfig shmq_queue_config(std::uint64_t size, std::uint32_t groups) {
  shmq::QueueConfig config{.capacity = 8, .slot_size = static_cast<std::uint32_t>(size), .dlq_capacity = 0};
  config.groups.clear();
  for (std::uint32_t g = 0; g < groups; ++g) config.groups.push_back({.name = "g" + std::to_string(g)});
  return config;
}

// Two queues: "ping" fanned out to spec.groups groups, and "pong".
class ShmqChannel final : public Channel {
 public:
  explicit ShmqChannel(ChannelSpec spec) : spec_(std::move(spec)) {
    static std::uint32_t counter = 0;
    const std::string base = spec_.transport + "-" + std::to_string(counter++);
    ping_ = base + "-ping";
    pong_ = base + "-pong";
    shmq::Client client({.ns = spec_.ns});  // gone before any fork: children must not inherit its thread
    client.create_queue(ping_, shmq_queue_config(spec_.size, spec_.groups));
    client.create_queue(pong_, shmq_queue_config(spec_.size, 1));
  }
  ~ShmqChannel() override {
    try {
      shmq::Client client({.ns = spec_.ns});
      (void)client.delete_queue(ping_);
      (void)client.delete_queue(pong_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the namespace is swept at exit
    }
  }
  ShmqChannel(const ShmqChannel&) = delete;
  ShmqChannel& operator=(const ShmqChannel&) = delete;

  std::unique_ptr<Endpoint> open(Side side) override {
    if (side == Side::Ping) return std::make_unique<ShmqEndpoint>(spec_, ping_, pong_, 1);
    return std::make_unique<ShmqEndpoint>(spec_, pong_, ping_, spec_.groups);
  }

 private:
  ChannelSpec spec_;
  std::string ping_, pong_;
};

}  // namespace

std::unique_ptr<Channel> make_shmq_channel(const ChannelSpec& spec) { return std::make_unique<ShmqChannel>(spec); }

}  // namespace shmq_bench
