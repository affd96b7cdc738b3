// shmqd's control server: the listening end of the control socket
// (protocol, path and limits: lib/admin/include/shmq/admin/control.hpp). Clients and
// shmq-cli ask it to create, delete and purge queues, or ping it (is shmqd
// serving? answered by anyone with its pid); it authorises each request by the
// peer's credentials:
//   create          any local user; the segment is chowned to the requester's
//                   uid, with the requested mode, and the group of the queue's
//                   owner_group in shmqd's config, else the requester's gid;
//   delete, purge   the segment's owner uid, a member of its group (primary or
//                   supplementary, from SO_PEERGROUPS), or root.
//
// Nothing a client does can block or crash the daemon: the sockets are
// non-blocking, a packet is read whole or refused (MSG_TRUNC shows an
// oversized one), every malformed request gets an error reply, a reply that
// cannot be sent at once closes the connection. Every request is logged in one
// line: peer pid and uid, op, queue, outcome (an answered ping at debug level).
//
// Nor can one user monopolise the socket:
//   - Caps: past kMaxConnections in all, or past the config's
//     control_connections_per_uid (8) for the peer's uid, a new connection
//     gets a daemon_unavailable reply and is closed; other uids are served.
//     Root is not capped per uid: it can stop shmqd or rewrite any segment
//     anyway, so a cap would protect nobody from it, and its own tools (the
//     service manager's checks, an administrator's shmq-cli) stay served when
//     other root processes hold connections. The global cap still bounds it.
//   - Lifetime: a connection is closed control_connection_lifetime (5 s)
//     after it was accepted, whatever it sends. An idle timeout restarted by
//     each packet let a trickle of `{}` (or of pings) hold a connection for
//     ever; a fixed lifetime cannot be stretched. Honest clients never meet
//     it: libshmq and shmq-cli connect, send one request at once, read the
//     reply and hang up. A request already waiting when the lifetime ends
//     (the loop was busy) is still answered before the close.
//
// Single-threaded: everything runs in the EventLoop's callbacks.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "config.hpp"
#include "shmq/admin/control.hpp"
#include "event_loop.hpp"
#include "queue_set.hpp"

namespace shmq::daemon {

class ControlServer {
 public:
  static constexpr std::size_t kMaxConnections = kMaxControlConnections;

  // Creates the socket at control_socket_path(ns) (replacing a stale one: the
  // caller holds the instance lock, so no live daemon owns it), mode 0666, and
  // registers on `loop`. Throws shmq::Error if the socket cannot be made.
  // `config` (owner groups of configured queues) and `queues` (the daemon's
  // mapped queues: purge goes through them, and a queue created or deleted
  // here is mapped or unmapped at once) must outlive the server.
  ControlServer(EventLoop& loop, std::string ns, const DaemonConfig& config, QueueSet& queues);
  // Closes every connection and removes the socket file (clients then fall
  // back to direct segment access).
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  // Who is on the other end, from the kernel at accept time.
  struct Peer {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary
  };
  struct Connection {
    Peer peer;
    EventLoop::Clock::time_point expires;  // accepted + the configured lifetime
  };

  void accept_all();
  // The reply refusing a new connection of `peer`, or nullopt if the caps
  // allow it.
  [[nodiscard]] std::optional<admin::ControlReply> over_cap(const Peer& peer) const;
  void on_readable(int fd);
  // The periodic check: closes connections past their lifetime, resumes
  // accepting after a shortage of descriptors.
  void close_expired();
  void close_connection(int fd);
  // False if the reply could not be sent whole at once (the caller closes).
  static bool send_reply(int fd, const admin::ControlReply& reply);

  // One request: the reply, and the outcome for the log.
  admin::ControlReply handle(const Peer& peer, std::string_view packet, std::string& op, std::string& queue);
  admin::ControlReply create(const Peer& peer, const admin::ControlRequest& r);
  admin::ControlReply remove(const Peer& peer, const admin::ControlRequest& r);
  admin::ControlReply purge(const Peer& peer, const admin::ControlRequest& r);
  static admin::ControlReply ping();  // anyone: ok, with shmqd's pid
  // Throws permission_denied unless `peer` may delete or purge the queue
  // (its segment's owner, group member, or root); not_found if it is absent.
  void authorise(const Peer& peer, const admin::ControlRequest& r) const;

  EventLoop& loop_;
  const std::string ns_;
  const DaemonConfig& config_;
  QueueSet& queues_;
  std::string path_;
  int listen_fd_ = -1;
  bool accepting_ = true;  // false while accept fails for want of descriptors
  // How often close_expired runs: a fifth of the lifetime, 10 ms..1 s.
  std::chrono::milliseconds check_period_;
  std::map<int, Connection> connections_;
  std::map<uid_t, std::size_t> per_uid_;  // open connections of each uid (none: absent)
  std::vector<char> buffer_;  // one packet, kMaxControlMessage bytes
  // What the periodic check calls through (the loop cannot drop a tick): null once
  // this server is gone.
  std::shared_ptr<ControlServer*> self_;
};

}  // namespace shmq::daemon
