// Settings of queues, clients and waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace shmq {

enum class DeliveryMode : std::uint8_t {
  AtLeastOnce,  // consumers ack; what a dead, hung or nacking consumer held is delivered again
  AtMostOnce,   // released when the consumer lets go; lost if the consumer crashes
};

struct GroupConfig {
  std::string name = "default";  // [A-Za-z0-9._-]{1,64}
  DeliveryMode mode = DeliveryMode::AtLeastOnce;
  // Deliveries before a message goes to the dead-letter area (1..4095).
  std::uint32_t max_deliveries = 5;
  // How long a consumer may hold a message before it is delivered again
  // (at-least-once only; extend with Message::extend_lease).
  std::chrono::milliseconds lease_timeout{30'000};
};

struct QueueConfig {
  std::uint32_t capacity = 1024;   // slots: a power of two, 1..2^24
  std::uint32_t slot_size = 4096;  // payload bytes per slot, 1..2^30
  std::vector<GroupConfig> groups{GroupConfig{}};  // 1..16, distinct names
  std::uint32_t dlq_capacity = 64;  // dead letters kept (0..2^24), each slot_size bytes
  unsigned mode = 0600;             // permission bits of the segment
};

// How a consumer waits for a message, or a producer for a free slot.
enum class WaitStrategy : std::uint8_t {
  BusySpin,   // lowest latency; burns a core while waiting
  SpinYield,  // spin a little, then sched_yield between checks
  Park,       // sleep on a futex at once; woken by the other side
  Adaptive,   // spin for WaitOptions::spin, then park
};

struct WaitOptions {
  WaitStrategy strategy = WaitStrategy::Adaptive;
  std::chrono::nanoseconds spin{50'000};  // Adaptive: how long to spin before parking
};

// Bounds of a session's heartbeat timeout: ClientOptions::heartbeat_timeout
// and shmqd's [daemon] heartbeat_timeout_ms are refused outside them, and the
// watchdog clamps what a session's registry entry declares to them (so no
// entry can ask for 0 ms, or for never).
inline constexpr std::chrono::milliseconds kMinHeartbeatTimeout{100};
inline constexpr std::chrono::milliseconds kMaxHeartbeatTimeout{24 * 3600 * 1000};

struct ClientOptions {
  std::string ns;  // namespace; empty: $SHMQ_NAMESPACE, else "default"
  // How often the background thread bumps this session's heartbeat, and how
  // long without one before the watchdog declares this session hung and
  // fences it. Each session declares its own timeout in its registry entry:
  // this one applies to this client, shmqd's heartbeat_timeout_ms only to
  // shmqd's own session. kMinHeartbeatTimeout..kMaxHeartbeatTimeout, above
  // the interval.
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds heartbeat_timeout{2'000};
  // How long a request to shmqd (create, delete, purge) may take, connect to
  // reply, before it fails with errc::timeout.
  std::chrono::milliseconds daemon_timeout{10'000};
  // When no shmqd answers: false (daemonless use) lets create_queue and
  // delete_queue act on /dev/shm directly; true makes them fail with
  // errc::daemon_unavailable instead, so a queue is never made behind the
  // daemon's back (its permission checks, its owner groups).
  bool require_daemon = false;
};

// Forever, for the blocking calls.
inline constexpr std::chrono::nanoseconds kForever = std::chrono::nanoseconds::max();

}  // namespace shmq
