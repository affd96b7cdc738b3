// What the files of shmq-bench's transports share, not part of transports.hpp:
//   transports.cpp         the list of transports and make_channel
//   transports_floor.cpp   the floors: one cache line each way, with and without a futex
//   transports_shmq.cpp    shmq with each wait strategy
//   transports_stream.cpp  byte streams: Unix sockets and pipes
//   transports_mq.cpp      message queues: POSIX and Boost.Interprocess
#pragma once

#include "transports.hpp"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace shmq_bench {

// How long a receive waits before it decides the peer is gone.
inline constexpr std::chrono::seconds kPeerTimeout{10};

[[noreturn]] inline void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

inline std::uint32_t seq_of(const void* message) noexcept {
  std::uint32_t seq = 0;
  std::memcpy(&seq, message, sizeof seq);
  return seq;
}

// Busy-wait bookkeeping: throws once kPeerTimeout has passed (checked every
// few thousand spins, so the clock stays off the fast path).
class SpinDeadline {
 public:
  void tick() {
    if (++spins_ % 4096 != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (start_ == std::chrono::steady_clock::time_point{}) start_ = now;
    if (now - start_ > kPeerTimeout) throw std::runtime_error("no answer from the other process for 10 s");
  }

 private:
  std::uint64_t spins_ = 0;
  std::chrono::steady_clock::time_point start_{};
};

// The "-spin" variants of the kernel's IPC poll a non-blocking descriptor.
inline bool spins(const std::string& transport) { return transport.ends_with("-spin"); }

// The channel of each family, one per file; make_channel picks among them.
[[nodiscard]] std::unique_ptr<Channel> make_floor_channel(bool use_futex);
[[nodiscard]] std::unique_ptr<Channel> make_shmq_channel(const ChannelSpec& spec);
[[nodiscard]] std::unique_ptr<Channel> make_uds_channel(const ChannelSpec& spec);
[[nodiscard]] std::unique_ptr<Channel> make_pipe_channel(const ChannelSpec& spec);
[[nodiscard]] std::unique_ptr<Channel> make_posix_mq_channel(const ChannelSpec& spec);
[[nodiscard]] std::unique_ptr<Channel> make_boost_mq_channel(const ChannelSpec& spec);

}  // namespace shmq_bench
