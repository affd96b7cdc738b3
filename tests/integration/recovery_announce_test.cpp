// A recoverer killed between taking back a lease and announcing it (bumping
// the group's redelivery generation) must not leave the message invisible to
// consumers that already scanned: the word it leaves names who owes the bump,
// and that session's recovery bumps. One lease, one step, nothing else that
// could move the generation: the matrix in recovery_crash_test.cpp does
// enough other work to hide a missing bump.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <csignal>
#include <string>

#include "children.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "layout/crash_point.hpp"
#include "os/process.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq {
namespace {

using namespace std::chrono_literals;
using detail::Owner;

struct Ids {
  std::atomic<Owner> victim;
  std::atomic<Owner> recoverer;
};

// What the watchdog does for a dead session, over queue "q".
void recover(const std::string& ns, Owner dead) {
  const detail::MappedRegistry registry = detail::open_registry(ns);
  const detail::RegistryView& reg = registry.view;
  detail::MappedQueue q = detail::open_queue_segment(ns, "q");
  q.view.sessions = reg.sessions;
  std::array<detail::QueueRecovery, 1> one = {detail::QueueRecovery{.view = &q.view, .attached = false, .result = {}}};
  (void)detail::recover_dead_session(reg, one, dead);
}

class RecoveryAnnounceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RecoveryAnnounceTest, ExistingConsumerSeesWhatAKilledRecovererTookBack) {
  const std::string& point = GetParam();
  test::TestNamespace ns_holder;
  const std::string ns = ns_holder.name();
  {
    Client setup({.ns = ns});
    QueueConfig c;
    c.capacity = 4;
    c.slot_size = 8;
    c.dlq_capacity = 0;
    setup.create_queue("q", c);
  }
  test::SharedArray<Ids> ids(1);
  test::Pipe go_victim;
  test::Pipe go_recoverer;
  // Holds the one message, then dies parked.
  test::Victim victim([&] {
    if (!go_victim.wait(20s)) return test::fail(20, "no go");
    Client c({.ns = ns});
    ids[0].victim.store(c.session_id());
    Consumer k = c.consumer("q", "default", {WaitStrategy::Park});
    Message m = k.try_receive();
    if (!m) return test::fail(10, "no message to hold");
    m.keep_lease();
    detail::arm_crash_point("park.counted", 1);
    (void)k.receive(10s);
    return test::fail(11, "not killed while parked");
  });
  // Takes the lease back (by recovery or by expiry, a day later) and is
  // killed at `point`.
  test::Victim recoverer([&] {
    if (!go_recoverer.wait(20s)) return test::fail(20, "no go");
    Client self({.ns = ns});
    Producer attached = self.producer("q");
    ids[0].recoverer.store(self.session_id());
    detail::arm_crash_point(point, 1);
    if (point == "expire.pending") {
      detail::MappedQueue q = detail::open_queue_segment(ns, "q");
      (void)detail::expire_leases(q.view, detail::monotonic_ns() / 1'000'000 + 86'400'000, self.session_id());
    } else {
      recover(ns, ids[0].victim.load());
    }
    return test::fail(12, "not killed at the armed step");
  });

  Client parent({.ns = ns});
  Producer p = parent.producer("q");
  ASSERT_EQ(p.send("m"), Status::Ok);
  ASSERT_TRUE(go_victim.signal());
  ASSERT_EQ(victim.wait(20s).signal, SIGKILL);
  // Has looked at the queue since the victim took the message: it rescans
  // for redeliveries only when the generation moves.
  Consumer existing = parent.consumer("q", "default");
  ASSERT_EQ(existing.try_receive().status(), Status::Empty);
  ASSERT_TRUE(go_recoverer.signal());
  ASSERT_EQ(recoverer.wait(20s).signal, SIGKILL) << "the recoverer was not killed at " << point;

  recover(ns, ids[0].recoverer.load());
  recover(ns, ids[0].victim.load());
  const Message m = existing.try_receive();
  ASSERT_TRUE(m) << "after a recoverer died at " << point
                 << ", the message it took back is invisible to a consumer that already scanned";
  EXPECT_EQ(m.delivery_count(), 2U);
}

INSTANTIATE_TEST_SUITE_P(Step, RecoveryAnnounceTest,
                         ::testing::Values("recover.lease_taken", "recover.announced", "expire.pending"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name)
                             if (c == '.') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace shmq
