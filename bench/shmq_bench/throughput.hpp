// shmq-bench throughput: producers stream messages to consumers as fast as
// they can, with acks; shmq against a Unix stream socket in the same run.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shmq/config.hpp"

namespace shmq_bench {

struct ThroughputOptions {
  std::vector<std::uint64_t> sizes{64, 4096};
  std::uint32_t producers = 1;
  std::uint32_t consumers = 1;
  std::uint64_t messages = 2'000'000;  // per transport and size, over all rounds
  std::uint32_t rounds = 4;            // transports interleaved round by round
  std::uint32_t capacity = 1024;       // shmq queue slots
  std::optional<shmq::WaitStrategy> wait;  // default: spin if everyone has a core, else adaptive
  std::array<int, 2> cpus{-1, -1};     // producer, consumer (1 -> 1 only)
  std::string ns;
  std::string json;
};

int run_throughput(const ThroughputOptions& options);

}  // namespace shmq_bench
