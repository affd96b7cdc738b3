// A queue (and optionally a registry) in heap memory, for unit tests of the
// state machine without any system call.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/registry.hpp"
#include "core/ring.hpp"
#include "layout/queue_view.hpp"

namespace shmq::test {

struct FreeDeleter {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};
using HeapBytes = std::unique_ptr<std::byte, FreeDeleter>;

inline HeapBytes heap_bytes(std::size_t n) {
  auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096));
  std::memset(p, 0, n);
  return HeapBytes(p);
}

inline detail::GroupInfo group(const char* name, bool at_most_once = false, std::uint32_t max_deliveries = 5,
                               std::uint64_t lease_timeout_ms = 1000) {
  detail::GroupInfo g{};
  std::strncpy(g.name, name, sizeof g.name - 1);
  g.at_most_once = at_most_once ? 1 : 0;
  g.max_deliveries = max_deliveries;
  g.lease_timeout_ms = lease_timeout_ms;
  return g;
}

inline detail::QueueParams params(std::uint32_t capacity, std::uint32_t slot_size = 64,
                                  std::vector<detail::GroupInfo> groups = {group("default")},
                                  std::uint32_t dlq_capacity = 4) {
  detail::QueueParams p;
  p.namespace_name = "unit";
  p.name = "q";
  p.capacity = capacity;
  p.slot_size = slot_size;
  p.dlq_capacity = dlq_capacity;
  p.groups = std::move(groups);
  return p;
}

struct HeapQueue {
  explicit HeapQueue(const detail::QueueParams& p) : size(detail::queue_segment_size(p)), bytes(heap_bytes(size)) {
    detail::init_queue_segment(bytes.get(), p);
    view = detail::open_queue_view(bytes.get(), size, p.namespace_name, "heap queue");
  }
  std::size_t size;
  HeapBytes bytes;
  detail::QueueView view;
};

struct HeapRegistry {
  HeapRegistry() : bytes(heap_bytes(detail::kRegistrySize)) {
    detail::init_registry_segment(bytes.get(), "unit", 0);
    view = detail::open_registry_view(bytes.get(), detail::kRegistrySize, "unit", "heap registry");
  }
  detail::Owner claim(std::uint32_t pid = 1) {
    detail::SessionIdentity id;
    id.pid = pid;
    return detail::claim_session(view, id);
  }
  // Makes a fixed test owner (make_owner(1, 1), say) a live session, so the
  // data path does not take it for a fenced one.
  void make_alive(detail::Owner o, std::uint32_t pid = 1) {
    view.sessions[detail::owner_index(o)].word.store(
        detail::make_session_word(detail::owner_generation(o), detail::SessionState::Alive, pid));
  }
  HeapBytes bytes;
  detail::RegistryView view;
};

// The data path in one thread, as Producer and Consumer drive it.

// Publishes one message carrying `value` (4 bytes) as `me` to the groups in
// `mask`, stamped `commit_ns`; returns its position.
inline std::uint64_t produce_value(const detail::QueueView& q, std::uint32_t value, detail::Owner me,
                                   std::uint64_t commit_ns = 7, std::uint16_t mask = 0xFFFF) {
  const detail::Claim c = detail::try_claim(q, me);
  EXPECT_EQ(c.status, Status::Ok);
  std::memcpy(q.payload(q.slot_of(c.pos)), &value, sizeof value);
  const auto groups = static_cast<std::uint16_t>(mask & ((1U << q.group_count) - 1));
  EXPECT_EQ(detail::publish(q, c.pos, me, c.pos, sizeof value, commit_ns, groups), Status::Ok);
  return c.pos;
}

// Takes group `g`'s next message as `me` (a redelivery first, then a new one)
// and starts its lease at `now_ms`.
inline detail::Delivery take_message(const detail::QueueView& q, std::uint32_t g, detail::Owner me,
                                     std::uint64_t now_ms = 0) {
  detail::Delivery d = detail::take_redelivery(q, g, me, now_ms);
  if (d.status != Status::Ok) d = detail::take_next(q, g, me);
  if (d.status == Status::Ok) detail::start_lease(q, g, d, me, now_ms);
  return d;
}

}  // namespace shmq::test
