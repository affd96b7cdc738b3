// Wake-ups that shmqd makes (wait.hpp's parking protocol, through the real
// daemon): a producer parked on a full queue is woken when a purge frees
// slots, and a parked consumer when the watchdog gives back the lease of a
// killed consumer or takes back one that ran out. The park slice is switched
// off (parked.hpp), so a path that forgets to wake hangs its waiter until
// kWakeLimit and fails, instead of passing one 100 ms slice late.
//
// A purge wakes producers only: it drops messages, so it gives a consumer
// nothing to take (README: `purge_queue` drops what no consumer holds).
#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "children.hpp"
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
using shmq::test::expect_woken;
using shmq::test::fail;
using shmq::test::kWakeChildDeadline;
using shmq::test::Parked;
using shmq::test::Pipe;
using shmq::test::receive_parked;
using shmq::test::send_now;
using shmq::test::send_parked;
using shmq::test::Shmqd;
using shmq::test::TestNamespace;
using shmq::test::Victim;

constexpr const char* kQueue = "q";
constexpr std::uint32_t kLongLeaseMs = 600'000;  // runs out only when told to

class ShmqdWakeupTest : public ::testing::Test {
 protected:
  // shmqd with one queue of `capacity` slots (group "default").
  void start(std::uint32_t capacity, const char* delivery = "at-least-once") {
    config_.emplace(shmq::test::queue_toml(kQueue, capacity, kLongLeaseMs) + "delivery = \"" + delivery + "\"\n");
    daemon_.emplace(ns_, config_->path());
    ASSERT_TRUE(daemon_->wait_ready()) << daemon_->err();
  }
  void fill(int n) const {
    Child filler([&] { return send_now(ns_, kQueue, n); });
    ASSERT_TRUE(exited_cleanly(filler.wait(kWakeChildDeadline)));
  }

  TestNamespace ns_;
  std::optional<ConfigFile> config_;
  std::optional<Shmqd> daemon_;
};

// Receives one message and keeps it; says `ready`; on `go` shortens its lease
// to nothing (when `expire_on_go`); stays attached until `done`.
int hold(const TestNamespace& ns, const Pipe& ready, const Pipe& go, const Pipe& done, bool expire_on_go) {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer(kQueue);
  shmq::Message m = consumer.try_receive();
  if (!m) return fail(40, "receive: %s", shmq::to_string(m.status()));
  if (!ready.signal() || !go.wait(kWakeChildDeadline)) return fail(41, "no go");
  if (expire_on_go)
    if (const Status s = m.extend_lease(0ms); s != Status::Ok) return fail(42, "extend_lease: %s", shmq::to_string(s));
  if (!done.wait(kWakeChildDeadline)) return fail(43, "not told to finish");
  m.keep_lease();  // no nack on the way out: the watchdog took it back
  return 0;
}

TEST_F(ShmqdWakeupTest, MultiProcessProducerParkedOnFullQueueWokenByPurge) {
  ASSERT_NO_FATAL_FAILURE(start(2));
  fill(2);
  const Pipe ready;
  const Pipe go;
  Child purger([&] {
    shmq::Client c({.ns = ns_.name(), .require_daemon = true});
    if (!ready.signal() || !go.wait(kWakeChildDeadline)) return fail(50, "no go");
    const std::uint64_t n = c.purge_queue(kQueue);
    return n == 2 ? 0 : fail(51, "purged %llu, expected 2", static_cast<unsigned long long>(n));
  });
  ASSERT_TRUE(ready.wait(kWakeChildDeadline));
  expect_woken(ns_, kQueue, Parked::Producers, [&] { return send_parked(ns_, kQueue); },
               [&] { ASSERT_TRUE(go.signal()); });
  EXPECT_TRUE(exited_cleanly(purger.wait(kWakeChildDeadline))) << daemon_->err();
}

// The holder is killed: the watchdog gives its lease back (Pending) and must
// wake the consumer parked on the empty queue.
TEST_F(ShmqdWakeupTest, MultiProcessParkedConsumerWokenByRecoveryOfKilledConsumer) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  fill(1);
  const Pipe ready;
  const Pipe never;
  Victim holder([&] { return hold(ns_, ready, never, never, false); });
  ASSERT_TRUE(ready.wait(kWakeChildDeadline));
  expect_woken(ns_, kQueue, Parked::Consumers, [&] { return receive_parked(ns_, kQueue, 2); },
               [&] { ASSERT_TRUE(holder.signal(SIGKILL)); });
  EXPECT_EQ(holder.wait(kWakeChildDeadline).signal, SIGKILL);
}

// At-most-once: the killed holder's message is gone, its slot free, and the
// watchdog must wake the producer parked on the full queue.
TEST_F(ShmqdWakeupTest, MultiProcessProducerParkedOnFullQueueWokenByRecoveryOfKilledConsumer) {
  ASSERT_NO_FATAL_FAILURE(start(2, "at-most-once"));
  fill(2);
  const Pipe ready;
  const Pipe never;
  Victim holder([&] { return hold(ns_, ready, never, never, false); });
  ASSERT_TRUE(ready.wait(kWakeChildDeadline));
  expect_woken(ns_, kQueue, Parked::Producers, [&] { return send_parked(ns_, kQueue); },
               [&] { ASSERT_TRUE(holder.signal(SIGKILL)); });
  EXPECT_EQ(holder.wait(kWakeChildDeadline).signal, SIGKILL);
}

// The holder lives on but its lease runs out: shmqd's expiry pass makes it
// Pending and must wake the parked consumer.
TEST_F(ShmqdWakeupTest, MultiProcessParkedConsumerWokenByLeaseExpiry) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  fill(1);
  const Pipe ready;
  const Pipe go;
  const Pipe done;
  Child holder([&] { return hold(ns_, ready, go, done, true); });
  ASSERT_TRUE(ready.wait(kWakeChildDeadline));
  expect_woken(ns_, kQueue, Parked::Consumers, [&] { return receive_parked(ns_, kQueue, 2); },
               [&] { ASSERT_TRUE(go.signal()); });
  ASSERT_TRUE(done.signal());
  EXPECT_TRUE(exited_cleanly(holder.wait(kWakeChildDeadline))) << daemon_->err();
}

}  // namespace
