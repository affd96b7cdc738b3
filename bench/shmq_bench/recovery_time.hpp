// shmq-bench recovery: how long the messages of a consumer that dies (kill -9)
// or hangs (SIGSTOP) take to reach another consumer, with the real shmqd
// watching, against DESIGN.md section 5 (50 ms; heartbeat timeout + 50 ms).
// (Not "recovery.hpp": this directory is on the unit tests' include path, where
// that name is the library's lib/src/core/recovery.hpp.)
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace shmq_bench {

struct RecoveryOptions {
  std::uint32_t rounds = 20;                      // per scenario
  std::uint32_t leases = 16;                      // messages the victim holds
  std::chrono::milliseconds heartbeat_timeout{300};  // the SIGSTOPped victim's own
  std::string shmqd;                              // the daemon to start; "" finds it
  std::string ns;                                 // private namespace of the run
};

// Runs both scenarios and prints the table and the targets; returns the exit
// status (1 if a round failed: a message lost, a wrong delivery count).
int run_recovery(const RecoveryOptions& options);

}  // namespace shmq_bench
