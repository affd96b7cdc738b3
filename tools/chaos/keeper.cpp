#include "keeper.hpp"

#include <cstdio>
#include <thread>

#include <unistd.h>

#include "shmq/admin/namespace.hpp"
#include "shmq/shmq.hpp"

namespace shmq::chaos {

namespace {

using namespace std::chrono_literals;

// Nothing announces a new dead letter (no futex for the area), so the keeper
// looks every kKeeperPeriod: a polling rate, not a synchronisation.
constexpr auto kKeeperPeriod = 10ms;

void report(const char* what, const admin::DeadLetter& d) {
  std::fprintf(stderr, "shmq-chaos: keeper (pid %d): %s: dead letter id %llu, group %u, %u deliveries, %zu bytes\n",
               static_cast<int>(::getpid()), what, static_cast<unsigned long long>(d.id), d.group, d.delivery_count,
               d.data.size());
}

}  // namespace

DeadLetterCheck record_dead_letter(const RunShape& shape, const SharedLedger& shared, const admin::DeadLetter& d) {
  Origin o;
  if (d.group >= kGroups || !valid_payload(shape, d.data, d.id, o) ||
      (d.group == kDlqGroup && d.delivery_count != kDlqMaxDeliveries))
    return DeadLetterCheck::Corrupt;
  RecordCell::dead_lettered(*shared.cell(shape, d.group, o.producer, o.seq));
  return d.group == kDlqGroup ? DeadLetterCheck::Intact : DeadLetterCheck::Stray;
}

int run_keeper(const RunShape& shape, const SharedLedger& shared) {
  Ledger& ledger = *shared.ledger;
  KeeperState& state = ledger.keeper;
  Client client(client_options(shape));
  // A producer session, as shmq-cli dlq replay joins: the slots a replay
  // claims name it, so the watchdog takes them back if this process dies.
  const Producer producer = client.producer(shape.queue);
  admin::WritableQueue q = admin::Namespace(shape.ns).writable_queue(shape.queue);  // replays and purges
  const std::uint32_t dlq_capacity = q.config().dlq_capacity;
  const auto me = static_cast<admin::SessionId>(client.session_id());
  auto fenced = [&] {
    state.fenced.fetch_add(1, kRelaxed);
    return kExitFenced;
  };

  while (ledger.stop_consumers.load(std::memory_order_acquire) == 0) {
    if (client.fenced()) return fenced();
    // SYNC POINT: acquire pairs with the controller's release increment: a
    // request made before this load is served by this round.
    const std::uint64_t requests = state.replay_requests.load(std::memory_order_acquire);
    const bool replay_all = requests != state.served.load(kRelaxed);
    const std::vector<admin::DeadLetter> letters = q.dead_letters();
    const bool make_room = letters.size() * 2 >= dlq_capacity;
    for (const admin::DeadLetter& d : letters) {
      const DeadLetterCheck c = record_dead_letter(shape, shared, d);
      if (c != DeadLetterCheck::Intact) {
        // A failure of the run either way; freed so it is counted once.
        (c == DeadLetterCheck::Stray ? state.stray : state.corrupted).fetch_add(1, kRelaxed);
        report(c == DeadLetterCheck::Stray ? "stray" : "corrupted", d);
        (void)q.purge_dead_letter(d.index);
        continue;
      }
      if (replay_all || d.replaying != admin::kNoSession) {
        Origin o;
        (void)read_payload(d.data, o);  // valid: record_dead_letter checked it
        RecordCell::replay_owed(*shared.cell(shape, d.group, o.producer, o.seq));
        const Status s = q.replay_dead_letter(d.index, me);  // wakes the consumers
        if (s == Status::Ok) {
          state.replayed.fetch_add(1, kRelaxed);
        } else if (s == Status::LeaseLost || s == Status::Fenced) {
          return fenced();
        }
        // QueueFull or InvalidHandle (a live replay holds it): it stays in
        // the area, where the next round (or the final check) sees it.
      } else if (make_room && q.purge_dead_letter(d.index)) {
        state.dropped.fetch_add(1, kRelaxed);
      }
    }
    if (replay_all) state.served.store(requests, kRelaxed);
    std::this_thread::sleep_for(kKeeperPeriod);
  }
  return 0;
}

}  // namespace shmq::chaos
