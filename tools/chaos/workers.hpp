// shmq-chaos's worker processes: producers that number and checksum every
// message, consumers that check and record each one before they ack it, and
// the dead-letter keeper (keeper.cpp) that checks and records what reaches
// the dead-letter area, replays it when asked and frees room. The controller
// forks them; each runs one loop until asked to stop, fenced (kExitFenced) or
// killed, and the controller starts a new one in its slot.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ledger.hpp"
#include "shmq/config.hpp"

namespace shmq::chaos {

// What every worker needs to know, fixed for the whole run.
struct RunShape {
  std::string ns;
  std::string queue = "chaos";
  std::uint32_t producers = 2;
  std::uint32_t consumers_per_group = 2;
  std::uint64_t per_producer = 0;  // sequence numbers each producer may use (record map stride)
  std::uint32_t slot_size = 512;
  std::uint32_t rate = 0;  // messages per second per producer; 0: as fast as the queue takes them
  std::chrono::microseconds hold{100};  // consumers' mean processing time of the 1 in 16 they "process"
  std::chrono::milliseconds heartbeat_interval{50};
  std::chrono::milliseconds heartbeat_timeout{500};
};

// The ledger and its record map, mapped before the fork.
struct SharedLedger {
  Ledger* ledger = nullptr;
  std::uint8_t* records = nullptr;  // kGroups x producers x per_producer cells

  [[nodiscard]] static std::uint64_t index(const RunShape& shape, std::uint32_t g, std::uint32_t p,
                                           std::uint64_t seq) noexcept {
    return (static_cast<std::uint64_t>(g) * shape.producers + p) * shape.per_producer + seq;
  }
  [[nodiscard]] std::uint8_t* cell(const RunShape& shape, std::uint32_t g, std::uint32_t p,
                                   std::uint64_t seq) const noexcept {
    return records + index(shape, g, p, seq);
  }
};

// The session settings of every worker: the run's namespace and heartbeats.
[[nodiscard]] ClientOptions client_options(const RunShape& shape);

// Worker exit codes besides 0 (stopped when asked) and 1 (an error, printed).
inline constexpr int kExitFenced = 10;  // the watchdog declared it dead: start a new one

// Worker slots in the ledger: producers first, then the consumers of group 0, 1, ...
[[nodiscard]] inline std::uint32_t consumer_slot(const RunShape& s, std::uint32_t g, std::uint32_t i) noexcept {
  return s.producers + g * s.consumers_per_group + i;
}

int run_producer(const RunShape& shape, const SharedLedger& shared, std::uint32_t p);
int run_consumer(const RunShape& shape, const SharedLedger& shared, std::uint32_t g, std::uint32_t slot);

// The payload every producer writes: checksum (FNV-1a of all that follows),
// producer, length, sequence, the message id the loan announced, then filler
// derived from them; exposed for the payload tests.
inline constexpr std::size_t kPayloadHeader = 32;
[[nodiscard]] std::size_t payload_length(std::uint32_t p, std::uint64_t seq, std::uint32_t slot_size) noexcept;
void write_payload(std::span<std::byte> out, std::uint32_t p, std::uint64_t seq, std::uint64_t id) noexcept;
struct Origin {
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;
  std::uint64_t id = 0;
};
// The origin of a received payload, or false if its size or checksum is wrong.
[[nodiscard]] bool read_payload(std::span<const std::byte> in, Origin& origin) noexcept;
// True if `in` is an intact payload of a producer and sequence number of this
// run carrying message id `id` (redeliveries and replays keep the id).
[[nodiscard]] bool valid_payload(const RunShape& shape, std::span<const std::byte> in, std::uint64_t id,
                                 Origin& origin) noexcept;

}  // namespace shmq::chaos
