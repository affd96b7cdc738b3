// Multi-process tests of the public API (DESIGN.md §1), oversized messages
// and dropped loans: a message larger than the slot writes nothing; a loan
// dropped without commit is never delivered, gives its slot back at once,
// and does not wedge a group's cursor even when lapped.
//
// Every test forks its processes, uses its own namespace, and waits with a
// deadline: a broken library fails a test instead of hanging CI. Children never
// run gtest assertions; they report through their exit code (and a line on
// stderr), and the parent asserts that each exited 0.
//
// The parent creates queues with a Client that is destroyed before it forks: a
// live Client owns a heartbeat thread, and a child forked from a multi-threaded
// process must not start threads (ThreadSanitizer refuses it, and it is unsafe).
// A parent may make a Client after its last fork.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "children.hpp"
#include "multiprocess_support.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shmq::Status;
using shmq::test::Child;
using shmq::test::exited_cleanly;
using shmq::test::fail;
using shmq::test::TestNamespace;
using shmq::test::multiprocess::create_queue;
using shmq::test::multiprocess::decode_seq;
using shmq::test::multiprocess::kChildDeadline;
using shmq::test::multiprocess::kOpTimeout;
using shmq::test::multiprocess::queue_config;
using shmq::test::multiprocess::seq_payload;
using shmq::test::multiprocess::kQuiet;
using shmq::test::multiprocess::kSeqPayload;

// ---- oversized messages and dropped loans ----------------------------------------------

TEST(MultiProcessTest, MessageTooLargeWritesNothing) {
  TestNamespace ns;
  constexpr std::uint32_t kSlot = 64;
  create_queue(ns, "small", queue_config(4, kSlot));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("small");
    if (p.max_message_size() != kSlot) return fail(70, "max_message_size %zu, not %u", p.max_message_size(), kSlot);
    const std::vector<std::byte> too_big(kSlot + 1, std::byte{0x5A});
    if (const Status s = p.send(too_big, kOpTimeout); s != Status::MessageTooLarge)
      return fail(71, "send of slot_size + 1 bytes: %s", shmq::to_string(s));
    if (const Status s = p.try_send(too_big); s != Status::MessageTooLarge)
      return fail(72, "try_send of slot_size + 1 bytes: %s", shmq::to_string(s));
    if (shmq::Loan l = p.loan(kSlot + 1, kOpTimeout); l.status() != Status::MessageTooLarge)
      return fail(73, "loan of slot_size + 1 bytes: %s", shmq::to_string(l.status()));
    // A commit longer than the slot writes nothing and keeps the loan.
    shmq::Loan l = p.loan(8, kOpTimeout);
    if (!l) return fail(74, "loan(8): %s", shmq::to_string(l.status()));
    std::memset(l.data().data(), 0x5A, l.data().size());
    if (l.capacity() != kSlot) return fail(75, "loan capacity %zu, not %u", l.capacity(), kSlot);
    if (const Status s = l.commit(kSlot + 1); s != Status::MessageTooLarge)
      return fail(76, "commit of slot_size + 1 bytes: %s", shmq::to_string(s));
    if (l.status() != Status::Ok) return fail(77, "the loan was lost by a MessageTooLarge commit");
    l.abandon();
    // Exactly slot_size bytes fit: the one message the consumer must see.
    std::vector<std::byte> fits(kSlot);
    for (std::size_t i = 0; i < fits.size(); ++i) fits[i] = static_cast<std::byte>(i);
    if (const Status s = p.send(fits, kOpTimeout); s != Status::Ok)
      return fail(78, "send of exactly slot_size bytes: %s", shmq::to_string(s));
    return 0;
  });
  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("small");
    shmq::Message m = cons.receive(kOpTimeout);
    if (!m) return fail(80, "receive: %s", shmq::to_string(m.status()));
    if (m.data().size() != kSlot) return fail(81, "got a message of %zu bytes, expected only the %u-byte one", m.data().size(), kSlot);
    for (std::size_t i = 0; i < kSlot; ++i)
      if (m.data()[i] != static_cast<std::byte>(i)) return fail(82, "byte %zu of the message is wrong", i);
    if (const Status s = m.ack(); s != Status::Ok) return fail(83, "ack: %s", shmq::to_string(s));
    shmq::Message extra = cons.receive(kQuiet);
    if (extra.status() != Status::Timeout)
      return fail(84, "a second message arrived (%s, %zu bytes)", shmq::to_string(extra.status()), extra.data().size());
    return 0;
  });

  EXPECT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

// Fills the queue with try_send until it refuses; returns how many it took, or
// -1 if it refused with something other than QueueFull.
long fill(shmq::Producer& p, std::uint64_t first_seq, std::uint32_t limit) {
  long n = 0;
  for (;;) {
    const Status s = p.try_send(seq_payload(first_seq + static_cast<std::uint64_t>(n)));
    if (s == Status::QueueFull) return n;
    if (s != Status::Ok) return -1;
    if (++n > static_cast<long>(limit)) return n;
  }
}

// Receives seq first..first+n-1 in order and acks them; then nothing more. 0 or a code.
int drain(shmq::Consumer& consumer, std::uint64_t first, std::uint64_t n) {
  for (std::uint64_t i = first; i < first + n; ++i) {
    shmq::Message m = consumer.receive(kOpTimeout);
    const auto ui = static_cast<unsigned long long>(i);
    if (!m) return fail(90, "receive of seq %llu: %s", ui, shmq::to_string(m.status()));
    std::uint64_t seq = 0;
    if (!decode_seq(m.data(), seq))
      return fail(91, "expected seq %llu, got a %zu-byte message that is not one (a dropped loan?)", ui, m.data().size());
    if (seq != i) return fail(92, "expected seq %llu, got %llu", ui, static_cast<unsigned long long>(seq));
    if (const Status s = m.ack(); s != Status::Ok) return fail(93, "ack: %s", shmq::to_string(s));
  }
  shmq::Message extra = consumer.receive(kQuiet);
  if (extra.status() != Status::Timeout)
    return fail(94, "after seq %llu, receive gave %s (%zu bytes), not Timeout",
                static_cast<unsigned long long>(first + n - 1), shmq::to_string(extra.status()), extra.data().size());
  return 0;
}

// The bytes a dropped loan writes: never a valid seq payload (wrong length).
void scribble(const shmq::Loan& l) { std::memset(l.data().data(), 0xEE, l.data().size()); }

TEST(MultiProcessTest, DroppedLoanIsNeverDeliveredAndItsSlotIsReused) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 4;
  constexpr std::uint64_t kRounds = 3 * kCapacity;  // every slot sees a dropped loan more than once
  create_queue(ns, "loans", queue_config(kCapacity, 64));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("loans");
    // Phase 1: each round drops a loan (by destructor, or explicitly), then sends one message.
    for (std::uint64_t i = 0; i < kRounds; ++i) {
      {
        shmq::Loan l = p.loan(kSeqPayload + 8, kOpTimeout);
        if (!l) return fail(100, "loan in round %llu: %s", static_cast<unsigned long long>(i), shmq::to_string(l.status()));
        scribble(l);
        if (i % 2 == 1) l.abandon();
      }
      if (const Status s = p.send(seq_payload(i), kOpTimeout); s != Status::Ok)
        return fail(101, "send of seq %llu: %s", static_cast<unsigned long long>(i), shmq::to_string(s));
    }
    return 0;
  });
  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("loans");
    return drain(cons, 0, kRounds);
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";
  ASSERT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";

  // Phase 2: every slot had a dropped loan; the queue takes `capacity` messages again.
  Child refill([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("loans");
    const long n = fill(p, kRounds, kCapacity);
    if (n != static_cast<long>(kCapacity))
      return fail(102, "after the dropped loans the queue took %ld messages, not its capacity %u", n, kCapacity);
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(refill.wait(kChildDeadline))) << "refilling producer";
  Child reader([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("loans");
    return drain(cons, kRounds, kCapacity);
  });
  EXPECT_TRUE(exited_cleanly(reader.wait(kChildDeadline))) << "consumer of the refill";
}

// "A loan dropped without commit gives the slot back" (DESIGN.md §1): right
// away, not only once a consumer has passed over the position. With no
// consumer running, an empty queue whose producer dropped a loan still takes
// `capacity` messages.
TEST(MultiProcessTest, DroppedLoanGivesItsSlotBackWithoutAConsumer) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 4;
  create_queue(ns, "loans", queue_config(kCapacity, 64));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("loans");
    {
      shmq::Loan l = p.try_loan(kSeqPayload + 8);
      if (!l) return fail(110, "try_loan on an empty queue: %s", shmq::to_string(l.status()));
      scribble(l);
    }  // dropped without commit
    const long n = fill(p, 0, kCapacity);
    if (n != static_cast<long>(kCapacity))
      return fail(111, "after one dropped loan the empty queue took %ld messages, not its capacity %u", n, kCapacity);
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";

  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("loans");
    return drain(cons, 0, kCapacity);
  });
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

// A producer may drop loans faster than consumers look: here it drops one in
// every slot twice (so each slot's abandoned position is lapped) before any
// consumer runs, then sends one message. The group must still get it: dropped
// loans are invisible to consumers, they must not wedge the group's cursor.
TEST(MultiProcessTest, ConsumerGetsMessageSentAfterProducerDroppedLoansAroundTheRing) {
  TestNamespace ns;
  constexpr std::uint32_t kCapacity = 2;
  create_queue(ns, "lapped", queue_config(kCapacity, 64));

  Child producer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Producer p = c.producer("lapped");
    for (std::uint32_t i = 0; i < 2 * kCapacity; ++i) {
      shmq::Loan l = p.try_loan(kSeqPayload + 8);
      if (!l) return fail(120, "try_loan #%u on an empty queue: %s", i, shmq::to_string(l.status()));
      scribble(l);
    }  // each dropped without commit
    if (const Status s = p.try_send(seq_payload(0)); s != Status::Ok)
      return fail(121, "try_send after the dropped loans: %s", shmq::to_string(s));
    return 0;
  });
  ASSERT_TRUE(exited_cleanly(producer.wait(kChildDeadline))) << "producer";

  Child consumer([&] {
    shmq::Client c({.ns = ns.name()});
    shmq::Consumer cons = c.consumer("lapped");
    shmq::Message m = cons.receive(2s);
    if (!m) return fail(122, "receive of the one message sent: %s", shmq::to_string(m.status()));
    std::uint64_t seq = 99;
    if (!decode_seq(m.data(), seq) || seq != 0) return fail(123, "received a %zu-byte message that is not seq 0", m.data().size());
    if (const Status s = m.ack(); s != Status::Ok) return fail(124, "ack: %s", shmq::to_string(s));
    return 0;
  });
  EXPECT_TRUE(exited_cleanly(consumer.wait(kChildDeadline))) << "consumer";
}

}  // namespace
