// shmq::admin's read-only and writable queues (DESIGN.md section 6): the
// methods that change a queue exist only on WritableQueue, which
// Namespace::writable_queue maps read-write; Namespace::queue maps read-only,
// and no write can be called through it.
#include <type_traits>

#include <gtest/gtest.h>

#include "shmq/admin/namespace.hpp"

namespace {

using shmq::admin::Namespace;
using shmq::admin::Queue;
using shmq::admin::SessionId;
using shmq::admin::WritableQueue;

template <class Q>
concept CanReplay = requires(Q& q) { q.replay_dead_letter(0U, SessionId{}); };
template <class Q>
concept CanPurge = requires(Q& q) { q.purge_dead_letter(0U); };
template <class Q>
concept CanExpire = requires(Q& q) { q.expire_leases(SessionId{}); };
template <class Q>
concept CanRead = requires(const Q& q) {
  q.stats();
  q.audit();
  q.peek(0U, 1U);
  q.dead_letters();
  q.config();
};

TEST(AdminAccess, OnlyAWritableQueueHasTheMethodsThatWrite) {
  static_assert(!CanReplay<Queue> && !CanPurge<Queue> && !CanExpire<Queue>);
  static_assert(CanReplay<WritableQueue> && CanPurge<WritableQueue> && CanExpire<WritableQueue>);
  static_assert(CanRead<Queue> && CanRead<WritableQueue>);
  // What Namespace hands out: queue() read-only, writable_queue() read-write.
  static_assert(std::is_same_v<decltype(std::declval<const Namespace&>().queue("q")), Queue>);
  static_assert(std::is_same_v<decltype(std::declval<const Namespace&>().writable_queue("q")), WritableQueue>);
  // A read-only Queue cannot become a WritableQueue.
  static_assert(!std::is_constructible_v<WritableQueue, Queue&&>);
  SUCCEED();
}

}  // namespace
