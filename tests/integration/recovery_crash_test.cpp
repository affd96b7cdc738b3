// Crash-point matrix of the operations done on behalf of others (DESIGN.md
// §3): the watchdog's recovery of dead sessions and its lease expiry,
// dead-letter replay, purge, queue creation and deletion. Two victims die
// holding loans, leases and a half-made dead letter; a recoverer child then runs those
// operations, as shmqd and shmq-cli do, and is SIGKILLed at the first or second
// hit of one step. A second recoverer (this process, through the same
// functions, as a restarted shmqd or a rerun command would) finishes the work.
// Then nothing is lost, leaked, wedged or left naming a dead session, and
// consumers that existed before see every redelivery without a fresh scan.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "children.hpp"
#include "core/dlq.hpp"
#include "core/purge.hpp"
#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "core/ring.hpp"
#include "crash_workload.hpp"
#include "layout/crash_point.hpp"
#include "os/process.hpp"
#include "os/queue_segment.hpp"
#include "os/wait.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq {
namespace {

using namespace std::chrono_literals;
using detail::Owner;

// q: g0 at-least-once with 2 deliveries, g1 at-least-once, g2 at-most-once.
constexpr std::uint32_t kQGroups = 3;
constexpr std::uint32_t kQCapacity = 32;
constexpr int kQMessages = 8;        // g0 takes 2 (this process) + 2 + 2 (the victims)
constexpr int kPurgedMessages = 3;   // in p, purged by the recoverer
constexpr std::uint32_t kSmallCapacity = 4;
const std::array<std::string, 2> kCreated = {"c1", "c2"};  // created by the recoverer
const std::array<std::string, 2> kDeleted = {"d1", "d2"};  // deleted by the recoverer, used by this process

// The steps the recoverer reaches: its own and the client steps it shares.
std::vector<std::string_view> recoverer_points() {
  std::vector<std::string_view> v(detail::kRecovererCrashPoints.begin(), detail::kRecovererCrashPoints.end());
  for (std::string_view shared : {"pass.partial", "deadletter.marked", "deadletter.claimed", "deadletter.copied",
                                  "deadletter.published", "purge.partial"})
    v.push_back(shared);
  return v;
}

// The client matrix's queue (its three groups), with room for the replays.
QueueConfig main_queue() {
  QueueConfig c = test::crash_queue();
  c.capacity = kQCapacity;
  return c;
}

QueueConfig small_queue(std::uint32_t groups) {
  QueueConfig c;
  c.capacity = kSmallCapacity;
  c.slot_size = 64;
  c.dlq_capacity = 0;
  c.groups.clear();
  for (std::uint32_t g = 0; g < groups; ++g)
    c.groups.push_back({"g" + std::to_string(g), DeliveryMode::AtLeastOnce, 10, 60'000ms});
  return c;
}

std::string group_name(std::uint32_t g) { return "g" + std::to_string(g); }

// What the children tell the parent, in shared anonymous memory.
struct Shared {
  std::atomic<Owner> victims[2];
  std::atomic<Owner> recoverer;
  std::uint64_t hits[detail::kCrashPoints.size()];  // the recoverer's, written when it ran to its end
};

// The three queues as the watchdog maps them, with the registry.
struct Mapped {
  detail::MappedRegistry mapped_registry;
  detail::RegistryView reg;
  detail::MappedQueue q, r, p;
  explicit Mapped(const std::string& ns)
      : mapped_registry(detail::open_registry(ns)),
        reg(mapped_registry.view),
        q(detail::open_queue_segment(ns, "q")),
        r(detail::open_queue_segment(ns, "r")),
        p(detail::open_queue_segment(ns, "p")) {
    for (detail::MappedQueue* m : {&q, &r, &p}) m->view.sessions = reg.sessions;
  }
};

// What is done for others, in the order shmqd and shmq-cli would: the
// watchdog recovers each dead session over every queue and expires leases (a
// day later, so every lease has run out), `shmq-cli dlq replay` replays every
// dead letter, shmqd purges p, queues c1 and c2 are created, d1 and d2 deleted.
void work_for_others(const std::string& ns, const std::vector<Owner>& dead, Owner me) {
  Mapped m(ns);
  for (Owner d : dead) {
    std::array<detail::QueueRecovery, 2> queues = {detail::QueueRecovery{.view = &m.q.view, .attached = false, .result = {}},
                                                   detail::QueueRecovery{.view = &m.r.view, .attached = false, .result = {}}};
    (void)detail::recover_dead_session(m.reg, queues, d);
    for (const detail::QueueRecovery& one : queues)
      if (one.result.total() != 0) detail::wake_everyone(*one.view);
  }
  constexpr std::uint64_t kDayMs = 86'400'000;
  if (detail::expire_leases(m.q.view, detail::monotonic_ns() / 1'000'000 + kDayMs, me).expired != 0)
    detail::wake_everyone(m.q.view);
  for (const detail::DeadLetter& d : detail::list_dead_letters(m.q.view))
    (void)detail::replay_dead_letter(m.q.view, d.index, me, detail::monotonic_ns());
  detail::wake_everyone(m.q.view);
  (void)detail::purge(m.p.view);
  for (const std::string& name : kCreated) {
    try {
      (void)detail::create_queue_segment(ns, name, small_queue(1));
    } catch (const Error& e) {
      if (e.value() != errc::already_exists) throw;
    }
  }
  for (const std::string& name : kDeleted) (void)detail::remove_queue_segment(ns, name);
}

// Takes `n` messages of `c` and keeps them (a killed process never settles).
bool hold(Consumer& c, int n, std::vector<Message>& held) {
  for (int i = 0; i < n; ++i) {
    Message m = c.try_receive();
    if (!m) return false;
    held.push_back(std::move(m));
  }
  return true;
}

// A producer and consumer that dies holding two loans in q, two leases in g1
// and g2 of q, one in g0, one in r, and a dead letter it was making (killed
// at deadletter.claimed: its lease DeadLettering, the entry Filling).
int victim(const std::string& ns, std::atomic<Owner>& id) {
  Client c({.ns = ns});
  id.store(c.session_id());
  Producer p = c.producer("q");
  std::vector<Loan> loans;
  for (int i = 0; i < 2; ++i) {
    loans.push_back(p.try_loan(8));
    if (!loans.back()) return test::fail(10, "no slot to hold");
  }
  Consumer g0 = c.consumer("q", "g0");
  Consumer g1 = c.consumer("q", "g1");
  Consumer g2 = c.consumer("q", "g2");
  Consumer r0 = c.consumer("r", "g0");
  std::vector<Message> held;
  if (!hold(g1, 2, held) || !hold(g2, 2, held) || !hold(r0, 1, held)) return test::fail(11, "too few messages to hold");
  for (int i = 0; i < 2; ++i) {  // a g0 message at its last delivery, nacked
    Message m = g0.try_receive();
    if (!m || m.nack() != Status::Ok) return test::fail(12, "no g0 message to nack");
  }
  // The consumer's rescan, two receives on, dead-letters that message: it
  // holds the next g0 message first.
  detail::arm_crash_point("deadletter.claimed", 1);
  for (int i = 0; i < 2; ++i) (void)hold(g0, 1, held);
  return test::fail(13, "the nacked g0 message was not dead-lettered");
}

// The recoverer: a session attached to q (its replay loans are recovered if
// it dies) doing the work for both victims.
int recoverer(const std::string& ns, const std::string& point, std::uint32_t nth, Shared& shared) {
  Client self({.ns = ns});
  Producer attached = self.producer("q");
  shared.recoverer.store(self.session_id());
  if (!point.empty()) detail::arm_crash_point(point, nth);
  work_for_others(ns, {shared.victims[0].load(), shared.victims[1].load()}, self.session_id());
  for (std::size_t i = 0; i < detail::kCrashPoints.size(); ++i)
    shared.hits[i] = detail::crash_point_hits(detail::kCrashPoints[i]);
  return 0;
}

// Where a word of `q` still names one of `dead`, or "".
std::string names_the_dead(const detail::QueueView& q, const std::vector<Owner>& dead) {
  auto is_dead = [&](Owner o) { return std::find(dead.begin(), dead.end(), o) != dead.end(); };
  for (std::uint32_t s = 0; s < q.capacity; ++s) {
    if (is_dead(detail::word_owner(q.slot(s).state.load()))) return "slot " + std::to_string(s);
    for (std::uint32_t g = 0; g < q.group_count; ++g)
      if (is_dead(detail::word_owner(q.lease(g, s).word.load())))
        return "the lease word of slot " + std::to_string(s) + " group " + std::to_string(g);
  }
  for (std::uint32_t i = 0; i < q.dlq_capacity; ++i)
    if (is_dead(detail::word_owner(q.dlq_entry(i).state.load()))) return "dead-letter entry " + std::to_string(i);
  for (Owner d : dead)
    if (q.attachments[detail::owner_index(d)].owner.load() == d) return "an attachment";
  return "";
}

class RecoveryCrashTest : public ::testing::TestWithParam<std::tuple<std::string, std::uint32_t>> {
 protected:
  void SetUp() override {
    Client setup({.ns = ns_.name()});
    setup.create_queue("q", main_queue());
    setup.create_queue("r", small_queue(1));
    setup.create_queue("p", small_queue(2));
    for (const std::string& name : kDeleted) setup.create_queue(name, small_queue(1));
  }

  // Forks the victims and the recoverer (armed at `point`, `nth`; unarmed if
  // empty), gives them the state described above, lets the victims die, then
  // runs the recoverer. Returns how the recoverer ended.
  test::ChildExit run(const std::string& point, std::uint32_t nth) {
    const std::string ns = ns_.name();
    Shared& shared = shared_[0];
    // Forked before this process has a Client (see crash_point_test.cpp).
    std::vector<std::unique_ptr<test::Pipe>> go;
    std::vector<std::unique_ptr<test::Victim>> children;
    for (int i = 0; i < 3; ++i) {
      go.push_back(std::make_unique<test::Pipe>());
      const test::Pipe& my_go = *go.back();
      children.push_back(std::make_unique<test::Victim>([&, i] {
        if (!my_go.wait(20s)) return test::fail(20, "no go from the parent");
        return i < 2 ? victim(ns, shared.victims[i]) : recoverer(ns, point, nth, shared);
      }));
    }

    parent_.emplace(ClientOptions{.ns = ns});
    for (std::uint32_t g = 0; g < kQGroups; ++g) existing_q_.push_back(parent_->consumer("q", group_name(g)));
    existing_r_.push_back(parent_->consumer("r", "g0"));
    for (std::uint32_t g = 0; g < 2; ++g) existing_p_.push_back(parent_->consumer("p", group_name(g)));
    for (auto* list : {&existing_q_, &existing_r_, &existing_p_})
      for (Consumer& c : *list) EXPECT_EQ(c.try_receive().status(), Status::Empty);
    producer_q_.emplace(parent_->producer("q"));  // attaches this session, the second recoverer, to q
    send(*producer_q_, kQMessages, committed_q_);
    Producer pr = parent_->producer("r");
    send(pr, 2, committed_r_);
    Producer pp = parent_->producer("p");
    std::set<std::uint64_t> purged;
    send(pp, kPurgedMessages, purged);
    for (const std::string& name : kDeleted) {
      using_deleted_.emplace_back(parent_->producer(name), parent_->consumer(name, "g0"));
      std::set<std::uint64_t> ids;
      send(using_deleted_.back().first, 1, ids);
    }

    // This process holds the first two g0 messages at their second (last)
    // delivery: expiry gives them back and dead-letters them.
    std::vector<Message> first;
    EXPECT_TRUE(hold(existing_q_[0], 2, first));
    for (Message& m : first) EXPECT_EQ(m.nack(), Status::Ok);
    EXPECT_TRUE(hold(existing_q_[0], 2, held_));
    for (Message& m : held_) {
      EXPECT_EQ(m.delivery_count(), 2U);
      m.keep_lease();
    }

    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(go[i]->signal());
      const test::ChildExit e = children[i]->wait(20s);
      EXPECT_EQ(e.signal, SIGKILL) << "victim " << i << " did not die at deadletter.claimed";
    }
    EXPECT_TRUE(go[2]->signal());
    return children[2]->wait(20s);
  }

  void send(Producer& p, int n, std::set<std::uint64_t>& ids) {
    for (int i = 0; i < n; ++i) {
      Loan l = p.try_loan(8);
      ASSERT_TRUE(l);
      ids.insert(l.id());
      ASSERT_EQ(l.commit(), Status::Ok);
    }
  }

  test::TestNamespace ns_;
  test::SharedArray<Shared> shared_{1};
  std::optional<Client> parent_;
  std::optional<Producer> producer_q_;
  std::vector<Consumer> existing_q_, existing_r_, existing_p_;
  std::vector<Message> held_;
  std::set<std::uint64_t> committed_q_, committed_r_;
  std::vector<std::pair<Producer, Consumer>> using_deleted_;  // of kDeleted, by index
};

// Unarmed, the recoverer reaches every one of its steps at least twice, so
// each case of the matrix below kills it.
TEST_F(RecoveryCrashTest, RecovererReachesEveryStepTwice) {
  ASSERT_TRUE(test::exited_cleanly(run("", 0)));
  for (std::string_view p : recoverer_points()) {
    const auto i = static_cast<std::size_t>(
        std::find(detail::kCrashPoints.begin(), detail::kCrashPoints.end(), p) - detail::kCrashPoints.begin());
    ASSERT_LT(i, detail::kCrashPoints.size()) << p;
    EXPECT_GE(shared_[0].hits[i], 2U) << p << " is reached " << shared_[0].hits[i] << " times";
  }
}

TEST_P(RecoveryCrashTest, KilledAtStepSecondRecovererFinishes) {
  const auto& [point, nth] = GetParam();
  const test::ChildExit exit = run(point, nth);
  ASSERT_EQ(exit.signal, SIGKILL) << "the recoverer was not killed at hit " << nth << " of " << point;
  const std::string ns = ns_.name();

  // A queue whose creation was cut short says so, and is created again below.
  if (point.starts_with("create.")) {
    try {
      (void)detail::open_queue_segment(ns, kCreated.at(nth - 1));
      ADD_FAILURE() << kCreated.at(nth - 1) << " opened although its creator died at " << point;
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::corrupt_segment) << e.what();
      EXPECT_NE(std::string(e.what()).find("not fully initialised"), std::string::npos) << e.what();
    }
  }

  // A queue whose deletion was cut short says so, and is deleted below.
  if (point == "delete.marked") {
    try {
      (void)detail::open_queue_segment(ns, kDeleted.at(nth - 1));
      ADD_FAILURE() << kDeleted.at(nth - 1) << " opened although it was marked deleted";
    } catch (const Error& e) {
      EXPECT_EQ(e.value(), errc::not_found) << e.what();
      EXPECT_NE(std::string(e.what()).find("was deleted but its name was left behind"), std::string::npos) << e.what();
    }
  }

  // The second recoverer: the dead recoverer's own session too.
  const Shared& shared = shared_[0];
  const std::vector<Owner> dead = {shared.recoverer.load(), shared.victims[0].load(), shared.victims[1].load()};
  work_for_others(ns, dead, parent_->session_id());
  held_.clear();  // expired: their acks would fail, their nacks are no-ops

  Mapped m(ns);
  for (Owner d : dead)
    EXPECT_EQ(detail::session_state_of(m.reg, d), detail::SessionState::Free) << "session " << d << " not released";
  for (const detail::MappedQueue* mq : {&m.q, &m.r, &m.p}) {
    const detail::AuditReport a = detail::audit(mq->view);
    ASSERT_TRUE(a.ok()) << a.problems.front();
    EXPECT_EQ(a.loaned, 0U);
    EXPECT_EQ(a.leased, 0U);
    const std::string named = names_the_dead(mq->view, dead);
    EXPECT_EQ(named, "") << named << " still names a dead session after a crash at " << point << " (hit " << nth << ")";
  }

  // Nothing lost in the at-least-once groups: drained by a consumer that
  // existed before, or dead-lettered. A fresh consumer finds nothing more.
  auto drain = [](Consumer& c, std::set<std::uint64_t>& into) {
    for (Message msg = c.try_receive(); msg; msg = c.try_receive()) {
      into.insert(msg.id());
      EXPECT_EQ(msg.ack(), Status::Ok);
    }
  };
  std::set<std::uint64_t> drained_q[kQGroups];
  for (std::uint32_t g = 0; g < kQGroups; ++g) drain(existing_q_[g], drained_q[g]);
  std::set<std::uint64_t> dead_letters;
  for (const detail::DeadLetter& d : detail::list_dead_letters(m.q.view)) dead_letters.insert(d.id);
  for (std::uint32_t g = 0; g < 2; ++g)
    for (std::uint64_t id : committed_q_)
      EXPECT_TRUE(drained_q[g].count(id) + (g == 0 ? dead_letters.count(id) : 0) > 0)
          << "message " << id << " of q lost in group g" << g << " after a crash at " << point << " (hit " << nth << ")";
  std::set<std::uint64_t> drained_r;
  drain(existing_r_[0], drained_r);
  EXPECT_EQ(drained_r, committed_r_);
  for (std::uint32_t g = 0; g < 2; ++g)
    EXPECT_EQ(existing_p_[g].try_receive().status(), Status::Empty) << "a purged message of p reached g" << g;
  for (std::uint32_t g = 0; g < kQGroups; ++g) {
    Consumer fresh = parent_->consumer("q", group_name(g));
    const Message msg = fresh.try_receive();
    EXPECT_FALSE(msg) << "message " << msg.id() << " of group g" << g
                      << " was found by a fresh consumer only, not by one that existed before the crash";
  }

  // Nothing wedged: every queue carries a full ring; p's depth is right.
  auto full_ring = [&](const std::string& queue, std::vector<Consumer>& consumers, std::uint32_t capacity) {
    Producer p = parent_->producer(queue);
    std::uint32_t sent = 0;
    for (Loan l = p.try_loan(8); l; l = p.try_loan(8), ++sent) ASSERT_EQ(l.commit(), Status::Ok);
    EXPECT_EQ(sent, capacity) << "queue " << queue;
    for (Consumer& c : consumers) {
      std::set<std::uint64_t> got;
      drain(c, got);
      EXPECT_EQ(got.size(), sent) << "queue " << queue;
    }
  };
  for (std::uint32_t g = 0; g < 2; ++g)
    EXPECT_EQ(m.p.view.hot->tail.load() - m.p.view.groups[g].next.load(), 0U) << "p's depth in g" << g;
  full_ring("q", existing_q_, kQCapacity);
  full_ring("r", existing_r_, kSmallCapacity);
  full_ring("p", existing_p_, kSmallCapacity);
  for (const std::string& name : kCreated) {
    Consumer c = parent_->consumer(name, "g0");
    std::vector<Consumer> one;
    one.push_back(std::move(c));
    full_ring(name, one, kSmallCapacity);
  }

  // Deleted for good, and this process, which used them, was told.
  for (std::size_t i = 0; i < kDeleted.size(); ++i) {
    EXPECT_FALSE(detail::remove_queue_segment(ns, kDeleted[i])) << kDeleted[i] << " still has its name";
    auto& [producer, consumer] = using_deleted_[i];
    EXPECT_EQ(producer.try_loan(8).status(), Status::QueueDeleted) << kDeleted[i];
    EXPECT_EQ(consumer.try_receive().status(), Status::QueueDeleted) << kDeleted[i];
  }
}

std::vector<std::tuple<std::string, std::uint32_t>> every_point() {
  std::vector<std::tuple<std::string, std::uint32_t>> v;
  for (std::string_view p : recoverer_points())
    for (std::uint32_t nth : {1U, 2U}) v.emplace_back(std::string(p), nth);
  return v;
}

INSTANTIATE_TEST_SUITE_P(EveryStep, RecoveryCrashTest, ::testing::ValuesIn(every_point()),
                         [](const auto& param_info) {
                           std::string name = std::get<0>(param_info.param) + "_" +
                                              std::to_string(std::get<1>(param_info.param));
                           for (char& c : name)
                             if (c == '.') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace shmq
