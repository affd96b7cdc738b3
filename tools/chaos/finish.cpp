// The end of a run: drain, checks, teardown, and the summary line.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <sstream>

#include <unistd.h>

#include "controller_impl.hpp"
#include "keeper.hpp"
#include "shmq/admin/namespace.hpp"
#include "shmq/shmq.hpp"

namespace shmq::chaos {

namespace {

using namespace std::chrono_literals;

constexpr auto kDrainCheckPeriod = 50ms;

}  // namespace

// Stops the faults and the producers, lets the consumers and the keeper empty
// the queue, then stops them.
void Controller::drain() {
  for (Worker& w : workers_)
    if (w.stopped && w.pid > 0 && ::kill(w.pid, SIGCONT) == 0) w.stopped = false;
  if (daemon_stopped_) resume_daemon();
  shared_.ledger->stop_producers.store(1, std::memory_order_release);
  const Clock::time_point deadline = Clock::now() + o_.drain_timeout;
  daemon_restart_at_ = Clock::now();  // no more downtime
  const bool producers_done = wait_for([&] { return alive(Role::Producer) == 0; }, deadline);
  if (!producers_done && !interrupted_) fail("producers did not stop within the drain timeout");
  try {
    queue_ = admin::Namespace(shape_.ns).queue(shape_.queue);
  } catch (const Error& e) {
    fail(std::string("cannot open the queue to drain it: ") + e.what());
    return;
  }
  const bool drained = wait_for([&] { return daemon_.ready() && queue_quiet(); }, deadline, kDrainCheckPeriod);
  if (!drained && !interrupted_)
    fail("the queue did not drain within " + std::to_string(o_.drain_timeout.count()) + " s: " + last_stats_);
  shared_.ledger->stop_consumers.store(1, std::memory_order_release);
  if (!wait_for([&] { return alive(Role::Consumer) + alive(Role::Keeper) == 0; }, Clock::now() + kStopLimit) &&
      !interrupted_)
    fail("consumers did not stop within " + std::to_string(kStopLimit.count()) + " s");
}

// True when no slot is loaned, quarantined, ready, leased or pending.
bool Controller::queue_quiet() {
  const admin::QueueStats st = queue_->stats();
  std::ostringstream s;
  s << "loaned " << st.loaned << ", quarantined " << st.quarantined << ", dead letters " << st.dead_letters;
  bool quiet = st.loaned == 0 && st.quarantined == 0;
  for (const admin::GroupStats& g : st.groups) {
    s << "; " << g.name << ": ready " << g.ready << ", leased " << g.leased << ", pending " << g.pending;
    quiet = quiet && g.ready == 0 && g.leased == 0 && g.pending == 0;
  }
  last_stats_ = s.str();
  return quiet;
}

// The slot audit, the dead letters left and the ledger, once every worker is gone.
void Controller::check() {
  sum_counters();
  if (!queue_) return;
  const admin::AuditReport audit = queue_->audit();
  for (const std::string& p : audit.problems) fail("audit: " + p);
  const admin::QueueStats st = queue_->stats();
  report_.leaked += st.capacity - st.free;
  if (st.capacity != st.free) fail("audit: " + std::to_string(st.capacity - st.free) + " slots not free: " + last_stats_);
  // shmqd's own count says the same as the keeper: no dead letter elsewhere.
  for (std::uint32_t g = 0; g < st.groups.size() && g < kGroups; ++g)
    if (g != kDlqGroup && st.groups[g].dead_lettered != 0)
      fail(std::string(kGroupNames[g]) + " dead-lettered " + std::to_string(st.groups[g].dead_lettered) +
           " messages, but its consumers never nack often");
  check_dead_letters();
  check_records();
}

// What is left in the dead-letter area is accounted for like what the keeper
// saw: checked, recorded; a replay it was part of owes nothing more.
void Controller::check_dead_letters() {
  for (const admin::DeadLetter& d : queue_->dead_letters()) {
    const DeadLetterCheck c = record_dead_letter(shape_, shared_, d);
    if (c == DeadLetterCheck::Corrupt) {
      ++report_.corrupted;
      fail("corrupted dead letter left in the area: id " + std::to_string(d.id) + ", group " +
           std::to_string(d.group) + ", " + std::to_string(d.delivery_count) + " deliveries");
    }
  }
}

void Controller::sum_counters() {
  for (const Worker& w : workers_) {
    if (w.role == Role::Keeper) continue;
    const WorkerCounters& c = shared_.ledger->workers[w.slot];
    report_.deliveries += c.received.load(kRelaxed);
    report_.redeliveries += c.redelivered.load(kRelaxed);
    report_.nacks += c.nacked.load(kRelaxed);
    report_.lease_lost += c.lease_lost.load(kRelaxed);
    report_.corrupted += c.corrupted.load(kRelaxed);
    report_.fenced += c.fenced.load(kRelaxed);
  }
  const KeeperState& k = shared_.ledger->keeper;
  report_.replayed = k.replayed.load(kRelaxed);
  report_.dlq_freed = k.dropped.load(kRelaxed);
  report_.corrupted += k.corrupted.load(kRelaxed);
  report_.fenced += k.fenced.load(kRelaxed);
  if (const std::uint64_t stray = k.stray.load(kRelaxed); stray != 0)
    fail("the keeper found " + std::to_string(stray) + " dead letters outside the dead-letter group");
  report_.in_doubt = in_doubt_.size();
}

// The record map's verdict (checks.hpp) with every excuse the run earned.
void Controller::check_records() {
  std::sort(in_doubt_.begin(), in_doubt_.end());
  std::vector<std::uint64_t> next;
  for (std::uint32_t p = 0; p < shape_.producers; ++p) {
    next.push_back(shared_.ledger->producers[p].next.load(kRelaxed));
    report_.messages += next.back();
  }
  report_.messages -= in_doubt_.size();
  const Excuses excuses{in_doubt_, amo_consumer_losses_, purges_, replays_cut_};
  const RecordVerdict v = chaos::check_records(shape_, shared_, next, excuses);
  report_.lost += v.lost;
  report_.duplicates += v.duplicates;
  report_.corrupted += v.phantoms;
  report_.stray += v.stray;
  report_.amo_dropped += v.amo_dropped;
  report_.purge_excused += v.purge_excused;
  report_.dead_lettered += v.dead_lettered;
  report_.replay_duplicates += v.replay_duplicates;
  for (const std::string& s : v.samples) fail(s);
}

// Deletes the queue through shmqd, stops it, removes the registry and its
// lock file: anything else left of the namespace leaked.
void Controller::teardown() {
  tearing_down_ = true;
  if (daemon_stopped_) resume_daemon();
  for (const Worker& w : workers_)
    if (w.pid > 0) ::kill(w.pid, SIGKILL);
  wait_for([&] { return alive(Role::Producer) + alive(Role::Consumer) + alive(Role::Keeper) == 0; },
           Clock::now() + kStopLimit);
  queue_.reset();
  if (!daemon_.running()) start_daemon();
  if (wait_for([&] { return daemon_.ready(); }, Clock::now() + kDaemonStartLimit)) {
    try {
      Client client({.ns = shape_.ns});
      if (!client.delete_queue(shape_.queue)) fail("the queue was gone before the teardown");
    } catch (const Error& e) {
      fail(std::string("delete_queue: ") + e.what());
    }
  } else {
    fail("shmqd did not get ready for the teardown: " + daemon_.tail());
  }
  if (daemon_.running()) daemon_.signal(SIGTERM);
  if (!wait_for([&] { return !daemon_.running(); }, Clock::now() + kStopLimit)) {
    fail("shmqd did not stop within " + std::to_string(kStopLimit.count()) + " s of SIGTERM");
    daemon_.signal(SIGKILL);
    wait_for([&] { return !daemon_.running(); }, Clock::now() + kStopLimit);
  }
  // What a namespace keeps by design once its queues are gone: the session
  // registry, and the lock files of queue creation and of shmqd.
  admin::remove_registry_and_locks(shape_.ns);
  if (!interrupted_) {
    for (const std::string& object : admin::namespace_objects(shape_.ns)) {
      ++report_.leaked;
      fail("left behind after the teardown: " + admin::object_path(object));
    }
  }
  admin::remove_namespace(shape_.ns);
}

std::string ChaosReport::summary() const {
  std::ostringstream s;
  s << "shmq-chaos: " << (interrupted ? "INTERRUPTED" : passed() ? "PASS" : "FAIL") << " "
    << std::llround(seconds) << " s: messages=" << messages << " deliveries=" << deliveries
    << " kills=" << consumer_kills + producer_kills + keeper_kills << " (consumers " << consumer_kills
    << ", producers " << producer_kills << ", keeper " << keeper_kills << ") stops=" << stops
    << " fenced=" << fenced << " daemon_restarts=" << daemon_restarts << " (kill -9 " << daemon_kills
    << ", SIGTERM " << daemon_terms << ") daemon_stops=" << daemon_stops << " redeliveries=" << redeliveries
    << " nacks=" << nacks << " dead_lettered=" << dead_lettered << " replays=" << replay_faults
    << " replayed=" << replayed << " replay_duplicates=" << replay_duplicates << " dlq_freed=" << dlq_freed
    << " purges=" << purges << " purged=" << purged << " purge_excused=" << purge_excused
    << " in_doubt=" << in_doubt << " amo_dropped=" << amo_dropped << " lost=" << lost << " corrupted=" << corrupted
    << " duplicates=" << duplicates << " stray=" << stray << " leaked=" << leaked;
  return s.str();
}

}  // namespace shmq::chaos
