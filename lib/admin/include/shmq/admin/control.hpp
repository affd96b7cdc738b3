// The control protocol between shmqd and its clients (libshmq's Client,
// shmq-cli, shmq-chaos): one definition of the socket, the messages and their
// encoding, used by both sides, and the client end of the socket.
//
// Socket
//   A Unix domain socket, SOCK_SEQPACKET, at /dev/shm/shmq.<ns>.shmqd.sock
//   (namespace_prefix(ns) + "shmqd.sock": the namespace is in the path).
//   shmqd creates it at start (removing a stale file a dead daemon left; its
//   instance lock proves no live daemon owns it) with mode 0666: every local
//   user may connect, and each request is authorised on its own from the
//   peer's credentials (SO_PEERCRED, SO_PEERGROUPS).
//
// Messages
//   One JSON object per packet (SEQPACKET keeps message boundaries), UTF-8,
//   at most kMaxControlMessage bytes; one reply per request, in order. A
//   client may send several requests on one connection; shmqd closes every
//   connection kControlConnectionLifetime after accepting it (its config
//   control_connection_lifetime_ms), whatever it sent: send the requests at
//   once after connecting. Past its per-uid cap (control_connections_per_uid)
//   or the global one, a new connection gets a daemon_unavailable reply and
//   is closed.
//
//   Requests (unknown keys are refused, so a typo never passes silently):
//     {"op":"create","queue":"q","config":{
//        "capacity":1024,"slot_size":4096,"dlq_capacity":64,"mode":"0600",
//        "groups":[{"name":"default","delivery":"at-least-once",
//                   "max_deliveries":5,"lease_timeout_ms":30000}]}}
//       Every key of "config" and of a group but a group's "name" is
//       optional and defaults to QueueConfig's default; "mode" is an octal
//       string ("0640") or its integer value. The segment gets the
//       requester's uid as owner, the requested mode, and as group the
//       configured owner_group of a queue in shmqd's config, else the
//       requester's gid.
//     {"op":"delete","queue":"q"}
//     {"op":"purge","queue":"q"}
//       Allowed to the segment's owner uid, a member of its group, or root.
//     {"op":"ping"}
//       Anyone: is shmqd serving? Changes nothing; shmqd logs it at debug
//       level only (`shmq-cli wait-ready` polls with it).
//
//   Replies:
//     {"ok":true}                                            create, delete
//     {"ok":true,"pid":4242}                                 ping: shmqd's pid
//     {"ok":true,"purged":7,"groups":[{"name":"default","ready":5,"pending":2}]}
//                                          purge; purged sums over the groups
//     {"ok":false,"code":"permission_denied","error":"permission denied: ..."}
//       code: an errc name (errc_name below); error: one line that says what
//       to do. Malformed JSON, an unknown op, a missing or mistyped field, a
//       bad name or an oversized packet get code "invalid_argument".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmq/config.hpp"
#include "shmq/error.hpp"

namespace shmq::admin {

inline constexpr std::size_t kMaxControlMessage = std::size_t{64} * 1024;
inline constexpr std::chrono::seconds kControlConnectionLifetime{5};  // shmqd's default

// "/dev/shm/shmq.<ns>.shmqd.sock"
std::string control_socket_path(const std::string& ns);

enum class ControlOp : std::uint8_t { Create, Delete, Purge, Ping };

struct ControlRequest {
  ControlOp op = ControlOp::Create;
  std::string queue;   // all but ping
  QueueConfig config;  // create only
};

struct PurgedGroup {
  std::string name;
  std::uint64_t ready = 0;
  std::uint64_t pending = 0;
};

struct ControlReply {
  bool ok = false;
  errc code = errc::system_error;  // !ok
  std::string error;               // !ok: one line that says what to do
  std::uint64_t purged = 0;        // purge: drops summed over the groups
  std::vector<PurgedGroup> groups;  // purge: per group
  std::uint64_t pid = 0;           // ping: shmqd's pid
};

const char* op_name(ControlOp op) noexcept;

// The stable text of an errc ("permission_denied"), and back.
const char* errc_name(errc e) noexcept;
std::optional<errc> errc_from_name(std::string_view name) noexcept;

std::string encode_request(const ControlRequest& r);
// Parses and type-checks a request (not the values: make_queue_params does
// that). Throws Error(errc::invalid_argument) naming the bad field.
ControlRequest decode_request(std::string_view text);

std::string encode_reply(const ControlReply& r);
// Throws Error(errc::system_error) if `text` is not a reply.
ControlReply decode_reply(std::string_view text);

// ---- the client end: one request, one reply, bounded in time ---------------

inline constexpr std::chrono::milliseconds kDefaultDaemonTimeout{10'000};

// Sends `request` to the shmqd of namespace `ns` and returns its reply (ok or
// not). std::nullopt when no shmqd listens: the socket file is missing
// (ENOENT) or nobody accepts on it (ECONNREFUSED: a dead daemon's leftover).
// Connect, send and receive together take at most `timeout`; past it throws
// Error(errc::timeout) (a stopped or stuck daemon never hangs the caller).
// Other failures throw Error: permission_denied (the socket refuses this
// user), daemon_unavailable (the daemon hung up without a reply),
// system_error (a socket call failed; the message names it).
std::optional<ControlReply> call_daemon(const std::string& ns, const ControlRequest& request,
                                        std::chrono::milliseconds timeout = kDefaultDaemonTimeout);

// errc::daemon_unavailable: "no shmqd in namespace X: start `shmqd --namespace X`".
Error no_daemon_error(const std::string& ns);

}  // namespace shmq::admin
