// A queue as the test process sees it, with the registry (so the audit can
// tell live owners from dead ones). No Client: no thread, so the test may
// still fork.
#pragma once

#include <cstdint>
#include <string>

#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "os/queue_segment.hpp"
#include "test_support.hpp"

namespace shmq::test {

struct ObservedQueue {
  ObservedQueue(const TestNamespace& ns, const std::string& name)
      : mapped_registry(detail::open_or_create_registry(ns.name())),
        registry(mapped_registry.view),
        queue(detail::open_queue_segment(ns.name(), name)) {
    queue.view.sessions = registry.sessions;
  }
  [[nodiscard]] detail::AuditReport audit() const { return detail::audit(queue.view); }
  [[nodiscard]] const detail::QueueView& view() const noexcept { return queue.view; }
  [[nodiscard]] detail::SessionState state_of(detail::Owner o) const noexcept {
    return detail::session_state_of(registry, o);
  }
  // Sessions attached to the queue now (shmqd's watchdog is one).
  [[nodiscard]] std::uint32_t attached() const noexcept {
    std::uint32_t n = 0;
    for (std::uint32_t i = 0; i < detail::kMaxSessions; ++i)
      if (queue.view.attachments[i].owner.load() != detail::kNoOwner) ++n;
    return n;
  }
  detail::MappedRegistry mapped_registry;
  detail::RegistryView registry;
  detail::MappedQueue queue;
};

}  // namespace shmq::test
