// Wake-ups between processes (wait.hpp's parking protocol): a consumer or
// producer parked with the Park strategy is woken by another process's commit,
// ack, release, nack or abandoned loan. The park slice is switched off
// (parked.hpp), so a path that forgets to wake hangs its waiter until
// kWakeLimit and fails, instead of passing one 100 ms slice late.
//
// The waker child attaches and takes what it needs first, says so on `ready`,
// and does the one action under test on `go`, sent once the waiter is parked.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "children.hpp"
#include "parked.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using shmq::Status;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::expect_woken;
using shmq::test::fail;
using shmq::test::kWakeChildDeadline;
using shmq::test::Parked;
using shmq::test::Pipe;
using shmq::test::receive_parked;
using shmq::test::send_now;
using shmq::test::send_parked;
using shmq::test::TestNamespace;

constexpr const char* kQueue = "q";
constexpr std::chrono::nanoseconds kNow{0};  // send without waiting

class WakeupTest : public ::testing::Test {
 protected:
  // A queue of `capacity` slots, made by a Client gone before anyone forks.
  void create(std::uint32_t capacity, shmq::DeliveryMode mode = shmq::DeliveryMode::AtLeastOnce) const {
    shmq::Client c({.ns = ns_.name()});
    shmq::QueueConfig config;
    config.capacity = capacity;
    config.slot_size = 64;
    config.groups = {shmq::GroupConfig{.name = "default", .mode = mode}};
    c.create_queue(kQueue, config);
  }
  void fill(int n) const {
    Child filler([&] { return send_now(ns_, kQueue, n); });
    ASSERT_TRUE(exited_cleanly(filler.wait(kWakeChildDeadline)));
  }
  // Runs `waker` in a child (see the top), then `waiter`, parked on `side`.
  void expect_woken_by(Parked side, const std::function<int()>& waiter,
                       const std::function<int(const Pipe& ready, const Pipe& go)>& waker) const {
    const Pipe ready;
    const Pipe go;
    Child w([&] { return waker(ready, go); });
    ASSERT_TRUE(ready.wait(kWakeChildDeadline)) << "the waker did not get ready";
    expect_woken(ns_, kQueue, side, waiter, [&] { ASSERT_TRUE(go.signal()); });
    EXPECT_TRUE(exited_cleanly(w.wait(kWakeChildDeadline)));
  }
  [[nodiscard]] std::function<int()> consumer(std::uint32_t count = 1) const {
    return [this, count] { return receive_parked(ns_, kQueue, count); };
  }
  [[nodiscard]] std::function<int()> producer() const {
    return [this] { return send_parked(ns_, kQueue); };
  }

  TestNamespace ns_;
};

// Attaches a consumer, receives one message and keeps it, says ready, waits
// for go, then hands the message to `settle`.
int hold_then(const TestNamespace& ns, const Pipe& ready, const Pipe& go,
              const std::function<Status(shmq::Message&)>& settle) {
  shmq::Client c({.ns = ns.name()});
  shmq::Consumer consumer = c.consumer(kQueue);
  shmq::Message m = consumer.try_receive();
  if (!m) return fail(40, "receive: %s", shmq::to_string(m.status()));
  if (!ready.signal() || !go.wait(kWakeChildDeadline)) return fail(41, "no go");
  if (const Status s = settle(m); s != Status::Ok) return fail(42, "settling: %s", shmq::to_string(s));
  return 0;
}

TEST_F(WakeupTest, MultiProcessParkedConsumerWokenByCommit) {
  create(4);
  expect_woken_by(Parked::Consumers, consumer(), [&](const Pipe& ready, const Pipe& go) {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer(kQueue);
    if (!ready.signal() || !go.wait(kWakeChildDeadline)) return fail(50, "no go");
    const Status s = p.send("wake up", kNow);
    return s == Status::Ok ? 0 : fail(51, "send: %s", shmq::to_string(s));
  });
}

// A loan held at the head, a message committed behind it: the consumer parks
// at the loan (FIFO) until the loan is dropped, and must then take the next.
TEST_F(WakeupTest, MultiProcessParkedConsumerWokenByAbandonedLoan) {
  create(4);
  expect_woken_by(Parked::Consumers, consumer(), [&](const Pipe& ready, const Pipe& go) {
    shmq::Client c({.ns = ns_.name()});
    shmq::Producer p = c.producer(kQueue);
    shmq::Loan head = p.try_loan(8);
    if (!head) return fail(60, "loan: %s", shmq::to_string(head.status()));
    if (const Status s = p.send("behind the loan", kNow); s != Status::Ok)
      return fail(61, "send: %s", shmq::to_string(s));
    if (!ready.signal() || !go.wait(kWakeChildDeadline)) return fail(62, "no go");
    head = shmq::Loan();  // dropped without commit
    return 0;
  });
}

TEST_F(WakeupTest, MultiProcessParkedConsumerWokenByNack) {
  create(4);
  fill(1);
  expect_woken_by(Parked::Consumers, consumer(2), [&](const Pipe& ready, const Pipe& go) {
    return hold_then(ns_, ready, go, [](shmq::Message& m) { return m.nack(); });
  });
}

TEST_F(WakeupTest, MultiProcessProducerParkedOnFullQueueWokenByAck) {
  create(2);
  fill(2);
  expect_woken_by(Parked::Producers, producer(), [&](const Pipe& ready, const Pipe& go) {
    return hold_then(ns_, ready, go, [](shmq::Message& m) { return m.ack(); });
  });
}

// At-most-once: a message is released when its consumer lets go of it (here
// by dropping it, which is what nack does too), and its slot is free.
TEST_F(WakeupTest, MultiProcessProducerParkedOnFullQueueWokenByAtMostOnceRelease) {
  create(2, shmq::DeliveryMode::AtMostOnce);
  fill(2);
  expect_woken_by(Parked::Producers, producer(), [&](const Pipe& ready, const Pipe& go) {
    return hold_then(ns_, ready, go, [](shmq::Message& m) {
      m = shmq::Message();
      return Status::Ok;
    });
  });
}

}  // namespace
