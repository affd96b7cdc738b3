// Crash-point matrix (DESIGN.md §3): a child process runs a workload that
// reaches every named step of every multi-step operation and is SIGKILLed at
// one of them; the parent then recovers the child's session as the watchdog
// would and checks the rules: nothing lost (at-least-once), no slot leaked,
// no queue wedged, nothing of the dead session left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <set>
#include <string>

#include <unistd.h>

#include "children.hpp"
#include "crash_point.hpp"
#include "parking.hpp"
#include "purge.hpp"
#include "queue_segment.hpp"
#include "recovery.hpp"
#include "wait.hpp"
#include "registry.hpp"
#include "ring.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq {
namespace {

using namespace std::chrono_literals;
using detail::Owner;

constexpr std::uint32_t kCapacity = 8;
constexpr std::uint32_t kGroups = 3;  // g0: at-least-once, 2 deliveries; g1: at-least-once; g2: at-most-once
constexpr std::uint32_t kMaxLog = 256;

// What the child tells the parent, in shared anonymous memory (survives SIGKILL).
struct ChildLog {
  std::atomic<std::uint32_t> committed_count;
  std::uint64_t committed[kMaxLog];  // written after commit returned Ok
  std::atomic<std::uint32_t> ack_count[kGroups];
  std::uint64_t acked[kGroups][kMaxLog];  // written before ack: the ack may have happened
};

void append(std::atomic<std::uint32_t>& count, std::uint64_t* items, std::uint64_t id) {
  const std::uint32_t i = count.load(std::memory_order_relaxed);
  if (i >= kMaxLog) std::abort();
  items[i] = id;
  count.store(i + 1, std::memory_order_release);
}

QueueConfig crash_queue() {
  QueueConfig c;
  c.capacity = kCapacity;
  c.slot_size = 64;
  c.dlq_capacity = 8;
  c.groups = {{"g0", DeliveryMode::AtLeastOnce, 2, 60'000ms},
              {"g1", DeliveryMode::AtLeastOnce, 10, 60'000ms},
              {"g2", DeliveryMode::AtMostOnce, 10, 60'000ms}};
  return c;
}

// Receives what group `g` has now, acking all but (optionally) the last.
void consume(Consumer& c, std::uint32_t g, ChildLog& log, bool keep_last = false) {
  std::vector<Message> held;
  for (Message m = c.try_receive(); m; m = c.try_receive()) held.push_back(std::move(m));
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (keep_last && i + 1 == held.size()) {
      held[i].keep_lease();
      continue;
    }
    append(log.ack_count[g], log.acked[g], held[i].id());
    (void)held[i].ack();
  }
}

// The child's workload: reaches every name in detail::kCrashPoints.
int child_workload(const std::string& ns, const std::string& point, std::uint32_t nth, ChildLog& log) {
  detail::arm_crash_point(point, nth);
  Client client({.ns = ns});  // session.claimed
  Consumer g0 = client.consumer("q", "g0");
  Consumer g1 = client.consumer("q", "g1");
  Consumer g2 = client.consumer("q", "g2");

  // g0: deliver, nack, redeliver, nack; the next take dead-letters it.
  for (int i = 0; i < 2; ++i) {
    Message m = g0.try_receive();  // the first take passes over the quarantined position
    if (!m) return 10;
    (void)m.nack();
  }
  consume(g0, 0, log);
  consume(g1, 1, log);
  consume(g2, 2, log);

  Producer p = client.producer("q");
  for (int i = 0; i < 6; ++i) {  // laps over the quarantined slot
    Loan loan = p.loan(8, 20ms);
    if (!loan) continue;
    const std::uint64_t id = loan.id();
    std::memcpy(loan.data().data(), &id, sizeof id);
    if (loan.commit() == Status::Ok) append(log.committed_count, log.committed, id);
  }
  { Loan dropped = p.try_loan(8); }

  consume(g0, 0, log, /*keep_last=*/true);
  consume(g1, 1, log);
  consume(g2, 2, log);

  // purge.partial: two messages sent to be purged (not logged as committed:
  // dropping them is the point), purged with g0's last message still leased.
  for (int i = 0; i < 2; ++i) {
    Loan loan = p.loan(8, 20ms);
    if (loan) (void)loan.commit();
  }
  const detail::MappedQueue purged = detail::open_queue_segment(ns, "q");
  (void)detail::purge(purged.view);

  Consumer parked = client.consumer("q", "g1", {WaitStrategy::Park});
  (void)parked.receive(2ms);  // park.counted

  // fenced.given_back: fenced as the watchdog would (before the heartbeat
  // thread notices), the session gives back the lease it has just taken.
  if (Loan last = p.loan(8, 20ms)) {
    const std::uint64_t id = last.id();
    if (last.commit() == Status::Ok) append(log.committed_count, log.committed, id);
  }
  const detail::Segment reg_seg = detail::Segment::open(detail::registry_segment_name(ns));
  (void)detail::fence_session(detail::open_registry_view(reg_seg.data(), reg_seg.size(), ns, "registry"),
                              client.session_id());
  if (g1.try_receive().status() != Status::Fenced) return 11;
  return 0;
}

struct Ids {
  std::set<std::uint64_t> ids[kGroups];
};

class CrashPointTest : public ::testing::TestWithParam<std::tuple<std::string, std::uint32_t>> {
 protected:
  test::TestNamespace ns_;
  test::SharedArray<ChildLog> log_{1};  // zero-filled: every count starts at 0
};

TEST_P(CrashPointTest, KilledAtStepLosesLeaksAndWedgesNothing) {
  const auto& [point, nth] = GetParam();
  {
    Client setup({.ns = ns_.name()});
    setup.create_queue("q", crash_queue());
  }

  detail::MappedQueue mq = detail::open_queue_segment(ns_.name(), "q");
  detail::Segment reg_seg = detail::Segment::open(detail::registry_segment_name(ns_.name()));
  const detail::RegistryView reg = detail::open_registry_view(reg_seg.data(), reg_seg.size(), ns_.name(), "registry");
  const detail::QueueView& q = mq.view;
  mq.view.sessions = reg.sessions;

  // A fenced producer that may still run holds the first slot: quarantined.
  detail::SessionIdentity zombie_id;
  zombie_id.pid = 1;
  const Owner zombie = detail::claim_session(reg, zombie_id);
  ASSERT_EQ(detail::try_claim(q, zombie).status, Status::Ok);
  ASSERT_TRUE(detail::fence_session(reg, zombie));
  ASSERT_EQ(detail::recover_session(q, zombie, true).loans_aborted, 1U);

  std::set<std::uint64_t> committed;
  {
    // Gone before the fork: a Client owns a heartbeat thread, and a child forked
    // from a threaded process may inherit a lock that thread held (ASan's allocator).
    Client setup({.ns = ns_.name()});
    Producer p = setup.producer("q");
    for (int i = 0; i < 3; ++i) {
      Loan l = p.try_loan(8);
      ASSERT_TRUE(l);
      committed.insert(l.id());
      ASSERT_EQ(l.commit(), Status::Ok);
    }
  }

  const std::string ns = ns_.name();
  ChildLog& log = log_[0];
  const pid_t pid = test::fork_child([&] { return child_workload(ns, point, nth, log); });
  const test::ChildExit exit = test::wait_child(pid, 20s);
  ASSERT_FALSE(exit.timed_out) << "child hung at " << point;
  if (nth == 1) {
    ASSERT_EQ(exit.signal, SIGKILL) << "the workload never reached " << point << " (exit code " << exit.code << ")";
  } else {
    ASSERT_TRUE(exit.signal == SIGKILL || (exit.exited && exit.code == 0)) << "exit " << exit.code;
  }

  // The watchdog's part: fence, recover, release every session of the child.
  for (std::uint32_t i = 0; i < detail::kMaxSessions; ++i) {
    const detail::Word w = reg.sessions[i].word.load();
    if (detail::session_pid(w) != static_cast<std::uint32_t>(pid) ||
        detail::session_state(w) == detail::SessionState::Free)
      continue;
    const Owner dead = detail::make_owner(i, detail::session_generation(w));
    detail::fence_session(reg, dead);
    detail::recover_session(q, dead, false);
    ASSERT_TRUE(detail::release_session(reg, dead));
  }
  detail::wake_everyone(q);

  // Nothing left owned by the dead child; wake-up counts back to zero.
  detail::AuditReport a = detail::audit(q);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.loaned, 0U);
  EXPECT_EQ(a.leased, 0U);
  EXPECT_FALSE(detail::any_parked(q.hot->consumers_parked));
  EXPECT_FALSE(detail::any_parked(q.hot->producers_parked));

  Client parent({.ns = ns_.name()});
  // Nothing lost: every committed message is acked (maybe), drained now, or dead-lettered.
  for (std::uint32_t i = 0; i < log.committed_count.load(); ++i) committed.insert(log.committed[i]);
  Ids drained;
  for (std::uint32_t g = 0; g < kGroups; ++g) {
    Consumer c = parent.consumer("q", "g" + std::to_string(g));
    for (Message m = c.try_receive(); m; m = c.try_receive()) {
      drained.ids[g].insert(m.id());
      ASSERT_EQ(m.ack(), Status::Ok);
    }
  }
  std::set<std::uint64_t> dead_letters[kGroups];
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    const detail::DlqHeader& e = q.dlq_entry(i);
    if (static_cast<detail::DlqState>(detail::word_state(e.state.load())) == detail::DlqState::Full)
      dead_letters[e.group].insert(e.id);
  }
  for (std::uint32_t g = 0; g < 2; ++g) {  // the at-least-once groups
    std::set<std::uint64_t> acked(log.acked[g], log.acked[g] + log.ack_count[g].load());
    for (std::uint64_t id : committed)
      EXPECT_TRUE(drained.ids[g].count(id) + acked.count(id) + dead_letters[g].count(id) > 0)
          << "message " << id << " lost in group g" << g << " after a crash at " << point;
  }

  // Nothing wedged: the queue still takes and delivers a full ring.
  {
    Producer p = parent.producer("q");
    std::uint32_t sent = 0;
    for (Loan l = p.try_loan(8); l; l = p.try_loan(8)) {
      ASSERT_EQ(l.commit(), Status::Ok);
      ++sent;
    }
    EXPECT_EQ(sent, kCapacity - 1);  // all but the quarantined slot
    for (std::uint32_t g = 0; g < kGroups; ++g) {
      Consumer c = parent.consumer("q", "g" + std::to_string(g));
      std::uint32_t got = 0;
      for (Message m = c.try_receive(); m; m = c.try_receive(), ++got) ASSERT_EQ(m.ack(), Status::Ok);
      EXPECT_EQ(got, sent) << "group g" << g;
    }
  }
  a = detail::audit(q);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.free + a.quarantined, kCapacity);
  EXPECT_EQ(a.quarantined, 1U);
  detail::release_session(reg, zombie);
}

std::vector<std::tuple<std::string, std::uint32_t>> every_point() {
  std::vector<std::tuple<std::string, std::uint32_t>> v;
  for (std::string_view p : detail::kCrashPoints)
    for (std::uint32_t nth : {1U, 2U}) v.emplace_back(std::string(p), nth);
  return v;
}

INSTANTIATE_TEST_SUITE_P(EveryStep, CrashPointTest, ::testing::ValuesIn(every_point()),
                         [](const auto& param_info) {
                           std::string name = std::get<0>(param_info.param) + "_" + std::to_string(std::get<1>(param_info.param));
                           for (char& c : name)
                             if (c == '.') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace shmq
