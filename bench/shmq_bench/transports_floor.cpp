// The floors: the least a round trip between two processes can cost, one
// cache line each way, spinning ("floor") or waiting on a futex ("futex-floor").
#include "transports.hpp"
#include "transports_impl.hpp"

#include "processes.hpp"
#include "shmq/admin/system.hpp"

#include <atomic>
#include <cstdint>
#include <ctime>
#include <memory>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace shmq_bench {
namespace {

// Each word on its own false-sharing range; both hold kStop between rounds.
struct FloorWords {
  alignas(128) std::atomic<std::uint32_t> ping{kStop};
  alignas(128) std::atomic<std::uint32_t> pong{kStop};
};

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr, 0);
}

class FloorEndpoint final : public Endpoint {
 public:
  FloorEndpoint(std::atomic<std::uint32_t>& out, std::atomic<std::uint32_t>& in, bool use_futex)
      : out_(out), in_(in), use_futex_(use_futex) {}

  void send(std::uint32_t seq) override {
    out_.store(seq, std::memory_order_release);
    if (use_futex_) (void)futex(out_, FUTEX_WAKE, 1, nullptr);
  }

  std::uint32_t receive() override {
    SpinDeadline deadline;
    std::uint32_t v = 0;
    while ((v = in_.load(std::memory_order_acquire)) == last_) {
      if (use_futex_) {
        const timespec slice{0, 100'000'000};
        (void)futex(in_, FUTEX_WAIT, last_, &slice);
        deadline.tick();
      } else {
        shmq::admin::cpu_relax();
        deadline.tick();
      }
    }
    last_ = v;
    return v;
  }

 private:
  std::atomic<std::uint32_t>& out_;
  std::atomic<std::uint32_t>& in_;
  bool use_futex_;
  std::uint32_t last_ = kStop;  // what the words hold when a round starts
};

class FloorChannel final : public Channel {
 public:
  explicit FloorChannel(bool use_futex) : use_futex_(use_futex) {}
  std::unique_ptr<Endpoint> open(Side side) override {
    FloorWords& w = *words_;
    if (side == Side::Ping) return std::make_unique<FloorEndpoint>(w.ping, w.pong, use_futex_);
    return std::make_unique<FloorEndpoint>(w.pong, w.ping, use_futex_);
  }

 private:
  SharedArray<FloorWords> words_;
  bool use_futex_;
};

}  // namespace

std::unique_ptr<Channel> make_floor_channel(bool use_futex) { return std::make_unique<FloorChannel>(use_futex); }

}  // namespace shmq_bench
