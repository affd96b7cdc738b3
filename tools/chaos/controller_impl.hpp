// The controller of one shmq-chaos run, shared by its three files:
//   controller.cpp  set-up, the event pump, shmqd and the worker processes
//   faults.cpp      the fault schedule and each fault
//   finish.cpp      drain, checks, teardown and the summary line
// One thread; the workers are forked processes it reaps through a signalfd.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <sys/types.h>

#include "checks.hpp"
#include "controller.hpp"
#include "daemon_process.hpp"
#include "shmq/admin/namespace.hpp"

namespace shmq::chaos {

using Clock = std::chrono::steady_clock;

// How long shmqd may take to get ready, and processes to stop when asked.
inline constexpr std::chrono::seconds kDaemonStartLimit{30};
inline constexpr std::chrono::seconds kStopLimit{30};

enum class Role : std::uint8_t { Producer, Consumer, Keeper };

struct Worker {
  Role role = Role::Producer;
  std::uint32_t group = 0;  // consumers: the group they consume
  std::uint32_t slot = 0;   // producers and consumers: the ledger slot; producers: also the producer number
  pid_t pid = -1;
  bool killed = false;   // we sent SIGKILL
  bool stopped = false;  // we sent SIGSTOP, SIGCONT due at resume_at
  Clock::time_point resume_at{};
};

class Controller {
 public:
  explicit Controller(const ChaosOptions& o);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  ChaosReport run();

 private:
  // controller.cpp
  void map_ledger();
  void pump(Clock::time_point until);
  template <class Done>
  bool wait_for(Done done, Clock::time_point deadline, std::chrono::milliseconds period = std::chrono::milliseconds(100));
  void reap();
  void start_daemon();
  void resume_daemon();
  void on_daemon_exit(int status);
  void start_worker(Worker& w);
  [[nodiscard]] int run_worker(const Worker& w) const;
  void on_worker_exit(Worker& w, int status);
  void settle_producer(std::uint32_t p);
  void settle_consumer(std::uint32_t slot);
  [[nodiscard]] std::string name(const Worker& w) const;
  [[nodiscard]] std::size_t alive(Role role) const;
  void fail(const std::string& what);

  // faults.cpp
  void inject_faults(Clock::time_point end);
  void inject_one();
  std::chrono::milliseconds stop_length();
  Worker* random_worker(Role role, bool not_stopped);
  static void kill_worker(Worker* w, std::uint64_t& counter);
  void stop_worker(Worker* w);
  void purge();
  [[nodiscard]] bool daemon_quiet() const noexcept;
  [[nodiscard]] std::string progress() const;

  // finish.cpp
  void drain();
  bool queue_quiet();
  void check();
  void check_dead_letters();
  void sum_counters();
  void check_records();
  void teardown();

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
  std::vector<PurgeRecord> purges_;
  std::uint64_t amo_consumer_losses_ = 0;  // at-most-once consumer incarnations killed or fenced
  std::uint64_t replays_cut_ = 0;          // keeper incarnations killed or fenced
  std::optional<admin::Queue> queue_;
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

// Pumps until `done()` or `deadline` or an interrupt; true if done.
template <class Done>
bool Controller::wait_for(Done done, Clock::time_point deadline, std::chrono::milliseconds period) {
  while (!done()) {
    if (interrupted_ || Clock::now() >= deadline) return false;
    pump(std::min(deadline, Clock::now() + period));
  }
  return true;
}

}  // namespace shmq::chaos
