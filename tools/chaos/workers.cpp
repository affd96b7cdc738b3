#include "workers.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string_view>
#include <thread>

#include <unistd.h>

#include "shmq/shmq.hpp"

namespace shmq::chaos {

namespace {

using namespace std::chrono_literals;

// How long a worker waits in one call before it looks at the stop flags again.
constexpr auto kPollPeriod = 100ms;
// One in this many loans is abandoned, and one in this many at-least-once
// deliveries nacked, to keep those paths busy too.
constexpr std::uint64_t kAbandonOneIn = 512;
constexpr std::uint64_t kNackOneIn = 1024;
// In the dead-letter group one delivery in this many is nacked: with
// kDlqMaxDeliveries 3, about one message in 6^3 = 216 is dead-lettered.
constexpr std::uint64_t kDlqNackOneIn = 6;
// One in this many deliveries is held for up to twice RunShape::hold, as if
// processing took that long: consumers then hold messages when killed or
// stopped, and a backlog builds that fills the queue.
constexpr std::uint64_t kHoldOneIn = 16;

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t origin_seed(std::uint32_t p, std::uint64_t seq) noexcept {
  std::uint64_t s = (static_cast<std::uint64_t>(p) << 48) ^ seq;
  return splitmix64(s);
}

// The checksum sits first and covers every byte after it. Every worker runs
// this same binary, so the standard library's byte hash agrees across them.
std::uint64_t checksum_of(std::span<const std::byte> payload) noexcept {
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(payload.data()) + 8,
                                                        payload.size() - 8));
}

int fenced(WorkerCounters& c) {
  c.fenced.fetch_add(1, kRelaxed);
  return kExitFenced;
}

int failed(const char* who, const char* what, Status s) {
  std::fprintf(stderr, "shmq-chaos: %s (pid %d): %s: %s\n", who, static_cast<int>(::getpid()), what, to_string(s));
  return 1;
}

}  // namespace

ClientOptions client_options(const RunShape& shape) {
  ClientOptions o;
  o.ns = shape.ns;
  o.heartbeat_interval = shape.heartbeat_interval;
  o.heartbeat_timeout = shape.heartbeat_timeout;
  return o;
}

std::size_t payload_length(std::uint32_t p, std::uint64_t seq, std::uint32_t slot_size) noexcept {
  if (slot_size <= kPayloadHeader) return kPayloadHeader;
  return kPayloadHeader + origin_seed(p, seq) % (slot_size - kPayloadHeader + 1);
}

void write_payload(std::span<std::byte> out, std::uint32_t p, std::uint64_t seq, std::uint64_t id) noexcept {
  const auto length = static_cast<std::uint32_t>(out.size());
  std::memcpy(out.data() + 8, &p, 4);
  std::memcpy(out.data() + 12, &length, 4);
  std::memcpy(out.data() + 16, &seq, 8);
  std::memcpy(out.data() + 24, &id, 8);
  std::uint64_t state = origin_seed(p, seq);
  for (std::size_t i = kPayloadHeader; i < out.size(); i += 8) {
    const std::uint64_t word = splitmix64(state);
    std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, out.size() - i));
  }
  const std::uint64_t sum = checksum_of(out);
  std::memcpy(out.data(), &sum, 8);
}

bool read_payload(std::span<const std::byte> in, Origin& origin) noexcept {
  if (in.size() < kPayloadHeader) return false;
  std::uint32_t length = 0;
  std::uint64_t sum = 0;
  std::memcpy(&sum, in.data(), 8);
  std::memcpy(&origin.producer, in.data() + 8, 4);
  std::memcpy(&length, in.data() + 12, 4);
  std::memcpy(&origin.seq, in.data() + 16, 8);
  std::memcpy(&origin.id, in.data() + 24, 8);
  return length == in.size() && sum == checksum_of(in);
}

bool valid_payload(const RunShape& shape, std::span<const std::byte> in, std::uint64_t id, Origin& origin) noexcept {
  return read_payload(in, origin) && origin.producer < shape.producers && origin.seq < shape.per_producer &&
         origin.id == id;
}

int run_producer(const RunShape& shape, const SharedLedger& shared, std::uint32_t p) {
  Ledger& ledger = *shared.ledger;
  ProducerState& state = ledger.producers[p];
  WorkerCounters& counters = ledger.workers[p];
  Client client(client_options(shape));
  Producer producer = client.producer(shape.queue);
  std::uint64_t seq = state.next.load(kRelaxed);
  std::uint64_t rng = origin_seed(p, seq) ^ static_cast<std::uint64_t>(::getpid());
  auto due = std::chrono::steady_clock::now();
  const auto period = shape.rate == 0 ? std::chrono::nanoseconds(0) : std::chrono::nanoseconds(1s) / shape.rate;

  // The controller reads `state` only once this process is dead (waitpid),
  // when every store of it is visible: relaxed stores suffice.
  while (ledger.stop_producers.load(std::memory_order_acquire) == 0 && seq < shape.per_producer) {
    if (shape.rate != 0) {
      due += period;  // pacing the load, not synchronisation
      std::this_thread::sleep_until(due);
    }
    state.attempting.store(seq + 1, kRelaxed);
    const std::size_t length = payload_length(p, seq, shape.slot_size);
    Loan loan = producer.loan(length, kPollPeriod);
    if (!loan) {
      if (loan.status() == Status::Fenced) return fenced(counters);
      if (loan.status() == Status::Timeout || loan.status() == Status::QueueFull) continue;
      return failed("producer", "loan", loan.status());
    }
    if (splitmix64(rng) % kAbandonOneIn == 0) {
      loan.abandon();
      continue;
    }
    write_payload(loan.data().first(length), p, seq, loan.id());
    const Status s = loan.commit(length);
    if (s == Status::Fenced) return fenced(counters);  // committed or not: the controller counts it in doubt
    if (s == Status::LeaseLost) continue;              // taken back while we were stopped: not published
    if (s != Status::Ok) return failed("producer", "commit", s);
    state.next.store(seq + 1, kRelaxed);
    state.attempting.store(0, kRelaxed);
    counters.committed.fetch_add(1, kRelaxed);
    ++seq;
  }
  state.attempting.store(0, kRelaxed);  // the last loan failed: nothing in doubt
  return 0;
}

int run_consumer(const RunShape& shape, const SharedLedger& shared, std::uint32_t g, std::uint32_t slot) {
  Ledger& ledger = *shared.ledger;
  WorkerCounters& counters = ledger.workers[slot];
  Client client(client_options(shape));
  Consumer consumer = client.consumer(shape.queue, kGroupNames[g]);
  std::uint64_t rng = (static_cast<std::uint64_t>(slot) << 32) ^ static_cast<std::uint64_t>(::getpid());

  while (ledger.stop_consumers.load(std::memory_order_acquire) == 0) {
    Message m = consumer.receive(kPollPeriod);
    if (!m) {
      if (m.status() == Status::Fenced) return fenced(counters);
      if (m.status() == Status::Timeout || m.status() == Status::Empty) continue;
      return failed("consumer", "receive", m.status());
    }
    counters.received.fetch_add(1, kRelaxed);
    const bool redelivered = m.delivery_count() > 1;
    if (redelivered) counters.redelivered.fetch_add(1, kRelaxed);
    // The bytes are the message's only while the lease is held: a consumer
    // that was stopped past it may read a slot already reused. The ack (a
    // release CAS, after these reads) says whether the lease held throughout,
    // so a bad payload or a record counts only once the ack succeeded.
    Origin o;
    const bool valid = valid_payload(shape, m.data(), m.id(), o);
    const std::size_t size = m.data().size();
    std::uint8_t* cell = valid ? shared.cell(shape, g, o.producer, o.seq) : nullptr;
    if (shape.hold.count() > 0 && splitmix64(rng) % kHoldOneIn == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(splitmix64(rng) % (2 * shape.hold.count() + 1)));
    Status s = Status::Ok;
    if (valid && !kAtMostOnce[g] && splitmix64(rng) % (g == kDlqGroup ? kDlqNackOneIn : kNackOneIn) == 0) {
      // cppcheck-suppress redundantInitialization ; clang-tidy (init-variables) wants `s` initialised
      s = m.nack();
      if (s == Status::Ok) counters.nacked.fetch_add(1, kRelaxed);
    } else {
      if (valid) {
        counters.unsettled.store(SharedLedger::index(shape, g, o.producer, o.seq) + 1, kRelaxed);
        RecordCell::add(*cell, +1, redelivered);
      }
      s = m.ack();
      if (s != Status::Ok && valid) RecordCell::add(*cell, -1, false);  // not ours after all
      counters.unsettled.store(0, kRelaxed);
      if (s == Status::Ok && !valid) {
        counters.corrupted.fetch_add(1, kRelaxed);
        std::fprintf(stderr, "shmq-chaos: %s consumer: corrupted message id %llu (%zu bytes)\n", kGroupNames[g],
                     static_cast<unsigned long long>(m.id()), size);
      }
    }
    if (s == Status::Fenced) return fenced(counters);
    if (s == Status::LeaseLost) {
      counters.lease_lost.fetch_add(1, kRelaxed);
    } else if (s != Status::Ok) {
      return failed("consumer", "ack", s);
    }
  }
  return 0;
}

}  // namespace shmq::chaos
