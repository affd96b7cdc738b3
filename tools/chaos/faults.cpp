// The fault schedule: every --interval one fault, picked by weight.
#include <algorithm>
#include <csignal>
#include <cstdio>

#include "shmq/admin/control.hpp"
#include "controller_impl.hpp"

namespace shmq::chaos {

namespace {

using namespace std::chrono_literals;

constexpr auto kProgressPeriod = 10s;
// A purge is one pass over the ring in shmqd's event loop: far below this.
// Past it the purge may still run later, so its drops could not be bounded.
constexpr auto kPurgeLimit = 10s;

enum class Fault : std::uint8_t {
  KillConsumer, KillProducer, StopWorker, KillKeeper, StopKeeper, Purge, Replay,  // the workers' and the queue's
  KillDaemon, TermDaemon, StopDaemon,                                             // shmqd's (not with --no-daemon-faults)
};
constexpr std::size_t kFaults = 10;
constexpr std::size_t kWorkerFaults = 7;
constexpr double kWeights[kFaults] = {4, 2, 3, 1, 1, 1, 2, 1, 1, 1};

}  // namespace

void Controller::inject_faults(Clock::time_point end) {
  Clock::time_point next_fault = Clock::now() + o_.interval;
  Clock::time_point next_progress = Clock::now() + kProgressPeriod;
  while (!interrupted_ && Clock::now() < end) {
    pump(std::min({next_fault, next_progress, end}));
    const Clock::time_point now = Clock::now();
    if (now >= next_fault) {
      inject_one();
      next_fault += o_.interval;
    }
    if (now >= next_progress) {
      if (o_.progress) std::fprintf(stderr, "%s\n", progress().c_str());
      next_progress += kProgressPeriod;
    }
  }
}

// From a quarter to three times the heartbeat timeout: some stops end
// unnoticed, most get a worker fenced (and make shmqd's every session
// look hung when it resumes).
std::chrono::milliseconds Controller::stop_length() {
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(
      shape_.heartbeat_timeout.count() / 4, shape_.heartbeat_timeout.count() * 3)(rng_));
}

void Controller::inject_one() {
  const std::size_t n = o_.daemon_faults ? kFaults : kWorkerFaults;
  std::discrete_distribution<std::size_t> pick(kWeights, kWeights + n);
  const auto fault = static_cast<Fault>(pick(rng_));
  switch (fault) {
    case Fault::KillConsumer: kill_worker(random_worker(Role::Consumer, false), report_.consumer_kills); break;
    case Fault::KillProducer: kill_worker(random_worker(Role::Producer, false), report_.producer_kills); break;
    case Fault::KillKeeper: kill_worker(random_worker(Role::Keeper, false), report_.keeper_kills); break;
    case Fault::StopWorker:
      stop_worker(random_worker(std::bernoulli_distribution(0.5)(rng_) ? Role::Producer : Role::Consumer, true));
      break;
    case Fault::StopKeeper: stop_worker(random_worker(Role::Keeper, true)); break;
    case Fault::Purge: purge(); break;
    case Fault::Replay:
      // SYNC POINT: release pairs with the keeper's acquire load of the requests.
      shared_.ledger->keeper.replay_requests.fetch_add(1, std::memory_order_release);
      ++report_.replay_faults;
      break;
    case Fault::StopDaemon:
      if (daemon_.running() && !daemon_signalled_ && !daemon_stopped_ && daemon_.signal(SIGSTOP)) {
        daemon_stopped_ = true;
        daemon_resume_at_ = Clock::now() + stop_length();
        ++report_.daemon_stops;
      }
      break;
    case Fault::KillDaemon:
      if (daemon_.running() && !daemon_signalled_ && daemon_.signal(SIGKILL)) {
        daemon_signalled_ = true;
        ++report_.daemon_kills;
      }
      break;
    case Fault::TermDaemon:
      if (daemon_.running() && !daemon_signalled_ && daemon_.signal(SIGTERM)) {
        daemon_signalled_ = true;
        ++report_.daemon_terms;
      }
      break;
  }
}

Worker* Controller::random_worker(Role role, bool not_stopped) {
  std::vector<Worker*> pool;
  for (Worker& w : workers_)
    if (w.role == role && w.pid > 0 && !w.killed && !(not_stopped && w.stopped)) pool.push_back(&w);
  if (pool.empty()) return nullptr;
  return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng_)];
}

void Controller::kill_worker(Worker* w, std::uint64_t& counter) {
  if (w == nullptr || ::kill(w->pid, SIGKILL) != 0) return;
  w->killed = true;
  ++counter;
}

void Controller::stop_worker(Worker* w) {
  if (w == nullptr || ::kill(w->pid, SIGSTOP) != 0) return;
  w->stopped = true;
  w->resume_at = Clock::now() + stop_length();
  ++report_.stops;
}

// shmqd up, ready, and neither stopped nor dying.
bool Controller::daemon_quiet() const noexcept {
  return daemon_.running() && daemon_.ready() && !daemon_signalled_ && !daemon_stopped_;
}

// A purge through shmqd, as `shmq-cli purge` asks for it, but with the
// per-group counts of its reply. Only while shmqd is quiet, and the
// controller injects nothing else until the reply: so the purge ran between
// the request and the reply, and no message committed after the reply can
// have been dropped (checks.hpp). A purge with no reply would be unbounded:
// a failure.
void Controller::purge() {
  if (!daemon_quiet()) return;
  const admin::ControlRequest request{admin::ControlOp::Purge, shape_.queue, {}};
  std::optional<admin::ControlReply> reply;
  try {
    reply = admin::call_daemon(shape_.ns, request, kPurgeLimit);
  } catch (const Error& e) {
    fail(std::string("purge: ") + e.what());
    return;
  }
  if (!reply || !reply->ok) {
    fail("purge: " + (reply ? reply->error : std::string("shmqd did not answer")));
    return;
  }
  PurgeRecord r;
  // Read after the reply: a message the purge saw committed had its
  // producer's `attempting` (or `next`) stored before that commit.
  for (std::uint32_t p = 0; p < shape_.producers; ++p) {
    const ProducerState& s = shared_.ledger->producers[p];
    r.committed_before.push_back(std::max(s.next.load(std::memory_order_acquire), s.attempting.load(kRelaxed)));
  }
  for (const admin::PurgedGroup& pg : reply->groups) {
    const auto* g = std::find(std::begin(kGroupNames), std::end(kGroupNames), pg.name);
    if (g == std::end(kGroupNames)) {
      fail("purge: shmqd reported an unknown group '" + pg.name + "'");
      continue;
    }
    r.dropped[static_cast<std::size_t>(g - std::begin(kGroupNames))] = pg.ready + pg.pending;
    report_.purged += pg.ready + pg.pending;
  }
  purges_.push_back(std::move(r));
  ++report_.purges;
}

std::string Controller::progress() const {
  std::uint64_t committed = 0;
  std::uint64_t received = 0;
  for (const Worker& w : workers_) {
    if (w.role == Role::Keeper) continue;
    committed += shared_.ledger->workers[w.slot].committed.load(kRelaxed);
    received += shared_.ledger->workers[w.slot].received.load(kRelaxed);
  }
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count();
  return "shmq-chaos: " + std::to_string(s) + " s: committed " + std::to_string(committed) + ", received " +
         std::to_string(received) + ", kills " +
         std::to_string(report_.consumer_kills + report_.producer_kills + report_.keeper_kills) + ", stops " +
         std::to_string(report_.stops) + ", shmqd restarts " + std::to_string(report_.daemon_restarts) + ", purges " +
         std::to_string(report_.purges) + ", replayed " +
         std::to_string(shared_.ledger->keeper.replayed.load(kRelaxed)) +
         (report_.failures.empty() ? "" : ", FAILURES " + std::to_string(report_.failures.size()));
}

}  // namespace shmq::chaos
