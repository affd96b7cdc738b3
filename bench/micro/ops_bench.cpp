// Micro-benchmarks of libshmq (Google Benchmark; main() comes from benchmark_main).
//
//  * per-operation costs in one thread: loan/commit/receive/ack (1, 2, 4 groups),
//    loan+abandon, try_send (copy) against loan+write+commit, an empty poll,
//    nack+redelivery, and one clock_gettime for scale;
//  * the round trip between two threads (two Clients, two queues) for each
//    WaitStrategy, next to the floors measured in the same run: a raw cache-line
//    ping-pong (for the spinning strategies) and a bare futex ping-pong (for Park).
//
// Round-trip benchmarks report the mean in the Time column and, as counters, the
// p50/p99/p99.9/max of the round trip; the wake-up benchmarks also measure their floor on
// the same CPU pair just before their loop and report ratios to it (DESIGN.md §5
// asks for ratios: these machines change speed from minute to minute).
//
// Everything lives in the namespace "mb<pid>"; queues are deleted after each
// benchmark and a static object unlinks every /dev/shm/shmq.mb<pid>.* at exit
// (micro_support.hpp).
//
//   build/release/bench/shmq_microbench --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "micro_support.hpp"
#include "shmq/shmq.hpp"

namespace {

using namespace shmq_bench;
using namespace std::chrono_literals;

// ---- floors ------------------------------------------------------------------
//
// A channel carries a round trip between the benchmark thread (round_trip) and
// an echo thread (serve_one answers one ping; false once stopped). The BM_Raw*
// benchmarks run one on its own; BM_WakeUp interleaves blocks of it with its
// shmq round trips, served by the same echo thread, because on these VMs the
// floor moves with the host: a cache-line transfer costs 2-3x more in one vCPU
// placement than in another, and a futex wake-up costs ~1 us when the target
// vCPU is running something and ~25-50 us when it has halted.

// Cache-line ping-pong through 128-byte aligned lines; both sides spin with a
// pause, as shmq's BusySpin does. One line (the classic floor, DESIGN.md §5's
// `floor`): one atomic both write, odd pings and even answers. Two lines: each
// direction has its own, as two queues do.
class LineChannel {
 public:
  explicit LineChannel(bool one_line)
      : lines_(std::make_unique<Lines>()),
        ping_(lines_->ping.value),
        pong_(one_line ? lines_->ping.value : lines_->pong.value) {}

  void round_trip() noexcept {
    ping_.store(++seq_, std::memory_order_release);
    ++seq_;
    while (pong_.load(std::memory_order_acquire) != seq_) cpu_relax();
  }
  bool serve_one() noexcept {
    std::uint64_t v = 0;
    // A new odd value (with one line, our own even answer is there too).
    while (((v = ping_.load(std::memory_order_acquire)) & 1U) == 0 || v == answered_) cpu_relax();
    if (v == kStop) return false;
    answered_ = v;
    pong_.store(v + 1, std::memory_order_release);
    return true;
  }
  void stop() noexcept { ping_.store(kStop, std::memory_order_release); }

 private:
  struct alignas(128) Line {
    std::atomic<std::uint64_t> value{0};
  };
  static_assert(sizeof(Line) == 128 && alignof(Line) == 128);  // NOLINT(misc-redundant-expression): two properties
  struct Lines {
    Line ping;
    Line pong;
  };
  static constexpr std::uint64_t kStop = std::numeric_limits<std::uint64_t>::max();  // odd

  std::unique_ptr<Lines> lines_;
  std::atomic<std::uint64_t>& ping_;
  std::atomic<std::uint64_t>& pong_;
  alignas(128) std::uint64_t seq_ = 0;  // caller side; even between round trips
  alignas(128) std::uint64_t answered_ = 0;  // echo side
};

long futex(std::uint32_t* word, int op, std::uint32_t value) noexcept {
  return ::syscall(SYS_futex, word, op, value, nullptr, nullptr, 0);
}

// Bare futex ping-pong: one word; each side stores its value, always wakes, and
// sleeps at once until the word changes. Shared (not PRIVATE) futex operations
// on a MAP_SHARED page, as shmq's Park does on its segment.
class FutexChannel {
 public:
  FutexChannel() : page_(map_page()), word_(static_cast<std::uint32_t*>(page_)) {}
  ~FutexChannel() { ::munmap(page_, kPage); }
  FutexChannel(const FutexChannel&) = delete;
  FutexChannel& operator=(const FutexChannel&) = delete;

  void round_trip() noexcept {
    std::atomic_ref<std::uint32_t> w(*word_);
    w.store(++seq_, std::memory_order_release);
    futex(word_, FUTEX_WAKE, 1);
    std::uint32_t v = 0;
    while ((v = w.load(std::memory_order_acquire)) == seq_) futex(word_, FUTEX_WAIT, seq_);
    seq_ = v;
  }
  bool serve_one() noexcept {
    std::atomic_ref<std::uint32_t> w(*word_);
    std::uint32_t v = 0;
    while ((v = w.load(std::memory_order_acquire)) == answered_) futex(word_, FUTEX_WAIT, answered_);
    if (v == kStop) return false;
    answered_ = v + 1;
    w.store(answered_, std::memory_order_release);
    futex(word_, FUTEX_WAKE, 1);
    return true;
  }
  void stop() noexcept {
    std::atomic_ref<std::uint32_t>(*word_).store(kStop, std::memory_order_release);
    futex(word_, FUTEX_WAKE, 1);
  }

 private:
  static constexpr std::uint32_t kStop = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::size_t kPage = 4096;

  static void* map_page() {
    void* p = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap of the futex page");
    return p;  // zero-filled
  }

  void* page_;
  std::uint32_t* word_;
  std::uint32_t seq_ = 0;       // caller side
  std::uint32_t answered_ = 0;  // echo side
};

// Runs `channel` under the benchmark loop with an echo thread pinned to CPU 1
// and the benchmark thread pinned to CPU 0.
template <class Channel>
void run_channel(benchmark::State& state, Channel& channel) {
  const auto cpus = two_cpus();
  RttHistogram h;
  std::thread echo([&channel, cpu = cpus[1]] {
    (void)pin_to(cpu);
    while (channel.serve_one()) {
    }
  });
  {
    const ScopedPin pin(cpus[0]);
    h.start();
    for (auto _ : state) {
      channel.round_trip();
      h.lap();
    }
    channel.stop();
    echo.join();
  }
  report_rtt(state, h);
}

void BM_RawCacheLinePingPong(benchmark::State& state) {
  guarded(state, [&] {
    LineChannel channel(state.range(0) == 1);
    run_channel(state, channel);
  });
}
BENCHMARK(BM_RawCacheLinePingPong)->ArgName("lines")->Arg(1)->Arg(2)->UseRealTime();

void BM_RawFutexPingPong(benchmark::State& state) {
  guarded(state, [&] {
    FutexChannel channel;
    run_channel(state, channel);
  });
}
BENCHMARK(BM_RawFutexPingPong)->UseRealTime();

// One clock_gettime: the data path reads CLOCK_MONOTONIC on commit (commit_ns)
// and on receive (the lease deadline), so this is part of every message's cost.
void BM_RawClockGettime(benchmark::State& state, clockid_t clock) {
  timespec ts{};
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the benchmark loop idiom
    ::clock_gettime(clock, &ts);
    benchmark::DoNotOptimize(ts);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_RawClockGettime, monotonic, CLOCK_MONOTONIC);
BENCHMARK_CAPTURE(BM_RawClockGettime, monotonic_coarse, CLOCK_MONOTONIC_COARSE);

// ---- one thread: per-operation costs -------------------------------------------

// Loan 64 B, write them, commit, then every group's consumer receives and acks.
void BM_LoanCommitReceiveAck(benchmark::State& state) {
  guarded(state, [&] {
    const auto groups = static_cast<std::uint32_t>(state.range(0));
    shmq::Client client = make_client();
    const BenchQueue q(client, "lcra", queue_config(1024, 64, groups));
    shmq::Producer p = client.producer(q.name());
    std::vector<shmq::Consumer> consumers;
    for (std::uint32_t g = 0; g < groups; ++g) consumers.push_back(client.consumer(q.name(), "g" + std::to_string(g)));

    std::uint8_t fill = 0;
    for (auto _ : state) {
      shmq::Loan loan = p.try_loan(64);
      if (!check(state, loan.status(), "try_loan")) break;
      std::memset(loan.data().data(), ++fill, 64);
      if (!check(state, loan.commit(64), "commit")) break;
      bool ok = true;
      for (shmq::Consumer& c : consumers) {
        shmq::Message m = c.try_receive();
        ok = check(state, m.status(), "try_receive") && check(state, m.ack(), "ack");
        if (!ok) break;
      }
      if (!ok) break;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["deliveries"] = benchmark::Counter(static_cast<double>(state.iterations()) * groups,
                                                      benchmark::Counter::kIsRate);
  });
}
BENCHMARK(BM_LoanCommitReceiveAck)->ArgName("groups")->Arg(1)->Arg(2)->Arg(4);

// Loan 64 B and give the slot back. The position still costs the consumer a
// pass-over before the slot can be reused; a try_receive every 256 abandons
// does it, and its cost is included (amortised).
void BM_LoanAbandon(benchmark::State& state) {
  guarded(state, [&] {
    shmq::Client client = make_client();
    const BenchQueue q(client, "abandon", queue_config(1024, 64));
    shmq::Producer p = client.producer(q.name());
    shmq::Consumer c = client.consumer(q.name(), "g0");
    std::uint32_t n = 0;
    for (auto _ : state) {
      shmq::Loan loan = p.try_loan(64);
      if (!check(state, loan.status(), "try_loan")) break;
      loan.abandon();
      if ((++n & 255U) == 0) {
        const shmq::Message m = c.try_receive();
        if (m.status() != Status::Empty) {
          state.SkipWithError("try_receive after abandons: expected Empty");
          break;
        }
      }
    }
    state.SetItemsProcessed(state.iterations());
  });
}
BENCHMARK(BM_LoanAbandon);

// Producer side only, `size` bytes per message: try_send (copy from a buffer)
// or loan + write in place + commit. The queue is drained (receive + ack) every
// 512 messages with the timer paused.
template <bool kCopy>
void producer_only(benchmark::State& state) {
  guarded(state, [&] {
    const auto size = static_cast<std::size_t>(state.range(0));
    shmq::Client client = make_client();
    const BenchQueue q(client, kCopy ? "send" : "loan", queue_config(1024, 4096));
    shmq::Producer p = client.producer(q.name());
    shmq::Consumer c = client.consumer(q.name(), "g0");
    std::vector<std::byte> source(size, std::byte{0x5a});
    constexpr std::uint32_t kBatch = 512;
    std::uint32_t in_queue = 0;
    bool failed = false;
    for (auto _ : state) {
      if constexpr (kCopy) {
        source[0] = static_cast<std::byte>(in_queue);
        if (!check(state, p.try_send(source), "try_send")) break;
      } else {
        shmq::Loan loan = p.try_loan(size);
        if (!check(state, loan.status(), "try_loan")) break;
        std::memset(loan.data().data(), static_cast<int>(in_queue & 0xFF), size);
        if (!check(state, loan.commit(size), "commit")) break;
      }
      if (++in_queue == kBatch) {
        state.PauseTiming();
        for (; in_queue > 0; --in_queue) {
          shmq::Message m = c.try_receive();
          if (!check(state, m.status(), "try_receive") || !check(state, m.ack(), "ack")) {
            failed = true;
            break;
          }
        }
        if (failed) break;
        state.ResumeTiming();
      }
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  });
}
void BM_SendCopy(benchmark::State& state) { producer_only<true>(state); }
void BM_LoanCommit(benchmark::State& state) { producer_only<false>(state); }
BENCHMARK(BM_SendCopy)->Arg(64)->Arg(4096);
BENCHMARK(BM_LoanCommit)->Arg(64)->Arg(4096);

// try_receive on an empty queue: what a polling consumer pays per look.
void BM_ReceiveEmpty(benchmark::State& state) {
  guarded(state, [&] {
    shmq::Client client = make_client();
    const BenchQueue q(client, "empty", queue_config(1024, 64));
    shmq::Consumer c = client.consumer(q.name(), "g0");
    (void)c.try_receive();  // the consumer's first look scans for redeliveries once
    for (auto _ : state) {
      const shmq::Message m = c.try_receive();
      benchmark::DoNotOptimize(m.status());
      if (m) {
        state.SkipWithError("try_receive on an empty queue returned a message");
        break;
      }
    }
    state.SetItemsProcessed(state.iterations());
  });
}
BENCHMARK(BM_ReceiveEmpty);

// Loan + commit 64 B, receive, nack, receive it again (delivery 2), ack. Compare
// with BM_LoanCommitReceiveAck/groups:1 for the cost of nack + redelivery; the
// argument is the queue capacity.
void BM_NackRedeliver(benchmark::State& state) {
  guarded(state, [&] {
    shmq::Client client = make_client();
    const BenchQueue q(client, "nack", queue_config(static_cast<std::uint32_t>(state.range(0)), 64));
    shmq::Producer p = client.producer(q.name());
    shmq::Consumer c = client.consumer(q.name(), "g0");
    for (auto _ : state) {
      shmq::Loan loan = p.try_loan(64);
      if (!check(state, loan.status(), "try_loan")) break;
      std::memset(loan.data().data(), 0x11, 64);
      if (!check(state, loan.commit(64), "commit")) break;
      shmq::Message first = c.try_receive();
      if (!check(state, first.status(), "try_receive") || !check(state, first.nack(), "nack")) break;
      shmq::Message again = c.try_receive();
      if (!check(state, again.status(), "try_receive (redelivery)")) break;
      if (again.delivery_count() != 2 || again.id() != first.id()) {
        state.SkipWithError("redelivery returned another message");
        break;
      }
      if (!check(state, again.ack(), "ack")) break;
    }
    state.SetItemsProcessed(state.iterations());
  });
}
BENCHMARK(BM_NackRedeliver)->ArgName("capacity")->Arg(64)->Arg(1024)->Arg(16384);

// ---- two threads: wake-up round trip per wait strategy ----------------------------

// Thread A (the benchmark thread, CPU 0) loans + commits 64 B into `ping` and
// waits for the answer on `pong`; thread B (CPU 1) waits on `ping`, acks, and
// answers on `pong`. Both wait with `strategy`; two Clients, as two processes
// would have. One iteration = one round trip.
//
// Every kBlock round trips (and before the first), with the timer paused, A asks
// B through `ping` for a block of floor round trips on the same two threads: a
// bare futex ping-pong for Park, the one-line cache-line ping-pong otherwise.
// Counters: p50/p99 of the shmq round trip, the floor's p50 over all blocks, and
// shmq's p50 and p99 as multiples of it (DESIGN.md §5: busy-spin p50 <= 2x and
// p99 <= 4x the floor; Park p50 <= 1.2x a bare futex ping-pong).
struct Command {
  std::uint64_t seq;
  std::uint32_t op;      // kEcho | kFloor
  std::uint32_t rounds;  // kFloor: floor round trips to serve
};
constexpr std::uint32_t kEcho = 0;
constexpr std::uint32_t kFloor = 1;

template <class Channel>
void wake_up(benchmark::State& state, shmq::WaitStrategy strategy, Channel& floor_channel, std::uint32_t block) {
  const shmq::WaitOptions wait{.strategy = strategy};
  shmq::Client a = make_client();
  shmq::Client b = make_client();
  const BenchQueue ping(a, "ping", queue_config(64, 64));
  const BenchQueue pong(a, "pong", queue_config(64, 64));
  shmq::Producer a_ping = a.producer(ping.name(), wait);
  shmq::Consumer a_pong = a.consumer(pong.name(), "g0", wait);
  shmq::Producer b_pong = b.producer(pong.name(), wait);
  shmq::Consumer b_ping = b.consumer(ping.name(), "g0", wait);
  const auto cpus = two_cpus();
  const ScopedPin pin(cpus[0]);
  RttHistogram h;
  RttHistogram floor;
  std::atomic<bool> stop{false};
  std::atomic<Status> echo_error{Status::Ok};

  // Nothing from here to join() throws.
  std::thread echo([&, cpu = cpus[1]] {
    (void)pin_to(cpu);
    auto fail = [&](Status s) { echo_error.store(s == Status::Ok ? Status::InvalidHandle : s); };
    while (!stop.load(std::memory_order_relaxed)) {
      shmq::Message m = b_ping.receive(20ms);  // short: notices `stop` soon
      if (m.status() == Status::Timeout) continue;
      if (!m) return fail(m.status());
      Command cmd{};
      std::memcpy(&cmd, m.data().data(), sizeof cmd);
      if (const Status s = m.ack(); s != Status::Ok) return fail(s);
      if (cmd.op == kFloor) {
        for (std::uint32_t i = 0; i < cmd.rounds; ++i) (void)floor_channel.serve_one();
        continue;
      }
      shmq::Loan loan = b_pong.loan(64, 1s);
      if (!loan) return fail(loan.status());
      std::memcpy(loan.data().data(), &cmd.seq, sizeof cmd.seq);
      if (const Status s = loan.commit(64); s != Status::Ok) return fail(s);
    }
  });

  // A block of floor round trips; false (and the benchmark skipped) if B could
  // not be asked.
  auto floor_block = [&]() noexcept {
    shmq::Loan loan = a_ping.loan(64, 1s);
    if (!check(state, loan.status(), "loan floor command")) return false;
    const Command cmd{0, kFloor, block};
    std::memcpy(loan.data().data(), &cmd, sizeof cmd);
    if (!check(state, loan.commit(64), "commit floor command")) return false;
    floor.start();
    for (std::uint32_t i = 0; i < block; ++i) {
      floor_channel.round_trip();
      floor.lap();
    }
    return true;
  };

  std::uint64_t seq = 0;
  std::uint32_t until_floor = 0;
  for (auto _ : state) {
    if (until_floor-- == 0) {
      state.PauseTiming();
      if (!floor_block()) break;
      state.ResumeTiming();
      until_floor = block - 1;
      h.start();
    }
    shmq::Loan loan = a_ping.loan(64, 1s);
    if (!check(state, loan.status(), "loan ping")) break;
    const Command cmd{++seq, kEcho, 0};
    std::memcpy(loan.data().data(), &cmd, sizeof cmd);
    if (!check(state, loan.commit(64), "commit ping")) break;
    shmq::Message m = a_pong.receive(1s);
    if (!check(state, m.status(), "receive pong")) break;
    std::uint64_t got = 0;
    std::memcpy(&got, m.data().data(), sizeof got);
    if (got != seq) {
      state.SkipWithError("pong carries the wrong sequence number");
      break;
    }
    if (!check(state, m.ack(), "ack pong")) break;
    h.lap();
  }
  stop.store(true, std::memory_order_relaxed);
  echo.join();

  if (echo_error.load() != Status::Ok && !state.error_occurred())
    (void)check(state, echo_error.load(), "echo thread");
  report_rtt(state, h);
  const double floor_p50 = floor.quantile(0.50);
  state.counters["floor_p50_ns"] = floor_p50;
  state.counters["x_floor_p50"] = h.quantile(0.50) / floor_p50;
  state.counters["x_floor_p99"] = h.quantile(0.99) / floor_p50;
}

void BM_WakeUp(benchmark::State& state, shmq::WaitStrategy strategy) {
  guarded(state, [&] {
    if (strategy == shmq::WaitStrategy::Park) {
      FutexChannel channel;
      wake_up(state, strategy, channel, 64);
    } else {
      LineChannel channel(true);
      wake_up(state, strategy, channel, 1024);
    }
  });
}
BENCHMARK_CAPTURE(BM_WakeUp, BusySpin, shmq::WaitStrategy::BusySpin)->UseRealTime();
BENCHMARK_CAPTURE(BM_WakeUp, SpinYield, shmq::WaitStrategy::SpinYield)->UseRealTime();
BENCHMARK_CAPTURE(BM_WakeUp, Park, shmq::WaitStrategy::Park)->UseRealTime();
BENCHMARK_CAPTURE(BM_WakeUp, Adaptive, shmq::WaitStrategy::Adaptive)->UseRealTime();

}  // namespace
