// shmqd's watchdog (DESIGN.md §3), with the real daemon: a consumer killed
// with SIGKILL or stopped with SIGSTOP loses its leases to another consumer, a
// producer killed holding a loan loses its slot, leases that run out are
// delivered again and then dead-lettered, and a shmqd killed mid-stream and
// started again recovers from shared memory alone.
//
// Every producer and consumer runs in a forked child (a Client owns a
// heartbeat thread: the test process forks only while it holds none) and
// reports through shared memory, pipes and its exit code. Each wait is
// bounded; the bounds are generous (a sanitizer build on a loaded 2-core
// machine), and the speed targets are shmq-bench's business (`recovery`).
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "children.hpp"
#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "core/registry.hpp"
#include "observed_queue.hpp"
#include "os/queue_segment.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "shmqd_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::Child;
using shmq::test::ConfigFile;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::kNoParkSlice;
using shmq::test::kParkLimit;
using shmq::test::ObservedQueue;
using shmq::test::ParkSliceScope;
using shmq::test::queue_toml;
using shmq::test::Victim;
using shmq::test::now_ms;
using shmq::test::Pipe;
using shmq::test::read_exact;
using shmq::test::SharedArray;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::wait_parked;
using ::testing::HasSubstr;

constexpr auto kChildDeadline = 60s;
constexpr auto kOpTimeout = 20s;  // a receive that must succeed
constexpr auto kLogLimit = 20s;   // a line shmqd must write
// Kill -> redelivery must be far faster (DESIGN.md §5: 50 ms, measured and
// reported met or missed by `shmq-bench recovery`, never in a timed test).
// This bound is 20 times that, loose enough for a sanitizer build on a loaded
// machine, and still below the 2 s heartbeat timeout (ClientOptions' default)
// and a 1 s tick: it catches a watchdog that does not act on the pidfd and
// finds the death late, through a missed heartbeat or a periodic scan.
constexpr std::uint64_t kRedeliveryLimitMs = 1'000;

// What a consumer child saw: message ids and delivery counts.
struct Seen {
  std::atomic<std::uint64_t> id{0};
  std::atomic<std::uint32_t> count{0};
  std::atomic<std::uint32_t> status{0};  // of its ack, as a Status
};

std::set<std::uint64_t> ids_of(const SharedArray<Seen>& seen, std::size_t n) {
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < n; ++i) ids.insert(seen[i].id.load());
  return ids;
}

// "3.7": a session as shmqd's log names it (index.generation).
std::string session_text(std::uint32_t owner) {
  return std::to_string(shmq::detail::owner_index(owner)) + "." + std::to_string(shmq::detail::owner_generation(owner));
}

std::string problems(const shmq::detail::AuditReport& a) {
  std::string s;
  for (const std::string& p : a.problems) s += p + "\n";
  return s;
}

int send_messages(const TestNamespace& ns, const std::string& queue, int n) {
  shmq::Client c({.ns = ns.name()});
  shmq::Producer p = c.producer(queue);
  for (int i = 0; i < n; ++i)
    if (const Status s = p.send("message " + std::to_string(i), kOpTimeout); s != Status::Ok)
      return fail(20, "send %d: %s", i, shmq::to_string(s));
  return 0;
}

// Receives `n` messages, records them, and acks them (expecting delivery count `count`).
int receive_and_ack(const TestNamespace& ns, const std::string& queue, int n, std::uint32_t count,
                    SharedArray<Seen>& seen, std::atomic<std::uint64_t>* last_ms = nullptr) {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer(queue);
  for (int i = 0; i < n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    if (!m) return fail(30, "receive %d: %s", i, shmq::to_string(m.status()));
    if (last_ms != nullptr) last_ms->store(now_ms());
    seen[static_cast<std::size_t>(i)].id = m.id();
    seen[static_cast<std::size_t>(i)].count = m.delivery_count();
    if (m.delivery_count() != count) return fail(31, "message %d has delivery count %u", i, m.delivery_count());
    if (const Status s = m.ack(); s != Status::Ok) return fail(32, "ack %d: %s", i, shmq::to_string(s));
  }
  if (shmq::Message extra = consumer.receive(50ms); extra.status() != Status::Timeout)
    return fail(33, "an extra message (id %llu)", static_cast<unsigned long long>(extra.id()));
  return 0;
}

// Leases `n` messages without acking, reports their ids, signals `ready`,
// then waits (SIGKILL, SIGSTOP) until `go`; then acks each, recording the
// status, and waits until its client sees itself fenced when `expect_fenced`.
int hold_leases(const TestNamespace& ns, const std::string& queue, int n, SharedArray<Seen>& seen, const Pipe& ready,
                const Pipe& go, shmq::ClientOptions options = {}, bool expect_fenced = false,
                std::atomic<std::uint32_t>* session = nullptr) {
  options.ns = ns.name();
  shmq::Client c(options);
  if (session != nullptr) session->store(c.session_id());
  shmq::Consumer consumer = c.consumer(queue);
  std::vector<shmq::Message> held;
  for (int i = 0; i < n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    if (!m) return fail(40, "receive %d: %s", i, shmq::to_string(m.status()));
    seen[static_cast<std::size_t>(i)].id = m.id();
    seen[static_cast<std::size_t>(i)].count = m.delivery_count();
    held.push_back(std::move(m));
  }
  if (!ready.signal()) return fail(41, "cannot report ready");
  if (!go.wait(kChildDeadline)) return fail(42, "no go from the parent");
  for (std::size_t i = 0; i < held.size(); ++i) seen[i].status = static_cast<std::uint32_t>(held[i].ack());
  if (expect_fenced) {
    const std::uint64_t deadline = now_ms() + 10'000;
    // A poll interval, not a synchronisation: the heartbeat thread's next beat sets fenced().
    while (!c.fenced() && now_ms() < deadline) std::this_thread::sleep_for(10ms);
    if (!c.fenced()) return fail(43, "the client does not see itself fenced");
  }
  return 0;
}

class WatchdogTest : public ::testing::Test {
 protected:
  TestNamespace ns_;
};

// ---- kill -9 -------------------------------------------------------------------

TEST_F(WatchdogTest, MultiProcessKilledConsumersLeasesGoToAnotherConsumerWithCountTwo) {
  constexpr int kHeld = 8;
  ConfigFile config(queue_toml("jobs", 16, 600'000));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();

  Child producer([&] { return send_messages(ns_, "jobs", kHeld); });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));

  SharedArray<Seen> held(kHeld), redelivered(kHeld);
  Pipe ready, go;
  SharedArray<std::atomic<std::uint32_t>> session(1);
  Victim victim([&] { return hold_leases(ns_, "jobs", kHeld, held, ready, go, {}, false, &session[0]); });
  ASSERT_TRUE(ready.wait(kChildDeadline)) << "the victim did not lease its messages";
  // Killed once watched (its pidfd on the loop); one found dead by the scan
  // is the restart test's case.
  const std::string name = session_text(session[0].load());
  ASSERT_TRUE(daemon.wait_for("watching session " + name, kLogLimit)) << daemon.err();

  // The other consumer waits (parked) before the kill: the watchdog must wake
  // it. With the park slice off (parked.hpp) only that wake-up gets it going
  // before its receive times out (kOpTimeout, far past kRedeliveryLimitMs).
  const ParkSliceScope no_slice(kNoParkSlice);
  SharedArray<std::atomic<std::uint64_t>> received_ms(1);
  Victim other([&] { return receive_and_ack(ns_, "jobs", kHeld, 2, redelivered, &received_ms[0]); });
  {
    const ObservedQueue q(ns_, "jobs");
    ASSERT_TRUE(wait_parked(other.pid(), q.view().hot->consumers_parked, kParkLimit)) << "the other consumer never parked";
  }
  const std::uint64_t killed_ms = now_ms();
  ASSERT_TRUE(victim.signal(SIGKILL));
  EXPECT_EQ(victim.wait(kChildDeadline).signal, SIGKILL);
  ASSERT_TRUE(exited_cleanly(other.wait(kChildDeadline))) << daemon.err();

  EXPECT_EQ(ids_of(redelivered, kHeld), ids_of(held, kHeld));
  EXPECT_LT(received_ms[0].load() - killed_ms, kRedeliveryLimitMs);
  ASSERT_TRUE(daemon.wait_for("session " + name, kLogLimit)) << daemon.err();
  EXPECT_TRUE(daemon.wait_for("died: queue jobs: 8 leases requeued", kLogLimit)) << daemon.err();
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending + audit.loaned, 0U);
}

// ---- SIGSTOP -------------------------------------------------------------------

TEST_F(WatchdogTest, MultiProcessStoppedConsumerIsFencedAndItsLateAcksFail) {
  constexpr int kHeld = 4;
  ConfigFile config(queue_toml("jobs", 16, 600'000));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child producer([&] { return send_messages(ns_, "jobs", kHeld); });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));

  SharedArray<Seen> held(kHeld), redelivered(kHeld);
  Pipe ready, go;
  // A short heartbeat timeout (its own: the daemon's config does not matter).
  const shmq::ClientOptions options{.ns = {}, .heartbeat_interval = 50ms, .heartbeat_timeout = 500ms};
  Victim victim([&] { return hold_leases(ns_, "jobs", kHeld, held, ready, go, options, true); });
  ASSERT_TRUE(ready.wait(kChildDeadline)) << "the victim did not lease its messages";
  ASSERT_TRUE(victim.signal(SIGSTOP));

  Child other([&] { return receive_and_ack(ns_, "jobs", kHeld, 2, redelivered); });
  ASSERT_TRUE(exited_cleanly(other.wait(kChildDeadline))) << daemon.err();
  EXPECT_EQ(ids_of(redelivered, kHeld), ids_of(held, kHeld));
  EXPECT_TRUE(daemon.wait_for("(timeout 500 ms): fenced", kLogLimit)) << daemon.err();
  EXPECT_THAT(daemon.err(), HasSubstr("hung: queue jobs: 4 leases requeued"));

  // Resumed, it is fenced: every ack fails cleanly, the queue stays sound.
  ASSERT_TRUE(victim.signal(SIGCONT));
  ASSERT_TRUE(go.signal());
  ASSERT_TRUE(exited_cleanly(victim.wait(kChildDeadline)));
  for (int i = 0; i < kHeld; ++i)
    EXPECT_EQ(static_cast<Status>(held[static_cast<std::size_t>(i)].status.load()), Status::Fenced) << i;
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending + audit.loaned, 0U);
}

// ---- a producer killed holding a loan ----------------------------------------

TEST_F(WatchdogTest, MultiProcessProducerKilledBetweenLoanAndCommitLosesItsSlot) {
  constexpr int kCapacity = 4;
  ConfigFile config(queue_toml("jobs", kCapacity, 600'000));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();

  Pipe ready;
  Victim victim([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer("jobs");
    shmq::Loan loan = p.try_loan(8);
    if (!loan) return fail(50, "loan: %s", shmq::to_string(loan.status()));
    std::memset(loan.data().data(), 'x', 8);
    if (!ready.signal()) return fail(51, "cannot report ready");
    ::pause();  // killed here, between loan and commit
    return 0;
  });
  ASSERT_TRUE(ready.wait(kChildDeadline));
  ASSERT_TRUE(victim.signal(SIGKILL));
  EXPECT_EQ(victim.wait(kChildDeadline).signal, SIGKILL);
  ASSERT_TRUE(daemon.wait_for("queue jobs: 1 loan aborted", kLogLimit)) << daemon.err();

  // The whole ring is usable again: `capacity` messages fit, one more does not.
  Child producer([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer("jobs");
    for (int i = 0; i < kCapacity; ++i)
      if (const Status s = p.try_send(std::as_bytes(std::span("full", 4))); s != Status::Ok)
        return fail(52, "send %d of a full ring: %s", i, shmq::to_string(s));
    if (const Status s = p.try_send(std::as_bytes(std::span("over", 4))); s != Status::QueueFull)
      return fail(53, "a message beyond capacity: %s", shmq::to_string(s));
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));
  SharedArray<Seen> seen(kCapacity);
  Child consumer([&] { return receive_and_ack(ns_, "jobs", kCapacity, 1, seen); });
  ASSERT_TRUE(exited_cleanly(consumer.wait(kChildDeadline)));
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.loaned, 0U);
  EXPECT_EQ(audit.free, static_cast<std::uint32_t>(kCapacity));
}

// ---- shmqd killed mid-stream ---------------------------------------------------

TEST_F(WatchdogTest, MultiProcessDaemonKilledMidStreamAndRestartedLosesNothing) {
  constexpr int kMessages = 4000;
  constexpr int kDoomedHolds = 16;
  ConfigFile config(queue_toml("stream", 64, 600'000));
  std::optional<Shmqd> first(std::in_place, ns_, config.path());
  ASSERT_TRUE(first->wait_ready()) << first->err();

  // acks[i]: how many acks of message i succeeded (exactly one each at the end).
  SharedArray<std::atomic<std::uint32_t>> acks(kMessages);
  SharedArray<std::atomic<std::uint32_t>> acked_total(1);
  Pipe doomed_full;
  // Blocks once the ring comes round to the slots the doomed consumer holds,
  // until the restarted shmqd gives them back.
  Child producer([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer("stream");
    for (int i = 0; i < kMessages; ++i)
      if (const Status s = p.send("message " + std::to_string(i), kChildDeadline); s != Status::Ok)
        return fail(63, "send %d: %s", i, shmq::to_string(s));
    return 0;
  });
  // Leases kDoomedHolds messages, never acks them, and is killed while no shmqd runs.
  Victim doomed([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Consumer consumer = c.consumer("stream");
    std::vector<shmq::Message> held;
    while (held.size() < kDoomedHolds) {
      shmq::Message m = consumer.receive(kOpTimeout);
      if (!m) return fail(64, "receive: %s", shmq::to_string(m.status()));
      held.push_back(std::move(m));
    }
    if (!doomed_full.signal()) return fail(65, "cannot report");
    ::pause();
    return 0;
  });
  // Mid-stream (the survivor consuming, the producer sending or blocked by the
  // doomed leases): shmqd goes, then, while no shmqd runs, the doomed consumer.
  ASSERT_TRUE(doomed_full.wait(kChildDeadline));
  // Started once the doomed consumer has its leases (else it might get none).
  Child survivor([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Consumer consumer = c.consumer("stream");
    const std::uint64_t deadline = now_ms() + 120'000;
    while (acked_total[0].load() < kMessages) {
      if (now_ms() > deadline) return fail(60, "deadline: %u acked", acked_total[0].load());
      shmq::Message m = consumer.receive(100ms);
      if (!m) continue;
      const int i = std::stoi(std::string(m.text().substr(8)));
      if (const Status s = m.ack(); s != Status::Ok) return fail(61, "ack of %d: %s", i, shmq::to_string(s));
      acks[static_cast<std::size_t>(i)].fetch_add(1);
      acked_total[0].fetch_add(1);
    }
    return 0;
  });

  const pid_t first_pid = first->pid();
  EXPECT_EQ(first->stop(SIGKILL).signal, SIGKILL);
  ASSERT_TRUE(doomed.signal(SIGKILL));
  EXPECT_EQ(doomed.wait(kChildDeadline).signal, SIGKILL);

  // The next shmqd finds both dead from shared memory alone, before it is ready.
  Shmqd second(ns_, config.path());
  ASSERT_TRUE(second.wait_ready()) << second.err();
  EXPECT_THAT(second.err(), HasSubstr("is gone: queue stream: 16 leases requeued"));
  EXPECT_THAT(second.err(), HasSubstr("(pid " + std::to_string(first_pid) + " shmqd) is gone"));
  EXPECT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));
  ASSERT_TRUE(exited_cleanly(survivor.wait(kChildDeadline))) << second.err();

  std::vector<int> not_once;
  for (int i = 0; i < kMessages; ++i)
    if (acks[static_cast<std::size_t>(i)].load() != 1) not_once.push_back(i);
  EXPECT_TRUE(not_once.empty()) << not_once.size() << " messages not acked exactly once, e.g. " << not_once.front();
  const auto audit = ObservedQueue(ns_, "stream").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending + audit.loaned + audit.waiting, 0U);
}

// ---- lease timeouts, nack, dead letters ------------------------------------------

TEST_F(WatchdogTest, MultiProcessExpiredLeaseIsRedeliveredAndTheLateAckFails) {
  ConfigFile config(queue_toml("jobs", 16, 300));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child producer([&] { return send_messages(ns_, "jobs", 1); });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));

  SharedArray<Seen> held(1), redelivered(1);
  Pipe ready, go;
  Child slow([&] { return hold_leases(ns_, "jobs", 1, held, ready, go); });
  ASSERT_TRUE(ready.wait(kChildDeadline));
  ASSERT_TRUE(daemon.wait_for("queue jobs group default: 1 lease expired, 0 dead-lettered", kLogLimit))
      << daemon.err();
  Child other([&] { return receive_and_ack(ns_, "jobs", 1, 2, redelivered); });
  ASSERT_TRUE(exited_cleanly(other.wait(kChildDeadline)));
  EXPECT_EQ(redelivered[0].id.load(), held[0].id.load());

  ASSERT_TRUE(go.signal());
  ASSERT_TRUE(exited_cleanly(slow.wait(kChildDeadline)));
  EXPECT_EQ(static_cast<Status>(held[0].status.load()), Status::LeaseLost);
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending, 0U);
}

TEST_F(WatchdogTest, MultiProcessNackRedeliversAtOnceWithTheDaemonRunning) {
  ConfigFile config(queue_toml("jobs", 16, 600'000));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child child([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer("jobs");
    shmq::Consumer consumer = c.consumer("jobs");
    if (p.send("again", kOpTimeout) != Status::Ok) return fail(70, "send");
    shmq::Message first = consumer.receive(kOpTimeout);
    if (!first || first.delivery_count() != 1) return fail(71, "first delivery: %s", shmq::to_string(first.status()));
    const std::uint64_t id = first.id();
    if (const Status s = first.nack(); s != Status::Ok) return fail(72, "nack: %s", shmq::to_string(s));
    shmq::Message second = consumer.receive(kOpTimeout);
    if (!second) return fail(73, "redelivery: %s", shmq::to_string(second.status()));
    if (second.id() != id || second.delivery_count() != 2)
      return fail(74, "redelivered id %llu count %u", static_cast<unsigned long long>(second.id()),
                  second.delivery_count());
    if (const Status s = second.ack(); s != Status::Ok) return fail(75, "ack: %s", shmq::to_string(s));
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(child.wait(kChildDeadline)));
  // Stopped, so that err() holds everything it logged: no lease ran out, the
  // nack alone redelivered.
  EXPECT_TRUE(exited_cleanly(daemon.stop(SIGTERM)));
  EXPECT_THAT(daemon.err(), HasSubstr("shmqd stopped: namespace"));
  EXPECT_THAT(daemon.err(), ::testing::Not(HasSubstr("expired")));
  const auto audit = ObservedQueue(ns_, "jobs").audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.leased + audit.pending + audit.waiting, 0U);
}

TEST_F(WatchdogTest, MultiProcessMessagePastMaxDeliveriesIsDeadLettered) {
  ConfigFile config(queue_toml("jobs", 16, 200, 2));
  Shmqd daemon(ns_, config.path());
  ASSERT_TRUE(daemon.wait_ready()) << daemon.err();
  Child producer([&] { return send_messages(ns_, "jobs", 1); });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline)));

  SharedArray<Seen> seen(2);
  Pipe ready, go;
  // Takes the message twice, letting each lease run out; the second expiry
  // reaches max_deliveries (2): the watchdog dead-letters it.
  Child child([&] {
    shmq::Client c({.ns = ns_.name()});
    shmq::Consumer consumer = c.consumer("jobs");
    for (std::size_t i = 0; i < 2; ++i) {
      shmq::Message m = consumer.receive(kOpTimeout);
      if (!m) return fail(80, "delivery %zu: %s", i + 1, shmq::to_string(m.status()));
      seen[i].id = m.id();
      seen[i].count = m.delivery_count();
      m.keep_lease();  // no ack, no nack: the lease runs out
    }
    if (!ready.signal()) return fail(81, "cannot report ready");
    if (!go.wait(kChildDeadline)) return fail(82, "no go from the parent");
    if (shmq::Message m = consumer.try_receive(); m.status() != Status::Empty)
      return fail(83, "a dead letter was delivered again: %s", shmq::to_string(m.status()));
    return 0;
  });
  ASSERT_TRUE(ready.wait(kChildDeadline));
  EXPECT_EQ(seen[0].count.load(), 1U);
  EXPECT_EQ(seen[1].count.load(), 2U);
  EXPECT_EQ(seen[1].id.load(), seen[0].id.load());
  ASSERT_TRUE(daemon.wait_for("queue jobs group default: 1 lease expired, 1 dead-lettered", kLogLimit))
      << daemon.err();
  ASSERT_TRUE(go.signal());
  ASSERT_TRUE(exited_cleanly(child.wait(kChildDeadline)));

  const ObservedQueue q(ns_, "jobs");
  const auto audit = q.audit();
  EXPECT_TRUE(audit.ok()) << problems(audit);
  EXPECT_EQ(audit.dead_letters, 1U);
  EXPECT_EQ(audit.leased + audit.pending, 0U);
  const shmq::detail::DlqHeader& d = q.queue.view.dlq_entry(0);
  EXPECT_EQ(d.id, seen[0].id.load());
  EXPECT_EQ(d.delivery_count, 2U);
  EXPECT_EQ(d.reason, static_cast<std::uint16_t>(shmq::detail::DeadLetterReason::MaxDeliveries));
}

}  // namespace
