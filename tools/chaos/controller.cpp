#include "controller_impl.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper.hpp"
#include "shmq/admin/system.hpp"

namespace shmq::chaos {

namespace {

using namespace std::chrono_literals;

constexpr auto kMaxDaemonDowntime = 300ms;

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  // NOLINTNEXTLINE(concurrency-mt-unsafe): only the controller's one thread describes exits
  if (WIFSIGNALED(status)) return std::string("was killed by ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

std::string config_text(const ChaosOptions& o) {
  std::ostringstream t;
  t << "[daemon]\n"
    << "heartbeat_interval_ms = " << o.shape.heartbeat_interval.count() << "\n"
    << "heartbeat_timeout_ms = " << o.shape.heartbeat_timeout.count() << "\n"
    << "scan_period_ms = 10\n\n"
    << "[queues." << o.shape.queue << "]\n"
    << "capacity = 1024\nslot_size = " << o.shape.slot_size << "\ndlq_capacity = " << kDlqCapacity << "\n";
  // A lease longer than any stop, one shorter than the heartbeat timeout (a
  // stopped consumer's lease expires before it is fenced), at-most-once, and
  // the dead-letter group (few deliveries, its consumers nack often).
  const std::chrono::milliseconds leases[kGroups] = {o.shape.heartbeat_timeout * 10, o.shape.heartbeat_timeout / 2,
                                                     o.shape.heartbeat_timeout, o.shape.heartbeat_timeout};
  for (std::uint32_t g = 0; g < kGroups; ++g) {
    t << "\n[[queues." << o.shape.queue << ".groups]]\nname = \"" << kGroupNames[g] << "\"\n"
      << "delivery = \"" << (kAtMostOnce[g] ? "at-most-once" : "at-least-once") << "\"\n"
      << "max_deliveries = " << (g == kDlqGroup ? kDlqMaxDeliveries : 4095)
      << "\nlease_timeout_ms = " << leases[g].count() << "\n";
  }
  return t.str();
}

}  // namespace

Controller::Controller(const ChaosOptions& o)
    : o_(o),
      shape_(o.shape),
      config_path_("/tmp/shmq-chaos." + o.shape.ns + ".toml"),
      daemon_(o.shmqd_path, o.shape.ns, config_path_, o.log_path),
      rng_(o.seed) {
  shape_.per_producer = o.max_messages / shape_.producers;
  map_ledger();
  std::ofstream(config_path_) << config_text(o);
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGINT, SIGTERM}) sigaddset(&set, s);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) throw Error(errc::system_error, "signalfd failed");
  for (std::uint32_t p = 0; p < shape_.producers; ++p) workers_.push_back({Role::Producer, 0, p});
  for (std::uint32_t g = 0; g < kGroups; ++g)
    for (std::uint32_t i = 0; i < shape_.consumers_per_group; ++i)
      workers_.push_back({Role::Consumer, g, consumer_slot(shape_, g, i)});
  workers_.push_back({Role::Keeper, kDlqGroup, 0});
}

Controller::~Controller() {
  for (const Worker& w : workers_)
    if (w.pid > 0) ::kill(w.pid, SIGKILL);
  if (daemon_.running()) daemon_.signal(SIGKILL);
  for (pid_t pid = 0; (pid = ::waitpid(-1, nullptr, 0)) > 0;)
    if (pid == daemon_.pid()) daemon_.exited();
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (ledger_bytes_ != 0) ::munmap(shared_.ledger, ledger_bytes_);
  ::unlink(config_path_.c_str());
}

ChaosReport Controller::run() {
  start_ = Clock::now();
  start_daemon();
  if (wait_for([&] { return daemon_.ready(); }, start_ + kDaemonStartLimit)) {
    for (Worker& w : workers_) start_worker(w);
    inject_faults(start_ + o_.duration);
    drain();
  } else if (!interrupted_) {
    fail("shmqd did not get ready within " + std::to_string(kDaemonStartLimit.count()) + " s: " + daemon_.tail());
  }
  report_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  if (!interrupted_) check();
  teardown();
  report_.interrupted = interrupted_;
  return report_;
}

// ---- the ledger -----------------------------------------------------------

void Controller::map_ledger() {
  const std::uint64_t records = std::uint64_t{kGroups} * shape_.producers * shape_.per_producer;
  ledger_bytes_ = sizeof(Ledger) + records;
  void* p = ::mmap(nullptr, ledger_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    ledger_bytes_ = 0;
    throw Error(errc::system_error, "cannot map the ledger (" + std::to_string(records) +
                                        " bytes for --max-messages): " + admin::errno_text(errno));
  }
  shared_.ledger = new (p) Ledger{};  // NOLINT(cppcoreguidelines-owning-memory): placement into the mapping; munmap frees it
  shared_.records = static_cast<std::uint8_t*>(p) + sizeof(Ledger);
}

// ---- events ---------------------------------------------------------------

// Handles what happens until `until` (child exits, shmqd output, signals).
void Controller::pump(Clock::time_point until) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
  // poll skips the negative descriptors of pipes already closed.
  pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {daemon_.output_fd(), POLLIN, 0}, {daemon_.ready_fd(), POLLIN, 0}};
  const int n = ::poll(fds, 3, static_cast<int>(std::max<std::int64_t>(0, left.count())));
  if (n < 0 && errno != EINTR) fail("poll: " + admin::errno_text(errno));
  if (n > 0 && fds[1].revents != 0) daemon_.read_output();
  if (n > 0 && fds[2].revents != 0) daemon_.read_ready();
  signalfd_siginfo info{};
  while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM) interrupted_ = true;
  }
  reap();
  const Clock::time_point now = Clock::now();
  for (Worker& w : workers_) {
    if (w.stopped && w.pid > 0 && now >= w.resume_at) {
      ::kill(w.pid, SIGCONT);
      w.stopped = false;
    }
  }
  if (daemon_stopped_ && now >= daemon_resume_at_) resume_daemon();
  if (!daemon_.running() && now >= daemon_restart_at_ && !tearing_down_) start_daemon();
}

void Controller::reap() {
  int status = 0;
  for (pid_t pid = 0; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
    if (pid == daemon_.pid()) {
      on_daemon_exit(status);
      continue;
    }
    for (Worker& w : workers_)
      if (w.pid == pid) on_worker_exit(w, status);
  }
}

// ---- shmqd ----------------------------------------------------------------

void Controller::start_daemon() {
  std::fflush(nullptr);
  daemon_.start();
  if (daemon_started_++ > 0) ++report_.daemon_restarts;
}

void Controller::resume_daemon() {
  if (daemon_.running()) (void)daemon_.signal(SIGCONT);
  daemon_stopped_ = false;
}

void Controller::on_daemon_exit(int status) {
  const std::string tail = daemon_.tail();
  daemon_.exited();
  daemon_stopped_ = false;
  const bool expected = daemon_signalled_ || tearing_down_;
  daemon_signalled_ = false;
  if (!expected) fail("shmqd " + describe_exit(status) + " on its own: " + tail);
  daemon_restart_at_ = Clock::now() + std::uniform_int_distribution<int>(0, kMaxDaemonDowntime.count())(rng_) * 1ms;
}

// ---- workers --------------------------------------------------------------

void Controller::start_worker(Worker& w) {
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    fail("fork: " + admin::errno_text(errno));
    return;
  }
  if (pid > 0) {
    w.pid = pid;
    return;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the run
  if (::getppid() != parent) std::_Exit(1);
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  ::close_range(3, ~0U, 0);  // the controller's signalfd and shmqd pipe
  int code = 1;
  try {
    code = run_worker(w);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmq-chaos: %s (pid %d): %s\n", name(w).c_str(), static_cast<int>(::getpid()), e.what());
  }
  std::fflush(nullptr);
  std::_Exit(code);  // the controller's destructors are not ours to run
}

int Controller::run_worker(const Worker& w) const {
  switch (w.role) {
    case Role::Producer: return run_producer(shape_, shared_, w.slot);
    case Role::Consumer: return run_consumer(shape_, shared_, w.group, w.slot);
    case Role::Keeper: return run_keeper(shape_, shared_);
  }
  return 1;
}

void Controller::on_worker_exit(Worker& w, int status) {
  const bool killed_by_us = w.killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const pid_t pid = w.pid;
  w.pid = -1;
  w.killed = w.stopped = false;
  if (w.role == Role::Producer) settle_producer(w.slot);
  if (w.role == Role::Consumer) settle_consumer(w.slot);
  // An at-most-once consumer that did not stop when asked may have taken
  // one message with it (each holds at most one); a keeper may have cut one
  // replay short (published, entry not freed).
  if (w.role == Role::Consumer && kAtMostOnce[w.group] && !clean) ++amo_consumer_losses_;
  if (w.role == Role::Keeper && !clean) ++replays_cut_;
  const bool asked_to_stop = w.role == Role::Producer ? shared_.ledger->stop_producers.load(kRelaxed) != 0
                                                      : shared_.ledger->stop_consumers.load(kRelaxed) != 0;
  if (clean) {
    if (!asked_to_stop && w.role != Role::Producer) fail(name(w) + " stopped unasked");
    if (!asked_to_stop && w.role == Role::Producer)  // not a failure, but the load is gone
      std::fprintf(stderr, "shmq-chaos: %s used its %llu sequence numbers: raise --max-messages\n", name(w).c_str(),
                   static_cast<unsigned long long>(shape_.per_producer));
    return;
  }
  const bool fenced = WIFEXITED(status) && WEXITSTATUS(status) == kExitFenced;
  if (!killed_by_us && !fenced) fail(name(w) + " (pid " + std::to_string(pid) + ") " + describe_exit(status));
  if (!asked_to_stop && !tearing_down_) start_worker(w);
}

// A dead producer: was it committing a message? Then that sequence number
// is in doubt (the message may be in the queue or not), and the next
// incarnation starts after it.
void Controller::settle_producer(std::uint32_t p) {
  ProducerState& s = shared_.ledger->producers[p];
  const std::uint64_t next = s.next.load(kRelaxed);
  if (s.attempting.load(kRelaxed) == next + 1) {
    in_doubt_.push_back({p, next});
    s.next.store(next + 1, kRelaxed);
  }
  s.attempting.store(0, kRelaxed);
}

// A dead consumer: did it die between a record and the end of its ack?
// Either the ack happened (one record) or the message comes again (marked
// redelivered then): mark it redelivered now, which fits both.
void Controller::settle_consumer(std::uint32_t slot) {  // NOLINT(readability-make-member-function-const): writes the ledger
  std::atomic<std::uint64_t>& unsettled = shared_.ledger->workers[slot].unsettled;
  if (const std::uint64_t index = unsettled.load(kRelaxed); index != 0) {
    shared_.records[index - 1] |= RecordCell::kRedelivered;
    unsettled.store(0, kRelaxed);
  }
}

std::string Controller::name(const Worker& w) const {
  if (w.role == Role::Producer) return "producer " + std::to_string(w.slot);
  if (w.role == Role::Keeper) return "dead-letter keeper";
  return std::string("consumer ") + kGroupNames[w.group] + "#" +
         std::to_string(w.slot - consumer_slot(shape_, w.group, 0));
}

std::size_t Controller::alive(Role role) const {
  return static_cast<std::size_t>(
      std::count_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.role == role && w.pid > 0; }));
}

void Controller::fail(const std::string& what) {
  if (report_.failures.size() < 100) std::fprintf(stderr, "shmq-chaos: FAIL: %s\n", what.c_str());
  report_.failures.push_back(what);
}

ChaosReport run_chaos(const ChaosOptions& options) {
  Controller controller(options);
  return controller.run();
}

}  // namespace shmq::chaos
