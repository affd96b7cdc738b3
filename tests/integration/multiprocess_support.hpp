// What the multi-process tests of the public API (DESIGN.md §1) share:
// their deadlines, queues created by a Client that is gone before any fork,
// and the sequence-number payload that shows a torn or stale read. Used by
// multiprocess_ordering_test, multiprocess_waiting_test and
// multiprocess_loans_test.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq::test::multiprocess {

using namespace std::chrono_literals;

// How long a child may run before the parent kills it: generous, so a slow
// sanitizer build on a loaded machine does not fail, yet nothing hangs for ever.
inline constexpr auto kChildDeadline = 60s;
// A single receive or blocking send that should succeed at once, bounded.
inline constexpr auto kOpTimeout = 10s;
// How long to wait to conclude that nothing more is coming.
inline constexpr auto kQuiet = 50ms;

// Creates a queue from a Client that is gone when this returns (see the top of the test files).
inline void create_queue(const TestNamespace& ns, const std::string& name, const shmq::QueueConfig& config) {
  shmq::Client c({.ns = ns.name()});
  c.create_queue(name, config);
}

inline shmq::QueueConfig queue_config(std::uint32_t capacity, std::uint32_t slot_size,
                                      std::vector<std::string> groups = {"default"}) {
  shmq::QueueConfig c;
  c.capacity = capacity;
  c.slot_size = slot_size;
  c.groups.clear();
  for (std::string& g : groups) c.groups.push_back(shmq::GroupConfig{.name = std::move(g)});
  return c;
}

static_assert(std::atomic<std::uint8_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Payload of the ordered tests: a sequence number and its complement, so a
// torn or stale read shows.
inline constexpr std::size_t kSeqPayload = 16;

inline void encode_seq(std::byte* out, std::uint64_t seq) {
  const std::uint64_t check = ~seq;
  std::memcpy(out, &seq, 8);
  std::memcpy(out + 8, &check, 8);
}

inline std::array<std::byte, kSeqPayload> seq_payload(std::uint64_t seq) {
  std::array<std::byte, kSeqPayload> b{};
  encode_seq(b.data(), seq);
  return b;
}

// The sequence number of a message, or false if it is not a valid seq payload.
inline bool decode_seq(std::span<const std::byte> data, std::uint64_t& seq) {
  if (data.size() != kSeqPayload) return false;
  std::uint64_t check = 0;
  std::memcpy(&seq, data.data(), 8);
  std::memcpy(&check, data.data() + 8, 8);
  return check == ~seq;
}

}  // namespace shmq::test::multiprocess
