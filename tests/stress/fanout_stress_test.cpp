// Stress: many producer and consumer processes on one queue, fan-out to two
// at-least-once groups of competing consumers, every payload checksummed.
//
//   4 producer processes x 250k messages (1M in total; 250k under ASan, 100k
//   under TSan; SHMQ_STRESS_MESSAGES sets it)
//   2 groups x 4 consumer processes, capacity 1024, Adaptive waits
//
// Each consumer verifies the checksum of every message, acks it, and marks
// (producer, seq) in a MAP_SHARED table; the parent then checks that each
// group saw every message exactly once and that no payload was torn.
//
// The parent holds no Client when it forks (a Client owns a heartbeat thread;
// children of a multi-threaded process must not start threads). Children
// report through their exit code and one line on stderr, never gtest asserts.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "shmq/shmq.hpp"
#include "children.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::Child;
using shmq::test::ChildExit;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::SharedArray;
using shmq::test::TestNamespace;

constexpr std::uint32_t kProducers = 4;
constexpr std::uint32_t kGroups = 2;
constexpr std::uint32_t kConsumersPerGroup = 4;
constexpr std::uint32_t kCapacity = 1024;
// Scaled to the build, so the run stays far inside kRunDeadline on a loaded
// 2-core machine: ThreadSanitizer slows this workload about 10x, ASan about 3x.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kDefaultMessages = 100'000;
#elif defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kDefaultMessages = 250'000;
#else
constexpr std::uint64_t kDefaultMessages = 1'000'000;
#endif
// The whole run must finish within this (ctest kills the test at 300 s).
constexpr auto kRunDeadline = 270s;
// One blocking send or the wait for the next message, bounded.
constexpr auto kOpTimeout = 30s;

// ---- payload: (producer, seq, checksum, filler) = 48 bytes ----------------------------

constexpr std::size_t kFillerBytes = 32;
struct Payload {
  std::uint32_t producer;
  std::uint32_t seq;
  std::uint64_t checksum;  // of producer, seq and filler
  std::uint8_t filler[kFillerBytes];
};
static_assert(sizeof(Payload) == 48);

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// FNV-1a over the fields the checksum covers.
std::uint64_t checksum_of(const Payload& p) {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  auto mix = [&h](const void* data, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001B3ULL;
  };
  mix(&p.producer, sizeof p.producer);
  mix(&p.seq, sizeof p.seq);
  mix(p.filler, sizeof p.filler);
  return h;
}

Payload make_payload(std::uint32_t producer, std::uint32_t seq) {
  Payload p{};
  p.producer = producer;
  p.seq = seq;
  std::uint64_t x = (std::uint64_t{producer} << 32) | seq;
  for (std::size_t i = 0; i < kFillerBytes; i += 8) {
    x = splitmix64(x);
    std::memcpy(p.filler + i, &x, 8);
  }
  p.checksum = checksum_of(p);
  return p;
}

// ---- shared results ------------------------------------------------------------

struct Counters {
  std::atomic<std::uint64_t> distinct[kGroups];  // messages a group has seen at least once
  std::atomic<std::uint64_t> checksum_failures;
  std::atomic<std::uint64_t> bad_headers;        // producer or seq out of range
  std::atomic<std::uint64_t> order_violations;   // a consumer saw a producer's seqs go back (first deliveries)
  std::atomic<std::uint64_t> redeliveries;       // delivery_count > 1 (none expected: nobody dies)
};

std::uint64_t messages_from_env() {
  const char* v = std::getenv("SHMQ_STRESS_MESSAGES");
  if (v == nullptr || *v == '\0') return kDefaultMessages;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (end == v || *end != '\0' || n < kProducers) return kDefaultMessages;
  return n;
}

const char* kGroupNames[kGroups] = {"g0", "g1"};

TEST(StressTest, FourProducersFourConsumersTwoGroupsDeliverEveryMessageOncePerGroupIntact) {
  TestNamespace ns;
  const std::uint64_t per_producer = messages_from_env() / kProducers;
  const std::uint64_t total = per_producer * kProducers;
  ASSERT_LE(per_producer, std::uint64_t{UINT32_MAX});
  {
    shmq::Client c({.ns = ns.name()});
    shmq::QueueConfig config;
    config.capacity = kCapacity;
    config.slot_size = sizeof(Payload);
    config.groups.clear();
    for (const char* g : kGroupNames) config.groups.push_back(shmq::GroupConfig{.name = g});
    c.create_queue("stress", config);
  }  // the Client (and its heartbeat thread) is gone before the forks

  SharedArray<std::atomic<std::uint8_t>> seen(std::size_t{kGroups} * total);  // [group][producer * per + seq]
  SharedArray<Counters> counters(1);
  Counters& k = counters[0];
  const auto run_start = std::chrono::steady_clock::now();
  const auto run_deadline = run_start + kRunDeadline;
  const shmq::WaitOptions wait{.strategy = shmq::WaitStrategy::Adaptive};

  auto consume = [&](std::uint32_t g, std::uint32_t me) {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer consumer = c.consumer("stress", kGroupNames[g], wait);
    std::vector<std::int64_t> last_seq(kProducers, -1);
    auto last_progress = std::chrono::steady_clock::now();
    while (k.distinct[g].load(std::memory_order_acquire) < total) {
      const auto now = std::chrono::steady_clock::now();
      if (now > run_deadline || now - last_progress > kOpTimeout)
        return fail(10, "consumer %u of group %u: the group has %llu of %llu messages, giving up", me, g,
                    static_cast<unsigned long long>(k.distinct[g].load()), static_cast<unsigned long long>(total));
      // Short waits, so a consumer notices soon that its group is complete.
      shmq::Message m = consumer.receive(20ms);
      if (m.status() == Status::Timeout) continue;
      if (!m) return fail(11, "consumer %u of group %u: receive: %s", me, g, shmq::to_string(m.status()));
      last_progress = std::chrono::steady_clock::now();
      Payload p{};
      if (m.data().size() != sizeof p) {
        k.bad_headers.fetch_add(1, std::memory_order_relaxed);
        return fail(12, "consumer %u of group %u: a message of %zu bytes", me, g, m.data().size());
      }
      std::memcpy(&p, m.data().data(), sizeof p);
      if (checksum_of(p) != p.checksum) {
        // Counted as handled, so the run ends soon; the parent reports it
        // (and the (producer, seq) it should have been shows up as missing).
        k.checksum_failures.fetch_add(1, std::memory_order_relaxed);
        (void)m.ack();
        k.distinct[g].fetch_add(1, std::memory_order_acq_rel);
        continue;
      }
      if (p.producer >= kProducers || p.seq >= per_producer) {
        k.bad_headers.fetch_add(1, std::memory_order_relaxed);
        (void)m.ack();
        k.distinct[g].fetch_add(1, std::memory_order_acq_rel);
        continue;
      }
      if (m.delivery_count() == 1) {
        if (static_cast<std::int64_t>(p.seq) <= last_seq[p.producer])
          k.order_violations.fetch_add(1, std::memory_order_relaxed);
        last_seq[p.producer] = p.seq;
      } else {
        k.redeliveries.fetch_add(1, std::memory_order_relaxed);
      }
      if (const Status s = m.ack(); s != Status::Ok)
        return fail(13, "consumer %u of group %u: ack: %s", me, g, shmq::to_string(s));
      const std::size_t index = std::size_t{g} * total + std::size_t{p.producer} * per_producer + p.seq;
      if (seen[index].fetch_add(1, std::memory_order_relaxed) == 0)
        k.distinct[g].fetch_add(1, std::memory_order_acq_rel);
    }
    return 0;
  };

  auto produce = [&](std::uint32_t me) {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer producer = c.producer("stress", wait);
    for (std::uint64_t seq = 0; seq < per_producer; ++seq) {
      const Payload p = make_payload(me, static_cast<std::uint32_t>(seq));
      const Status s = producer.send(std::as_bytes(std::span(&p, 1)), kOpTimeout);
      if (s != Status::Ok)
        return fail(20, "producer %u: send of seq %llu: %s", me, static_cast<unsigned long long>(seq),
                    shmq::to_string(s));
    }
    return 0;
  };

  std::vector<Child> consumers;
  for (std::uint32_t g = 0; g < kGroups; ++g)
    for (std::uint32_t i = 0; i < kConsumersPerGroup; ++i) consumers.emplace_back([&, g, i] { return consume(g, i); });
  std::vector<Child> producers;
  for (std::uint32_t i = 0; i < kProducers; ++i) producers.emplace_back([&, i] { return produce(i); });

  // One deadline for all: each wait gets what is left of it (plus a margin for the children's own give-up).
  auto left = [&] {
    const auto rest = run_deadline + 10s - std::chrono::steady_clock::now();
    return std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(rest));
  };
  for (std::size_t i = 0; i < producers.size(); ++i)
    EXPECT_TRUE(exited_cleanly(producers[i].wait(left()))) << "producer " << i;
  for (std::size_t i = 0; i < consumers.size(); ++i)
    EXPECT_TRUE(exited_cleanly(consumers[i].wait(left())))
        << "consumer " << i % kConsumersPerGroup << " of group " << i / kConsumersPerGroup;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();

  EXPECT_EQ(k.checksum_failures.load(), 0U) << "messages whose payload did not match its checksum";
  EXPECT_EQ(k.bad_headers.load(), 0U) << "messages with a producer or seq out of range";
  EXPECT_EQ(k.order_violations.load(), 0U) << "first deliveries of one producer seen out of order by a consumer";
  EXPECT_EQ(k.redeliveries.load(), 0U) << "redeliveries, though no consumer died or nacked";
  for (std::uint32_t g = 0; g < kGroups; ++g) {
    std::uint64_t missing = 0;
    std::uint64_t duplicated = 0;
    std::uint64_t first_bad = total;
    for (std::uint64_t i = 0; i < total; ++i) {
      const std::uint8_t n = seen[std::size_t{g} * total + i].load(std::memory_order_relaxed);
      if (n == 0) ++missing;
      if (n > 1) ++duplicated;
      if (n != 1 && first_bad == total) first_bad = i;
    }
    EXPECT_EQ(missing, 0U) << "group " << g << ": first bad (producer, seq) = (" << first_bad / per_producer << ", "
                           << first_bad % per_producer << ")";
    EXPECT_EQ(duplicated, 0U) << "group " << g << ": first bad (producer, seq) = (" << first_bad / per_producer
                              << ", " << first_bad % per_producer << ")";
  }
  std::printf("[ stress   ] %llu messages x %u groups in %.2f s (%.0f deliveries/s)\n",
              static_cast<unsigned long long>(total), kGroups, seconds,
              static_cast<double>(total * kGroups) / seconds);
}

}  // namespace
