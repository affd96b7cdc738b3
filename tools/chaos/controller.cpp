#include "controller.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/inspect.hpp"
#include "core/recovery.hpp"
#include "daemon_process.hpp"
#include "os/os.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"

namespace shmq::chaos {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr auto kDaemonStartLimit = 30s;
constexpr auto kStopLimit = 30s;
constexpr auto kDrainCheckPeriod = 50ms;
constexpr auto kProgressPeriod = 10s;
constexpr auto kMaxDaemonDowntime = 300ms;

enum class Role { Producer, Consumer };

struct Worker {
  Role role = Role::Producer;
  std::uint32_t group = 0;  // consumers: the group they consume
  std::uint32_t slot = 0;   // the ledger slot; producers: also the producer number
  pid_t pid = -1;
  bool killed = false;   // we sent SIGKILL
  bool stopped = false;  // we sent SIGSTOP, SIGCONT due at resume_at
  Clock::time_point resume_at{};
};

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
    << "capacity = 1024\nslot_size = " << o.shape.slot_size << "\ndlq_capacity = 16\n";
  // A lease longer than any stop, one shorter than the heartbeat timeout (a
  // stopped consumer's lease expires before it is fenced), and at-most-once.
  const std::chrono::milliseconds leases[kGroups] = {o.shape.heartbeat_timeout * 10, o.shape.heartbeat_timeout / 2,
                                                     o.shape.heartbeat_timeout};
  for (std::uint32_t g = 0; g < kGroups; ++g) {
    t << "\n[[queues." << o.shape.queue << ".groups]]\nname = \"" << kGroupNames[g] << "\"\n"
      << "delivery = \"" << (kAtMostOnce[g] ? "at-most-once" : "at-least-once") << "\"\n"
      << "max_deliveries = 4095\nlease_timeout_ms = " << leases[g].count() << "\n";
  }
  return t.str();
}

class Controller {
 public:
  explicit Controller(const ChaosOptions& o)
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
  }

  ~Controller() {
    for (const Worker& w : workers_)
      if (w.pid > 0) ::kill(w.pid, SIGKILL);
    if (daemon_.running()) daemon_.signal(SIGKILL);
    while (::waitpid(-1, nullptr, 0) > 0) {
    }
    if (signal_fd_ >= 0) ::close(signal_fd_);
    if (ledger_bytes_ != 0) ::munmap(shared_.ledger, ledger_bytes_);
    ::unlink(config_path_.c_str());
  }
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  ChaosReport run() {
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

 private:
  // ---- the ledger ---------------------------------------------------------

  void map_ledger() {
    const std::uint64_t records = std::uint64_t{kGroups} * shape_.producers * shape_.per_producer;
    ledger_bytes_ = sizeof(Ledger) + records;
    void* p = ::mmap(nullptr, ledger_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (p == MAP_FAILED) {
      ledger_bytes_ = 0;
      throw Error(errc::system_error, "cannot map the ledger (" + std::to_string(records) +
                                          " bytes for --max-messages): " + detail::errno_text(errno));
    }
    shared_.ledger = new (p) Ledger{};  // NOLINT(cppcoreguidelines-owning-memory): placement into the mapping; munmap frees it
    shared_.records = static_cast<std::uint8_t*>(p) + sizeof(Ledger);
  }

  // ---- events -------------------------------------------------------------

  // Handles what happens until `until` (child exits, shmqd output, signals).
  void pump(Clock::time_point until) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    // poll skips the negative descriptors of pipes already closed.
    pollfd fds[3] = {{signal_fd_, POLLIN, 0}, {daemon_.output_fd(), POLLIN, 0}, {daemon_.ready_fd(), POLLIN, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (n < 0 && errno != EINTR) fail("poll: " + detail::errno_text(errno));
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

  // Pumps until `done()` or `deadline` or an interrupt; true if done.
  template <class Done>
  bool wait_for(Done done, Clock::time_point deadline, std::chrono::milliseconds period = 100ms) {
    while (!done()) {
      if (interrupted_ || Clock::now() >= deadline) return false;
      pump(std::min(deadline, Clock::now() + period));
    }
    return true;
  }

  void reap() {
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

  // ---- shmqd --------------------------------------------------------------

  void start_daemon() {
    std::fflush(nullptr);
    daemon_.start();
    if (daemon_started_++ > 0) ++report_.daemon_restarts;
  }

  void resume_daemon() {
    if (daemon_.running()) (void)daemon_.signal(SIGCONT);
    daemon_stopped_ = false;
  }

  void on_daemon_exit(int status) {
    const std::string tail = daemon_.tail();
    daemon_.exited();
    daemon_stopped_ = false;
    const bool expected = daemon_signalled_ || tearing_down_;
    daemon_signalled_ = false;
    if (!expected) fail("shmqd " + describe_exit(status) + " on its own: " + tail);
    daemon_restart_at_ = Clock::now() + std::uniform_int_distribution<int>(0, kMaxDaemonDowntime.count())(rng_) * 1ms;
  }

  // ---- workers ------------------------------------------------------------

  void start_worker(Worker& w) {
    std::fflush(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      fail("fork: " + detail::errno_text(errno));
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
      code = w.role == Role::Producer ? run_producer(shape_, shared_, w.slot)
                                      : run_consumer(shape_, shared_, w.group, w.slot);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shmq-chaos: %s (pid %d): %s\n", name(w).c_str(), static_cast<int>(::getpid()),
                   e.what());
    }
    std::fflush(nullptr);
    std::_Exit(code);  // the controller's destructors are not ours to run
  }

  void on_worker_exit(Worker& w, int status) {
    const bool killed_by_us = w.killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    const pid_t pid = w.pid;
    w.pid = -1;
    w.killed = w.stopped = false;
    if (w.role == Role::Producer) settle_producer(w.slot);
    if (w.role == Role::Consumer) settle_consumer(w.slot);
    // An at-most-once consumer that did not stop when asked may have taken
    // one message with it (each holds at most one).
    if (w.role == Role::Consumer && kAtMostOnce[w.group] && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
      ++amo_consumer_losses_;
    const bool asked_to_stop =
        w.role == Role::Producer ? shared_.ledger->stop_producers.load(kRelaxed) != 0
                                 : shared_.ledger->stop_consumers.load(kRelaxed) != 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      if (!asked_to_stop && w.role == Role::Consumer) fail(name(w) + " stopped unasked");
      if (!asked_to_stop && w.role == Role::Producer)  // not a failure, but the load is gone
        std::fprintf(stderr, "shmq-chaos: %s used its %llu sequence numbers: raise --max-messages\n",
                     name(w).c_str(), static_cast<unsigned long long>(shape_.per_producer));
      return;
    }
    const bool fenced = WIFEXITED(status) && WEXITSTATUS(status) == kExitFenced;
    if (!killed_by_us && !fenced) fail(name(w) + " (pid " + std::to_string(pid) + ") " + describe_exit(status));
    if (!asked_to_stop && !tearing_down_) start_worker(w);
  }

  // A dead producer: was it committing a message? Then that sequence number
  // is in doubt (the message may be in the queue or not), and the next
  // incarnation starts after it.
  void settle_producer(std::uint32_t p) {
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
  void settle_consumer(std::uint32_t slot) {  // NOLINT(readability-make-member-function-const): writes the ledger
    std::atomic<std::uint64_t>& unsettled = shared_.ledger->workers[slot].unsettled;
    if (const std::uint64_t index = unsettled.load(kRelaxed); index != 0) {
      shared_.records[index - 1] |= RecordCell::kRedelivered;
      unsettled.store(0, kRelaxed);
    }
  }

  [[nodiscard]] std::string name(const Worker& w) const {
    if (w.role == Role::Producer) return "producer " + std::to_string(w.slot);
    return std::string("consumer ") + kGroupNames[w.group] + "#" +
           std::to_string(w.slot - consumer_slot(shape_, w.group, 0));
  }

  // ---- faults -------------------------------------------------------------

  void inject_faults(Clock::time_point end) {
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
  std::chrono::milliseconds stop_length() {
    return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(
        shape_.heartbeat_timeout.count() / 4, shape_.heartbeat_timeout.count() * 3)(rng_));
  }

  void inject_one() {
    // Weights: kill a consumer 4, kill a producer 2, stop one 3, kill -9
    // shmqd 1, SIGTERM shmqd 1, SIGSTOP shmqd 1.
    const int pick = std::uniform_int_distribution<int>(0, o_.daemon_faults ? 11 : 8)(rng_);
    if (pick < 4) {
      if (Worker* w = random_worker(Role::Consumer, false)) kill_worker(*w, report_.consumer_kills);
    } else if (pick < 6) {
      if (Worker* w = random_worker(Role::Producer, false)) kill_worker(*w, report_.producer_kills);
    } else if (pick < 9) {
      Worker* w = random_worker(std::uniform_int_distribution<int>(0, 1)(rng_) == 0 ? Role::Producer : Role::Consumer,
                                true);
      if (w != nullptr && ::kill(w->pid, SIGSTOP) == 0) {
        w->stopped = true;
        w->resume_at = Clock::now() + stop_length();
        ++report_.stops;
      }
    } else if (pick == 11) {
      if (daemon_.running() && !daemon_signalled_ && !daemon_stopped_ && daemon_.signal(SIGSTOP)) {
        daemon_stopped_ = true;
        daemon_resume_at_ = Clock::now() + stop_length();
        ++report_.daemon_stops;
      }
    } else if (daemon_.running() && !daemon_signalled_) {
      const int signo = pick == 9 ? SIGKILL : SIGTERM;
      if (daemon_.signal(signo)) {
        daemon_signalled_ = true;
        ++(signo == SIGKILL ? report_.daemon_kills : report_.daemon_terms);
      }
    }
  }

  Worker* random_worker(Role role, bool not_stopped) {
    std::vector<Worker*> pool;
    for (Worker& w : workers_)
      if (w.role == role && w.pid > 0 && !w.killed && !(not_stopped && w.stopped)) pool.push_back(&w);
    if (pool.empty()) return nullptr;
    return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng_)];
  }

  static void kill_worker(Worker& w, std::uint64_t& counter) {
    if (::kill(w.pid, SIGKILL) != 0) return;
    w.killed = true;
    ++counter;
  }

  // ---- drain, checks, teardown ---------------------------------------------

  // Stops the faults and the producers, lets the consumers empty the queue,
  // then stops them.
  void drain() {
    for (Worker& w : workers_)
      if (w.stopped && w.pid > 0 && ::kill(w.pid, SIGCONT) == 0) w.stopped = false;
    if (daemon_stopped_) resume_daemon();
    shared_.ledger->stop_producers.store(1, std::memory_order_release);
    const Clock::time_point deadline = Clock::now() + o_.drain_timeout;
    daemon_restart_at_ = Clock::now();  // no more downtime
    const bool producers_done = wait_for([&] { return alive(Role::Producer) == 0; }, deadline);
    if (!producers_done && !interrupted_) fail("producers did not stop within the drain timeout");
    try {
      queue_ = detail::open_queue_segment(shape_.ns, shape_.queue);
    } catch (const Error& e) {
      fail(std::string("cannot open the queue to drain it: ") + e.what());
      return;
    }
    const bool drained =
        wait_for([&] { return daemon_.ready() && queue_quiet(); }, deadline, kDrainCheckPeriod);
    if (!drained && !interrupted_)
      fail("the queue did not drain within " + std::to_string(o_.drain_timeout.count()) + " s: " + last_stats_);
    shared_.ledger->stop_consumers.store(1, std::memory_order_release);
    if (!wait_for([&] { return alive(Role::Consumer) == 0; }, Clock::now() + kStopLimit) && !interrupted_)
      fail("consumers did not stop within " + std::to_string(kStopLimit.count()) + " s");
  }

  [[nodiscard]] std::size_t alive(Role role) const {
    return static_cast<std::size_t>(
        std::count_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.role == role && w.pid > 0; }));
  }

  // True when no slot is loaned, quarantined, ready, leased or pending.
  bool queue_quiet() {
    const detail::QueueStats st = detail::queue_stats(queue_->view);
    std::ostringstream s;
    s << "loaned " << st.loaned << ", quarantined " << st.quarantined;
    bool quiet = st.loaned == 0 && st.quarantined == 0;
    for (const detail::GroupStats& g : st.groups) {
      s << "; " << g.name << ": ready " << g.ready << ", leased " << g.leased << ", pending " << g.pending;
      quiet = quiet && g.ready == 0 && g.leased == 0 && g.pending == 0;
    }
    last_stats_ = s.str();
    return quiet;
  }

  // The slot audit and the ledger, once every worker is gone.
  void check() {
    sum_counters();
    if (!queue_) return;
    const detail::AuditReport audit = detail::audit(queue_->view);
    for (const std::string& p : audit.problems) fail("audit: " + p);
    const detail::QueueStats st = detail::queue_stats(queue_->view);
    report_.leaked += st.capacity - st.free;
    if (st.capacity != st.free) fail("audit: " + std::to_string(st.capacity - st.free) + " slots not free: " + last_stats_);
    if (st.dead_letters != 0) fail(std::to_string(st.dead_letters) + " messages went to the dead-letter area");
    check_records();
  }

  void sum_counters() {
    for (const Worker& w : workers_) {
      const WorkerCounters& c = shared_.ledger->workers[w.slot];
      report_.deliveries += c.received.load(kRelaxed);
      report_.redeliveries += c.redelivered.load(kRelaxed);
      report_.nacks += c.nacked.load(kRelaxed);
      report_.lease_lost += c.lease_lost.load(kRelaxed);
      report_.corrupted += c.corrupted.load(kRelaxed);
      report_.fenced += c.fenced.load(kRelaxed);
    }
    report_.in_doubt = in_doubt_.size();
  }

  // Every committed message recorded by each at-least-once group, a second
  // record only where a redelivery explains it, none for a message never sent;
  // at-most-once messages missing only as many as its consumers died holding.
  void check_records() {
    std::sort(in_doubt_.begin(), in_doubt_.end());
    std::vector<std::uint64_t> next;
    for (std::uint32_t p = 0; p < shape_.producers; ++p) {
      next.push_back(shared_.ledger->producers[p].next.load(kRelaxed));
      report_.messages += next.back();
    }
    report_.messages -= in_doubt_.size();
    const RecordVerdict v = chaos::check_records(shape_, shared_, next, in_doubt_, amo_consumer_losses_);
    report_.lost += v.lost;
    report_.duplicates += v.duplicates;
    report_.corrupted += v.phantoms;
    report_.amo_dropped += v.amo_dropped;
    for (const std::string& s : v.samples) fail(s);
  }

  // Deletes the queue through shmqd, stops it, removes the registry and its
  // lock file: anything else left of the namespace leaked.
  void teardown() {
    tearing_down_ = true;
    if (daemon_stopped_) resume_daemon();
    for (const Worker& w : workers_)
      if (w.pid > 0) ::kill(w.pid, SIGKILL);
    wait_for([&] { return alive(Role::Producer) + alive(Role::Consumer) == 0; }, Clock::now() + kStopLimit);
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
    detail::Segment::remove(detail::registry_segment_name(shape_.ns));
    ::unlink(detail::namespace_lock_path(shape_.ns).c_str());
    ::unlink(("/dev/shm/" + detail::namespace_prefix(shape_.ns) + "shmqd.lock").c_str());
    const std::vector<std::string> left = detail::Segment::list(detail::namespace_prefix(shape_.ns));
    for (const std::string& object : left) {
      if (!interrupted_) {
        ++report_.leaked;
        fail("left behind after the teardown: /dev/shm/" + object);
      }
      detail::Segment::remove(object);
    }
  }

  [[nodiscard]] std::string progress() const {
    std::uint64_t committed = 0;
    std::uint64_t received = 0;
    for (const Worker& w : workers_) {
      committed += shared_.ledger->workers[w.slot].committed.load(kRelaxed);
      received += shared_.ledger->workers[w.slot].received.load(kRelaxed);
    }
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count();
    return "shmq-chaos: " + std::to_string(s) + " s: committed " + std::to_string(committed) + ", received " +
           std::to_string(received) + ", kills " + std::to_string(report_.consumer_kills + report_.producer_kills) +
           ", stops " + std::to_string(report_.stops) + ", shmqd restarts " + std::to_string(report_.daemon_restarts) +
           (report_.failures.empty() ? "" : ", FAILURES " + std::to_string(report_.failures.size()));
  }

  void fail(const std::string& what) {
    if (report_.failures.size() < 100) std::fprintf(stderr, "shmq-chaos: FAIL: %s\n", what.c_str());
    report_.failures.push_back(what);
  }

  ChaosOptions o_;
  RunShape shape_;
  std::string config_path_;
  DaemonProcess daemon_;
  std::mt19937_64 rng_;
  SharedLedger shared_;
  std::size_t ledger_bytes_ = 0;
  int signal_fd_ = -1;
  std::vector<Worker> workers_;
  std::vector<InDoubt> in_doubt_;
  std::uint64_t amo_consumer_losses_ = 0;  // at-most-once consumer incarnations killed or fenced
  std::optional<detail::MappedQueue> queue_;
  std::string last_stats_;
  ChaosReport report_;
  Clock::time_point start_{};
  Clock::time_point daemon_restart_at_{};
  int daemon_started_ = 0;
  bool daemon_signalled_ = false;
  bool daemon_stopped_ = false;  // we sent shmqd SIGSTOP, SIGCONT due at daemon_resume_at_
  Clock::time_point daemon_resume_at_{};
  bool tearing_down_ = false;
  bool interrupted_ = false;
};

}  // namespace

std::string ChaosReport::summary() const {
  char line[1024];
  std::snprintf(line, sizeof line,
                "shmq-chaos: %s %.0f s: messages=%llu deliveries=%llu kills=%llu (consumers %llu, producers %llu) "
                "stops=%llu fenced=%llu daemon_restarts=%llu (kill -9 %llu, SIGTERM %llu) daemon_stops=%llu redeliveries=%llu "
                "nacks=%llu in_doubt=%llu amo_dropped=%llu lost=%llu corrupted=%llu duplicates=%llu leaked=%llu",
                interrupted ? "INTERRUPTED" : passed() ? "PASS" : "FAIL", seconds,
                static_cast<unsigned long long>(messages), static_cast<unsigned long long>(deliveries),
                static_cast<unsigned long long>(consumer_kills) + producer_kills,
                static_cast<unsigned long long>(consumer_kills), static_cast<unsigned long long>(producer_kills),
                static_cast<unsigned long long>(stops), static_cast<unsigned long long>(fenced),
                static_cast<unsigned long long>(daemon_restarts), static_cast<unsigned long long>(daemon_kills),
                static_cast<unsigned long long>(daemon_terms), static_cast<unsigned long long>(daemon_stops),
                static_cast<unsigned long long>(redeliveries),
                static_cast<unsigned long long>(nacks), static_cast<unsigned long long>(in_doubt),
                static_cast<unsigned long long>(amo_dropped), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(corrupted), static_cast<unsigned long long>(duplicates),
                static_cast<unsigned long long>(leaked));
  return line;
}

ChaosReport run_chaos(const ChaosOptions& options) {
  Controller controller(options);
  return controller.run();
}

}  // namespace shmq::chaos
