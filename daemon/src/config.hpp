// shmqd's configuration: the TOML file (schema in daemon/shmqd.example.toml)
// and its validation. Every error names the file, line, column and dotted key,
// and says what is expected, so a bad config stops shmqd before it creates
// anything.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "shmq/admin/control.hpp"
#include "shmq/config.hpp"

namespace shmq::daemon {

// The control socket's global connection cap (ControlServer), and so the
// largest per-uid cap.
inline constexpr std::size_t kMaxControlConnections = 64;

// A queue shmqd creates at start if it does not exist.
struct QueueDefinition {
  std::string name;
  QueueConfig config;
  std::optional<gid_t> owner_group;  // the segment is chowned to root:<group>
  std::string owner_group_name;      // as written in the file (for messages)
};

struct DaemonConfig {
  // shmqd's own session: it beats every heartbeat_interval and declares
  // heartbeat_timeout (kMinHeartbeatTimeout..kMaxHeartbeatTimeout) in its
  // registry entry, which the tools use to call a stalled shmqd hung. Every
  // client declares its own (ClientOptions): these two never apply to others.
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds heartbeat_timeout{2000};
  // How often the watchdog scans heartbeats and lease deadlines.
  std::chrono::milliseconds scan_period{10};
  // Who may attach: every process of the namespace opens the registry
  // read-write, so a namespace shared by several users needs its mode (e.g.
  // 0660 with registry_group, or 0666). shmqd applies both at start.
  unsigned registry_mode = 0600;
  std::optional<gid_t> registry_group;
  std::string registry_group_name;  // as written in the file (for messages)
  // The control socket (control.hpp): at most this many connections of one
  // uid at once (1..kMaxControlConnections; root is not capped), and each
  // connection is closed this long after shmqd accepted it, whatever it sent
  // (100 ms..1 h).
  std::size_t control_connections_per_uid = 8;
  std::chrono::milliseconds control_connection_lifetime{admin::kControlConnectionLifetime};
  std::vector<QueueDefinition> queues;  // in the order of the file
};

// A bad config file. what() is one line:
//   "shmqd.toml:12:13: queues.orders.capacity: capacity 1000 is invalid: ..."
// Control characters the file put in it (a key, a value, the parser's quote
// of the text) are escaped as \xNN, so it stays one line.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& what);
};

// Reads and validates `path`. Throws ConfigError (also when the file cannot be read).
DaemonConfig load_config(const std::string& path);

// Validates TOML text; `source_name` names it in error messages.
DaemonConfig parse_config(std::string_view text, const std::string& source_name);

}  // namespace shmq::daemon
