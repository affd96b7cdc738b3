// The transports shmq-bench compares: shmq with each wait strategy, the raw
// floors (a cache line, a futex) and the kernel's IPC (Unix sockets, pipes,
// POSIX and Boost message queues), each as a two-process ping-pong channel.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace shmq_bench {

// A message carries its sequence number in its first 4 bytes; this one ends a round.
inline constexpr std::uint32_t kStop = UINT32_MAX;
inline constexpr std::uint64_t kMinMessageSize = 8;

// One side of a ping-pong, opened in its own process after the fork.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Sends a message of the channel's size that carries `seq`.
  virtual void send(std::uint32_t seq) = 0;
  // Waits for the next message and returns its seq. Throws if the peer does
  // not answer within seconds (it died), so no round can hang.
  [[nodiscard]] virtual std::uint32_t receive() = 0;
};

enum class Side { Ping, Echo };

// What both processes of a ping-pong share, created by the parent before it
// forks them; destroying it removes what it created.
class Channel {
 public:
  virtual ~Channel() = default;
  [[nodiscard]] virtual std::unique_ptr<Endpoint> open(Side side) = 0;
};

struct ChannelSpec {
  std::string transport;
  std::uint64_t size = 64;
  std::uint32_t groups = 1;  // shmq only: the ping queue fans out to this many groups
  std::string ns;            // shmq namespace; the name prefix of every other object
};

// A transport that cannot run here (e.g. a POSIX queue message above the
// system's limit): the run goes on without it and says why.
class Unsupported : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Every latency transport, in the order the table shows them.
[[nodiscard]] const std::vector<std::string>& latency_transports();
[[nodiscard]] bool is_shmq(const std::string& transport);
[[nodiscard]] bool is_floor(const std::string& transport);

// Throws Unsupported, or std::runtime_error for a setup failure.
[[nodiscard]] std::unique_ptr<Channel> make_channel(const ChannelSpec& spec);

}  // namespace shmq_bench
