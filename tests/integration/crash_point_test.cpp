// Crash-point matrix (DESIGN.md §3): a child process runs a workload
// (crash_workload.cpp) that reaches every named step of every multi-step
// operation at least twice and is SIGKILLed at the first or second hit of one;
// the parent then recovers the child's sessions with the watchdog's own
// function (recover_dead_session) and checks the rules: nothing lost
// (at-least-once), no slot leaked, no queue wedged, nothing of the dead
// session left behind, and consumers that existed before the kill see every
// redelivery without a fresh scan.
#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "children.hpp"
#include "core/parking.hpp"
#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "core/ring.hpp"
#include "crash_workload.hpp"
#include "layout/crash_point.hpp"
#include "os/queue_segment.hpp"
#include "os/wait.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq {
namespace {

using namespace std::chrono_literals;
using detail::Owner;
using test::ChildLog;
using test::kCrashCapacity;
using test::kCrashGroups;

std::string group_name(std::uint32_t g) { return "g" + std::to_string(g); }

std::string how_it_ended(const test::ChildExit& e) {
  if (e.timed_out) return "overstayed its deadline";
  if (e.exited) return "exited with code " + std::to_string(e.code);
  return "was killed by signal " + std::to_string(e.signal);
}

class CrashPointTest : public ::testing::TestWithParam<std::tuple<std::string, std::uint32_t>> {
 protected:
  // Queue "q", whose first slot a fenced producer that may still run holds:
  // quarantined (loan.skipped passes over it).
  void SetUp() override {
    {
      Client setup({.ns = ns_.name()});
      setup.create_queue("q", test::crash_queue());
    }
    mq_.emplace(detail::open_queue_segment(ns_.name(), "q"));
    reg_seg_.emplace(detail::open_registry(ns_.name()));
    reg_ = reg_seg_->view;
    mq_->view.sessions = reg_.sessions;
    detail::SessionIdentity zombie_id;
    zombie_id.pid = 1;
    zombie_ = detail::claim_session(reg_, zombie_id);
    ASSERT_EQ(detail::try_claim(mq_->view, zombie_).status, Status::Ok);
    ASSERT_TRUE(detail::fence_session(reg_, zombie_));
    ASSERT_EQ(detail::recover_session(mq_->view, zombie_, true).loans_aborted, 1U);
  }
  void TearDown() override {
    if (zombie_ != detail::kNoOwner) detail::release_session(reg_, zombie_);
  }

  test::TestNamespace ns_;
  test::SharedArray<ChildLog> log_{1};  // zero-filled: every count starts at 0
  std::optional<detail::MappedQueue> mq_;
  std::optional<detail::MappedRegistry> reg_seg_;
  detail::RegistryView reg_;
  Owner zombie_ = detail::kNoOwner;
};

// Unarmed, the workload runs to its end and reaches every step at least
// twice, so each case of the matrix below kills the child.
TEST_F(CrashPointTest, WorkloadReachesEveryStepTwice) {
  {
    Client setup({.ns = ns_.name()});
    Producer p = setup.producer("q");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(p.send("x"), Status::Ok);
  }
  const std::string ns = ns_.name();
  ChildLog& log = log_[0];
  test::Child child([&] { return test::crash_workload(ns, "", 0, log); });
  ASSERT_TRUE(test::exited_cleanly(child.wait(20s)));
  for (std::size_t i = 0; i < detail::kClientCrashPoints.size(); ++i)
    EXPECT_GE(log.hits[i], 2U) << detail::kClientCrashPoints[i] << " is reached " << log.hits[i] << " times";
}

TEST_P(CrashPointTest, KilledAtStepLosesLeaksAndWedgesNothing) {
  const auto& [point, nth] = GetParam();
  const detail::QueueView& q = mq_->view;
  const detail::RegistryView& reg = reg_;

  // Forked before this process has a Client: a Client owns a heartbeat
  // thread, and a child forked from a threaded process may inherit a lock
  // that thread held (ASan's allocator). The child waits for `go`.
  const std::string ns = ns_.name();
  ChildLog& log = log_[0];
  test::Pipe go;
  test::Victim child([&] {
    if (!go.wait(20s)) return test::fail(20, "no go from the parent");
    return test::crash_workload(ns, point, nth, log);
  });

  // Consumers that exist before the kill and have looked at the (empty)
  // queue: they rescan for redeliveries only when a group's redelivery
  // generation moved, unlike a fresh consumer.
  Client parent({.ns = ns_.name()});
  std::vector<Consumer> existing;
  for (std::uint32_t g = 0; g < kCrashGroups; ++g) {
    existing.push_back(parent.consumer("q", group_name(g)));
    ASSERT_EQ(existing.back().try_receive().status(), Status::Empty);
  }
  std::set<std::uint64_t> committed;
  {
    Producer p = parent.producer("q");
    for (int i = 0; i < 3; ++i) {
      Loan l = p.try_loan(8);
      ASSERT_TRUE(l);
      committed.insert(l.id());
      ASSERT_EQ(l.commit(), Status::Ok);
    }
  }
  ASSERT_TRUE(go.signal());
  const test::ChildExit exit = child.wait(20s);
  ASSERT_EQ(exit.signal, SIGKILL) << "the child was not killed at hit " << nth << " of " << point << ": it "
                                  << how_it_ended(exit);

  // The watchdog's part, through its own function: fence, recover every
  // attached queue, release, for every session of the child.
  for (std::uint32_t i = 0; i < detail::kMaxSessions; ++i) {
    const detail::Word w = reg.sessions[i].word.load();
    if (detail::session_pid(w) != static_cast<std::uint32_t>(child.pid()) ||
        detail::session_state(w) == detail::SessionState::Free)
      continue;
    const Owner dead = detail::make_owner(i, detail::session_generation(w));
    detail::QueueRecovery one{.view = &q, .attached = false, .result = {}};
    ASSERT_TRUE(detail::recover_dead_session(reg, {&one, 1}, dead));
    if (one.result.total() != 0) detail::wake_everyone(q);
    EXPECT_NE(q.attachments[i].owner.load(), dead) << "the dead child's attachment " << i << " is left";
  }

  // Nothing left owned by the dead child; wake-up counts back to zero.
  detail::AuditReport a = detail::audit(q);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.loaned, 0U);
  EXPECT_EQ(a.leased, 0U);
  EXPECT_FALSE(detail::any_parked(q.hot->consumers_parked));
  EXPECT_FALSE(detail::any_parked(q.hot->producers_parked));

  // Nothing lost: every committed message is acked (maybe), drained now by a
  // consumer that existed before the kill, or dead-lettered.
  for (std::uint32_t i = 0; i < log.committed_count.load(); ++i) committed.insert(log.committed[i]);
  std::set<std::uint64_t> drained[kCrashGroups];
  for (std::uint32_t g = 0; g < kCrashGroups; ++g) {
    for (Message m = existing[g].try_receive(); m; m = existing[g].try_receive()) {
      drained[g].insert(m.id());
      ASSERT_EQ(m.ack(), Status::Ok);
    }
  }
  std::set<std::uint64_t> dead_letters[kCrashGroups];
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i) {
    const detail::DlqHeader& e = q.dlq_entry(i);
    if (static_cast<detail::DlqState>(detail::word_state(e.state.load())) == detail::DlqState::Full)
      dead_letters[e.group].insert(e.id);
  }
  for (std::uint32_t g = 0; g < 2; ++g) {  // the at-least-once groups
    std::set<std::uint64_t> acked(log.acked[g], log.acked[g] + log.ack_count[g].load());
    for (std::uint64_t id : committed)
      EXPECT_TRUE(drained[g].count(id) + acked.count(id) + dead_letters[g].count(id) > 0)
          << "message " << id << " lost in group g" << g << " after a crash at " << point << " (hit " << nth << ")";
  }
  // A fresh consumer (which scans once) finds nothing the existing one missed.
  for (std::uint32_t g = 0; g < kCrashGroups; ++g) {
    Consumer fresh = parent.consumer("q", group_name(g));
    const Message m = fresh.try_receive();
    EXPECT_FALSE(m) << "message " << m.id() << " of group g" << g
                    << " was found by a fresh consumer only, not by one that existed before the kill";
  }

  // Nothing wedged: the queue still takes and delivers a full ring.
  {
    Producer p = parent.producer("q");
    std::uint32_t sent = 0;
    for (Loan l = p.try_loan(8); l; l = p.try_loan(8)) {
      ASSERT_EQ(l.commit(), Status::Ok);
      ++sent;
    }
    EXPECT_EQ(sent, kCrashCapacity - 1);  // all but the quarantined slot
    for (std::uint32_t g = 0; g < kCrashGroups; ++g) {
      std::uint32_t got = 0;
      for (Message m = existing[g].try_receive(); m; m = existing[g].try_receive(), ++got)
        ASSERT_EQ(m.ack(), Status::Ok);
      EXPECT_EQ(got, sent) << "group g" << g;
    }
  }
  a = detail::audit(q);
  ASSERT_TRUE(a.ok()) << a.problems.front();
  EXPECT_EQ(a.free + a.quarantined, kCrashCapacity);
  EXPECT_EQ(a.quarantined, 1U);
}

std::vector<std::tuple<std::string, std::uint32_t>> every_point() {
  std::vector<std::tuple<std::string, std::uint32_t>> v;
  for (std::string_view p : detail::kClientCrashPoints)
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
