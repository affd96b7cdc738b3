// Fencing with the real shmqd (DESIGN.md §3 rule 4). A consumer stopped past
// its heartbeat timeout and resumed takes nothing and acks nothing, however
// the race with its own heartbeat thread goes; what a fenced session stamps
// in a race with the fence is taken back while the process still runs; and a
// session that declares no heartbeat timeout is still watched.
//
// Children are forked while the test holds no Client (see fork_child); each
// wait is bounded.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "children.hpp"
#include "core/parking.hpp"
#include "core/ring.hpp"
#include "observed_queue.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::detail::Owner;
using shmq::detail::SessionState;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::now_ms;
using shmq::test::ObservedQueue;
using shmq::test::Pipe;
using shmq::test::queue_toml;
using shmq::test::SharedArray;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::Victim;
using ::testing::ElementsAre;

constexpr auto kChildDeadline = 60s;
constexpr auto kOpTimeout = 20s;  // a receive that must succeed
constexpr auto kLogLimit = 20s;   // a line shmqd must write
constexpr std::uint64_t kStateLimitMs = 20'000;  // a state the watchdog must reach

// Polls `reached` until it holds or kStateLimitMs passed.
template <class Condition>
bool eventually(Condition reached) {
  const std::uint64_t deadline = now_ms() + kStateLimitMs;
  while (!reached()) {
    if (now_ms() >= deadline) return false;
    std::this_thread::sleep_for(1ms);  // a poll interval, not a synchronisation
  }
  return true;
}

void send_one(const TestNamespace& ns, const std::string& text) {
  shmq::Client c({.ns = ns.name()});
  ASSERT_EQ(c.producer("jobs").send(text, kOpTimeout), Status::Ok) << text;
}

// Receives `n` messages as a live consumer, acks each, checks nothing more is
// there, and returns "text:delivery count" of each, sorted.
std::vector<std::string> drain(const TestNamespace& ns, int n) {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer("jobs");
  std::vector<std::string> got;
  for (int i = 0; i < n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    if (!m) {
      ADD_FAILURE() << "receive " << i << ": " << shmq::to_string(m.status());
      break;
    }
    got.push_back(std::string(m.text()) + ":" + std::to_string(m.delivery_count()));
    EXPECT_EQ(m.ack(), Status::Ok);
  }
  EXPECT_EQ(consumer.try_receive().status(), Status::Empty);
  std::sort(got.begin(), got.end());
  return got;
}

// What a victim child saw, written before it exits.
struct Report {
  std::atomic<std::uint32_t> session{0};
  std::atomic<std::uint32_t> receive{0};  // a Status
  std::atomic<std::uint32_t> ack{0};      // a Status
  std::atomic<std::uint32_t> fenced{0};   // Client::fenced() at the end
  std::atomic<std::uint32_t> done{0};
};

// Its own short heartbeat timeout (the daemon's config does not matter).
shmq::ClientOptions victim_options(const TestNamespace& ns) {
  return {.ns = ns.name(), .heartbeat_interval = 20ms, .heartbeat_timeout = shmq::kMinHeartbeatTimeout};
}

// Leases one message, signals `holding`, then waits in receive() for the next
// one (stopped there by the test); then acks the first and reports.
int resumed_consumer(const TestNamespace& ns, shmq::WaitStrategy strategy, Report& r, const Pipe& holding) {
  shmq::Client c(victim_options(ns));
  r.session = c.session_id();
  shmq::Consumer consumer = c.consumer("jobs", "default", {.strategy = strategy});
  shmq::Message held = consumer.receive(kOpTimeout);
  if (!held) return fail(60, "receive: %s", shmq::to_string(held.status()));
  if (!holding.signal()) return fail(61, "cannot report holding");
  const shmq::Message next = consumer.receive(kOpTimeout);
  r.receive = static_cast<std::uint32_t>(next.status());
  r.ack = static_cast<std::uint32_t>(held.ack());
  r.fenced = c.fenced() ? 1 : 0;
  r.done = 1;
  return 0;
}

std::uint32_t parked_in(const shmq::detail::QueueView& q, Owner o) {
  const std::uint32_t i = shmq::detail::owner_index(o);
  return static_cast<std::uint32_t>(shmq::detail::park_word(q.hot->consumers_parked, i).load() >>
                                    shmq::detail::park_shift(i)) &
         shmq::detail::kParkLaneMax;
}

class FencingWatchdogTest : public ::testing::Test {
 protected:
  TestNamespace ns_;
};

// The recipe an outside client found: a consumer parked in receive() is
// stopped past its heartbeat timeout, shmqd fences it, a message is sent, the
// consumer resumes. Its receive() must say Fenced (not take the message), its
// ack of the message it held must fail, and both messages must reach a live
// consumer once. Repeated, since the resumed receive() races the heartbeat
// thread that would notice the fence.
TEST_F(FencingWatchdogTest, MultiProcessResumedConsumerTakesNothingAndAcksNothing) {
  constexpr int kRuns = 12;
  ConfigFile config(queue_toml("jobs", 16, 600'000));  // no lease runs out: only fencing takes them back
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  int fenced_receives = 0;
  int refused_acks = 0;
  for (int run = 0; run < kRuns; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    send_one(ns_, "held" + std::to_string(run));
    SharedArray<Report> report(1);
    Pipe holding;
    const auto strategy = run % 2 == 0 ? shmq::WaitStrategy::Park : shmq::WaitStrategy::Adaptive;
    Victim victim([&] { return resumed_consumer(ns_, strategy, report[0], holding); });
    ASSERT_TRUE(holding.wait(kChildDeadline));
    const ObservedQueue q(ns_, "jobs");
    const Owner o = report[0].session.load();
    ASSERT_TRUE(eventually([&] { return parked_in(q.view(), o) != 0; })) << "the victim never parked";
    ASSERT_TRUE(victim.signal(SIGSTOP));
    ASSERT_TRUE(eventually([&] { return q.state_of(o) == SessionState::Fenced; })) << daemon.err();
    send_one(ns_, "new" + std::to_string(run));
    ASSERT_TRUE(victim.signal(SIGCONT));
    ASSERT_TRUE(exited_cleanly(victim.wait(kChildDeadline)));
    ASSERT_EQ(report[0].done.load(), 1U);
    const auto received = static_cast<Status>(report[0].receive.load());
    const auto acked = static_cast<Status>(report[0].ack.load());
    EXPECT_EQ(received, Status::Fenced);
    EXPECT_TRUE(acked == Status::Fenced || acked == Status::LeaseLost) << shmq::to_string(acked);
    EXPECT_EQ(report[0].fenced.load(), 1U);
    fenced_receives += received == Status::Fenced ? 1 : 0;
    refused_acks += acked == Status::Fenced || acked == Status::LeaseLost ? 1 : 0;
    EXPECT_THAT(drain(ns_, 2), ElementsAre("held" + std::to_string(run) + ":2", "new" + std::to_string(run) + ":1"));
    const auto audit = q.audit();
    EXPECT_TRUE(audit.ok());
    EXPECT_EQ(audit.leased + audit.pending + audit.loaned, 0U);
  }
  std::printf("fencing recipe: %d runs; receive Fenced in %d, ack refused (Fenced/LeaseLost) in %d\n", kRuns,
              fenced_receives, refused_acks);
}

// Leases one message and makes a producer, signals `holding`, and waits to be
// stopped and killed.
int holder(const TestNamespace& ns, Report& r, const Pipe& holding) {
  shmq::Client c(victim_options(ns));
  r.session = c.session_id();
  shmq::Consumer consumer = c.consumer("jobs");
  const shmq::Producer producer = c.producer("jobs");
  shmq::Message held = consumer.receive(kOpTimeout);
  if (!held) return fail(70, "receive: %s", shmq::to_string(held.status()));
  if (!holding.signal()) return fail(71, "cannot report holding");
  ::pause();
  return 0;
}

// A fenced session that still runs claimed a lease and a loan in a race with
// the fence, after the watchdog's recovery had passed, and stopped again
// before its own check: shmqd takes both back while it is still stopped.
TEST_F(FencingWatchdogTest, MultiProcessWhatAFencedSessionStampsLaterIsTakenBack) {
  ConfigFile config(queue_toml("jobs", 8, 600'000));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  send_one(ns_, "held");
  SharedArray<Report> report(1);
  Pipe holding;
  Victim victim([&] { return holder(ns_, report[0], holding); });
  ASSERT_TRUE(holding.wait(kChildDeadline));
  const Owner o = report[0].session.load();
  ASSERT_TRUE(victim.signal(SIGSTOP));
  ASSERT_TRUE(daemon.wait_for("hung: queue jobs: 1 lease requeued", kLogLimit)) << daemon.err();
  send_one(ns_, "late");

  // The stamps, made as the victim would: a view without the registry skips
  // the session check, like a claim whose check has not run yet.
  const ObservedQueue q(ns_, "jobs");
  shmq::detail::QueueView blind = q.view();
  blind.sessions = nullptr;
  const shmq::detail::Delivery lease = shmq::detail::take_next(blind, 0, o);
  ASSERT_EQ(lease.status, Status::Ok);
  const shmq::detail::Claim loan = shmq::detail::try_claim(blind, o);
  ASSERT_EQ(loan.status, Status::Ok);

  const auto& lease_word = q.view().lease(0, q.view().slot_of(lease.pos)).word;
  const auto& slot_word = q.view().slot(q.view().slot_of(loan.pos)).state;
  EXPECT_TRUE(eventually([&] { return shmq::detail::word_owner(lease_word.load()) != o; })) << daemon.err();
  EXPECT_TRUE(eventually([&] { return shmq::detail::slot_state(slot_word.load()) != shmq::detail::SlotState::Loaned; }))
      << daemon.err();
  // The loan stays quarantined (the process may still write it); the lease is delivered again.
  EXPECT_EQ(shmq::detail::slot_state(slot_word.load()), shmq::detail::SlotState::Aborted);
  EXPECT_EQ(shmq::detail::word_owner(slot_word.load()), o);
  // Maybe in one pass, maybe in two.
  EXPECT_TRUE(daemon.wait_for("took more after it was fenced: queue jobs: 1 lease requeued", kLogLimit)) << daemon.err();
  EXPECT_TRUE(daemon.wait_for("1 loan quarantined", kLogLimit)) << daemon.err();
  EXPECT_THAT(drain(ns_, 2), ElementsAre("held:2", "late:2"));
  const auto audit = q.audit();
  EXPECT_TRUE(audit.ok());
  EXPECT_EQ(audit.quarantined, 1U);
}

// A registry entry may claim a heartbeat timeout of 0 (a hostile or broken
// writer): the watchdog clamps it to kMinHeartbeatTimeout, not "never".
TEST_F(FencingWatchdogTest, MultiProcessSessionDeclaringNoHeartbeatTimeoutIsStillFenced) {
  Shmqd daemon(ns_);
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  const Pipe never;
  Victim idle([&] {  // alive, never beats
    (void)never.wait(kChildDeadline);
    return 0;
  });
  const shmq::detail::MappedRegistry registry = shmq::detail::open_or_create_registry(ns_.name());
  const shmq::detail::RegistryView& reg = registry.view;
  shmq::detail::SessionIdentity id;
  id.pid = static_cast<std::uint32_t>(idle.pid());
  id.start_time = shmq::detail::process_start_time(idle.pid());
  id.heartbeat_timeout_ns = 0;
  id.now_ns = shmq::detail::monotonic_ns();
  const Owner o = shmq::detail::claim_session(reg, id);
  ASSERT_NE(o, shmq::detail::kNoOwner);
  EXPECT_TRUE(eventually([&] { return shmq::detail::session_state_of(reg, o) == SessionState::Fenced; }))
      << daemon.err();
  EXPECT_TRUE(daemon.wait_for("(timeout 100 ms): fenced", kLogLimit)) << daemon.err();
}

}  // namespace
