#include "crash_workload.hpp"

#include <cstdlib>
#include <cstring>
#include <vector>

#include "children.hpp"
#include "core/purge.hpp"
#include "core/registry.hpp"
#include "os/queue_segment.hpp"

namespace shmq::test {

namespace {

using namespace std::chrono_literals;

void append(std::atomic<std::uint32_t>& count, std::uint64_t* items, std::uint64_t id) {
  const std::uint32_t i = count.load(std::memory_order_relaxed);
  if (i >= kMaxLog) std::abort();
  items[i] = id;
  count.store(i + 1, std::memory_order_release);
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

// Delivers one message of `c`'s group and nacks it, `times` times: the first
// is a first delivery, the others redeliveries (redeliver.leased).
bool nack_times(Consumer& c, int times) {
  for (int i = 0; i < times; ++i) {
    Message m = c.try_receive();
    if (!m || m.nack() != Status::Ok) return false;
  }
  return true;
}

void send_logged(Producer& p, ChildLog& log) {
  Loan loan = p.loan(8, 20ms);
  if (!loan) return;
  const std::uint64_t id = loan.id();
  std::memcpy(loan.data().data(), &id, sizeof id);
  if (loan.commit() == Status::Ok) append(log.committed_count, log.committed, id);
}

// Fences `client`'s session as the watchdog would (before its heartbeat
// thread notices): the next claim of `c` gives back what it takes.
bool fenced_take_gives_back(const std::string& ns, const Client& client, Consumer& c) {
  (void)detail::fence_session(detail::open_registry(ns).view, client.session_id());
  return c.try_receive().status() == Status::Fenced;
}

}  // namespace

QueueConfig crash_queue() {
  QueueConfig c;
  c.capacity = kCrashCapacity;
  c.slot_size = 64;
  c.dlq_capacity = 8;
  c.groups = {{"g0", DeliveryMode::AtLeastOnce, 2, 60'000ms},
              {"g1", DeliveryMode::AtLeastOnce, 10, 60'000ms},
              {"g2", DeliveryMode::AtMostOnce, 10, 60'000ms}};
  return c;
}

// Positions: 0 is the parent's quarantined slot, 1..3 the parent's messages.
// The comments name the steps each part reaches. The parent's consumers
// looked at the queue just before: the first nack (g0) and the first give-back
// (g1) are the first redelivery-generation bumps they could miss.
int crash_workload(const std::string& ns, const std::string& point, std::uint32_t nth, ChildLog& log) {
  if (!point.empty()) detail::arm_crash_point(point, nth);
  // Heartbeats a day apart: a beat between fence_session and the take would
  // see the fence first, and the take would return Fenced before taking.
  const ClientOptions quiet{.ns = ns, .heartbeat_interval = 12h, .heartbeat_timeout = 24h};
  Client client(quiet);  // session.claimed
  Client other(quiet);   // session.claimed again
  Consumer g0 = client.consumer("q", "g0");
  Consumer g1 = client.consumer("q", "g1");
  Consumer g2 = client.consumer("q", "g2");
  Consumer other_g1 = other.consumer("q", "g1");

  // fenced.given_back: `other`, fenced, gives back the first delivery it has
  // just taken. The first redelivery-generation bump of g1 since the parent's
  // consumers looked.
  if (!fenced_take_gives_back(ns, other, other_g1)) return fail(15, "other's take after its fence was not Fenced");

  // g0: deliver, nack, redeliver, nack; the next take dead-letters it
  // (deadletter.*). g1: redeliver what `other` gave back, nack it, take it
  // again. receive.*, settle.done, redeliver.leased.
  if (!nack_times(g0, 2)) return fail(10, "g0 had no message to nack");
  consume(g0, 0, log);
  if (!nack_times(g1, 1)) return fail(11, "g1 had no message to nack");
  consume(g1, 1, log);
  consume(g2, 2, log);

  // Positions 4..10, passing over the quarantined slot at 8 (loan.skipped,
  // pass.partial). loan.claimed, commit.*.
  Producer p = client.producer("q");
  for (int i = 0; i < 6; ++i) send_logged(p, log);

  // A second dead letter (deadletter.*) in g0; its last message stays leased.
  if (!nack_times(g0, 2)) return fail(12, "g0 had no message to nack twice");
  consume(g0, 0, log, /*keep_last=*/true);
  consume(g1, 1, log);
  consume(g2, 2, log);

  // Positions 11, 12: loans dropped (abort.done, pass.partial).
  for (int i = 0; i < 2; ++i) {
    Loan dropped = p.try_loan(8);
    if (!dropped) return fail(13, "no slot for a loan to drop");
  }

  // purge.partial: positions 13, 14 sent to be purged (not logged as
  // committed: dropping them is the point), purged with g0's last message
  // still leased.
  for (int i = 0; i < 2; ++i) {
    Loan loan = p.loan(8, 20ms);
    if (loan) (void)loan.commit();
  }
  const detail::MappedQueue purged = detail::open_queue_segment(ns, "q");
  (void)detail::purge(purged.view);

  Consumer parked = client.consumer("q", "g1", {WaitStrategy::Park});
  for (int i = 0; i < 2; ++i) (void)parked.receive(2ms);  // park.counted

  // Positions 15 and 17, passing over the quarantined slot at 16 again.
  for (int i = 0; i < 2; ++i) send_logged(p, log);

  // fenced.given_back again: `client`, fenced, gives back a first delivery.
  if (!fenced_take_gives_back(ns, client, g1)) return fail(14, "client's take after its fence was not Fenced");

  for (std::size_t i = 0; i < detail::kClientCrashPoints.size(); ++i)
    log.hits[i] = detail::crash_point_hits(detail::kClientCrashPoints[i]);
  return 0;
}

}  // namespace shmq::test
