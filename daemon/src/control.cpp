#include "control.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <utility>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "shmq/admin/namespace.hpp"
#include "shmq/admin/supervisor.hpp"
#include "shmq/admin/system.hpp"
#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

using admin::ControlOp;
using admin::ControlReply;
using admin::ControlRequest;
using admin::PurgedGroup;

using namespace std::chrono_literals;
constexpr int kListenBacklog = 64;
constexpr int kAcceptBatch = 16;

[[noreturn]] void fail(const std::string& what, int err) {
  throw Error(errc::system_error, "control socket: " + what + ": " + admin::errno_text(err));
}

ControlReply ok_reply() {
  ControlReply r;
  r.ok = true;
  return r;
}

ControlReply error_reply(errc code, std::string message) {
  ControlReply r;
  r.ok = false;
  r.code = code;
  // One line, whatever the message quoted.
  std::replace(message.begin(), message.end(), '\n', ' ');
  r.error = std::move(message);
  return r;
}

std::string segment_path(const std::string& ns, const std::string& queue) {
  return admin::object_path(admin::queue_object(ns, queue));
}

// The "Groups:" line of /proc/<pid>/status: the fallback when the kernel has
// no SO_PEERGROUPS (before Linux 4.13).
std::vector<gid_t> proc_groups(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Groups:")) continue;
    std::istringstream fields(line.substr(7));
    std::vector<gid_t> groups;
    for (unsigned long g = 0; fields >> g;) groups.push_back(static_cast<gid_t>(g));
    return groups;
  }
  return {};
}

// The peer's supplementary groups as they were when it connected.
std::vector<gid_t> peer_groups(int fd, pid_t pid) {
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return proc_groups(pid);
}

// Gives the new segment at `path` to uid:gid (no-op if it has them already).
void set_owner(const std::string& path, uid_t uid, gid_t gid) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw Error(errc::system_error, "cannot open " + path + " to set its owner: " + admin::errno_text(errno));
  struct stat st {};
  int err = 0;
  if (::fstat(fd, &st) != 0 || ((st.st_uid != uid || st.st_gid != gid) && ::fchown(fd, uid, gid) != 0)) err = errno;
  ::close(fd);
  if (err == 0) return;
  throw Error(err == EPERM ? errc::permission_denied : errc::system_error,
              "shmqd (uid " + std::to_string(::geteuid()) + ") cannot give " + path + " to uid " +
                  std::to_string(uid) + ", group " + std::to_string(gid) + ": " + admin::errno_text(err) +
                  "; run shmqd as root to create queues for other users");
}

}  // namespace

ControlServer::ControlServer(EventLoop& loop, std::string ns, const DaemonConfig& config, QueueSet& queues)
    : loop_(loop),
      ns_(std::move(ns)),
      config_(config),
      queues_(queues),
      path_(admin::control_socket_path(ns_)),
      // A connection outlives its lifetime by at most a fifth of it (the
      // default 5 s is checked every second, as the idle timeout was).
      check_period_(std::clamp(config_.control_connection_lifetime / 5, std::chrono::milliseconds(10ms),
                               std::chrono::milliseconds(1s))),
      buffer_(admin::kMaxControlMessage),
      self_(std::make_shared<ControlServer*>(this)) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path)
    throw Error(errc::invalid_argument, "control socket path " + path_ + " is too long for a Unix socket");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);

  listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail("socket", errno);
  try {
    // A file left by a daemon that died: we hold the instance lock, so no
    // live daemon listens on it.
    if (::unlink(path_.c_str()) == 0) spdlog::info("removed the stale control socket {} of a previous shmqd", path_);
    else if (errno != ENOENT) fail("cannot remove the stale " + path_, errno);
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fail("bind " + path_, errno);
    // Every local user may connect; each request is authorised on its own.
    // (/dev/shm is sticky: nobody but us can swap the file before this chmod.)
    if (::chmod(path_.c_str(), 0666) != 0) fail("chmod 0666 " + path_, errno);
    if (::listen(listen_fd_, kListenBacklog) != 0) fail("listen on " + path_, errno);
  } catch (...) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    throw;
  }
  loop_.watch(listen_fd_, [this] { accept_all(); });
  loop_.every(check_period_, [self = self_] {
    if (*self != nullptr) (*self)->close_expired();
  });
  spdlog::debug("control socket listening at {}", path_);
}

ControlServer::~ControlServer() {
  *self_ = nullptr;  // the periodic check outlives us in the loop
  for (auto& [fd, c] : connections_) {
    loop_.unwatch(fd);
    ::close(fd);
  }
  connections_.clear();
  per_uid_.clear();
  if (listen_fd_ >= 0) {
    loop_.unwatch(listen_fd_);
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
}

void ControlServer::accept_all() {
  // A bounded batch: a flood of connections must not keep the loop from the
  // watchdog (the socket is level-triggered: the rest come next turn).
  for (int batch = 0; batch < kAcceptBatch; ++batch) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // Out of descriptors (EMFILE, ENFILE) or memory: the listening socket
      // stays readable, so stop watching it until the next periodic check
      // rather than spin.
      spdlog::error("control: accept failed: {}; not accepting for {} ms", admin::errno_text(err),
                    check_period_.count());
      loop_.unwatch(listen_fd_);
      accepting_ = false;
      return;
    }
    Peer peer;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      spdlog::warn("control: cannot read the credentials of a new connection: {}; closing it", admin::errno_text(errno));
      ::close(fd);
      continue;
    }
    peer.pid = cred.pid;
    peer.uid = cred.uid;
    peer.gid = cred.gid;
    if (const std::optional<ControlReply> refused = over_cap(peer)) {
      (void)send_reply(fd, *refused);
      ::close(fd);
      continue;
    }
    peer.groups = peer_groups(fd, peer.pid);
    ++per_uid_[peer.uid];
    connections_.emplace(fd, Connection{std::move(peer), EventLoop::Clock::now() + config_.control_connection_lifetime});
    loop_.watch(fd, [this, fd] { on_readable(fd); });
  }
}

std::optional<ControlReply> ControlServer::over_cap(const Peer& peer) const {
  if (connections_.size() >= kMaxConnections) {
    spdlog::warn("control: pid {} uid {}: refused: {} connections open", peer.pid, peer.uid, kMaxConnections);
    return error_reply(errc::daemon_unavailable, "shmqd of namespace " + ns_ + " has " +
                                                     std::to_string(kMaxConnections) +
                                                     " control connections open, its limit; try again in a moment");
  }
  // Root is not capped per uid (control.hpp says why).
  const auto it = per_uid_.find(peer.uid);
  const std::size_t open = it == per_uid_.end() ? 0 : it->second;
  if (peer.uid == 0 || open < config_.control_connections_per_uid) return std::nullopt;
  // daemon_unavailable like the global cap: this shmqd cannot serve this
  // connection now, and will once the uid's others close (`shmq-cli
  // wait-ready` keeps trying, as it does on a full daemon).
  spdlog::warn("control: pid {} uid {}: refused: {} control connections open, the limit per uid", peer.pid, peer.uid,
               open);
  return error_reply(errc::daemon_unavailable,
                     "uid " + std::to_string(peer.uid) + " has " + std::to_string(open) +
                         " control connections open to shmqd of namespace " + ns_ +
                         ", the limit per user (control_connections_per_uid in shmqd's config); close one or try "
                         "again in a moment");
}

void ControlServer::close_connection(int fd) {
  loop_.unwatch(fd);
  ::close(fd);
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  const uid_t uid = it->second.peer.uid;
  connections_.erase(it);
  const auto count = per_uid_.find(uid);
  if (count != per_uid_.end() && --count->second == 0) per_uid_.erase(count);
}

void ControlServer::close_expired() {
  if (!accepting_) {
    loop_.watch(listen_fd_, [this] { accept_all(); });
    accepting_ = true;
  }
  const auto now = EventLoop::Clock::now();
  std::vector<int> expired;
  for (const auto& [fd, c] : connections_)
    if (now >= c.expires) expired.push_back(fd);
  for (int fd : expired) {
    // A request already waiting is answered first (the loop may have been
    // busy when it came); one, not a backlog: the close follows at once.
    on_readable(fd);
    const auto it = connections_.find(fd);
    if (it == connections_.end()) continue;  // it hung up, or its reply could not be sent
    const Peer& p = it->second.peer;
    spdlog::debug("control: pid {} uid {}: connection closed at the end of its {} ms lifetime", p.pid, p.uid,
                  config_.control_connection_lifetime.count());
    close_connection(fd);
  }
}

bool ControlServer::send_reply(int fd, const ControlReply& reply) {
  const std::string packet = admin::encode_reply(reply);
  for (;;) {
    // Never waits: a client that does not read its replies loses its connection.
    const ssize_t n = ::send(fd, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(packet.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

void ControlServer::on_readable(int fd) {
  const auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  // MSG_TRUNC: the packet's real length, even when it is longer than the buffer.
  const ssize_t n = ::recv(fd, buffer_.data(), buffer_.size(), MSG_TRUNC | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {  // hung up (an empty packet counts as hanging up), or reset
    close_connection(fd);
    return;
  }
  const Connection& c = it->second;
  std::string op = "?";
  std::string queue = "?";
  const auto size = static_cast<std::size_t>(n);
  const ControlReply reply =
      size > buffer_.size()
          ? error_reply(errc::invalid_argument,
                        "bad control request: " + std::to_string(size) + " bytes, more than the " +
                            std::to_string(admin::kMaxControlMessage) + "-byte limit of one request")
          : handle(c.peer, std::string_view(buffer_.data(), size), op, queue);
  if (reply.ok && op == "ping")  // a health check, possibly every few ms: not worth an info line
    spdlog::debug("control: pid {} uid {}: ping: ok", c.peer.pid, c.peer.uid);
  else if (reply.ok)
    spdlog::info("control: pid {} uid {}: {} {}: ok{}", c.peer.pid, c.peer.uid, op, queue,
                 op == "purge" ? ", " + std::to_string(reply.purged) + " messages dropped" : "");
  else
    spdlog::warn("control: pid {} uid {}: {} {}: {}: {}", c.peer.pid, c.peer.uid, op, queue,
                 admin::errc_name(reply.code), reply.error);
  if (!send_reply(fd, reply)) {
    spdlog::debug("control: pid {} uid {}: the reply could not be sent at once; connection closed", c.peer.pid,
                  c.peer.uid);
    close_connection(fd);
  }
}

ControlReply ControlServer::handle(const Peer& peer, std::string_view packet, std::string& op, std::string& queue) {
  try {
    const ControlRequest r = admin::decode_request(packet);
    op = admin::op_name(r.op);
    if (r.op == ControlOp::Ping) return ping();
    queue = admin::printable(r.queue);
    admin::validate_queue_name(r.queue);  // before the name goes into any path
    switch (r.op) {
      case ControlOp::Create: return create(peer, r);
      case ControlOp::Delete: return remove(peer, r);
      case ControlOp::Purge: return purge(peer, r);
      case ControlOp::Ping: break;
    }
    return error_reply(errc::invalid_argument, "bad control request: unknown op");
  } catch (const Error& e) {
    return error_reply(e.value(), e.what());
  } catch (const std::exception& e) {
    return error_reply(errc::system_error, std::string("shmqd failed to handle the request: ") + e.what());
  }
}

ControlReply ControlServer::ping() {
  ControlReply reply = ok_reply();
  reply.pid = static_cast<std::uint64_t>(::getpid());
  return reply;
}

ControlReply ControlServer::create(const Peer& peer, const ControlRequest& r) {
  // The group of a configured queue is the config's owner_group.
  gid_t gid = peer.gid;
  for (const QueueDefinition& q : config_.queues)
    if (q.name == r.queue && q.owner_group) gid = *q.owner_group;
  // Validates every setting (invalid_argument naming it), checks /dev/shm
  // space, and refuses an existing queue (already_exists).
  admin::create_queue(ns_, r.queue, r.config);
  try {
    set_owner(segment_path(ns_, r.queue), peer.uid, gid);
  } catch (...) {
    admin::remove_queue(ns_, r.queue);
    throw;
  }
  // Watched before the requester hears of it, so its leases expire on time.
  (void)queues_.refresh(r.queue);
  return ok_reply();
}

void ControlServer::authorise(const Peer& peer, const ControlRequest& r) const {
  const std::string path = segment_path(ns_, r.queue);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      throw admin::queue_not_found(ns_, r.queue);
    throw Error(errc::system_error, "cannot stat " + path + ": " + admin::errno_text(err));
  }
  const bool member = peer.gid == st.st_gid || std::find(peer.groups.begin(), peer.groups.end(), st.st_gid) !=
                                                   peer.groups.end();
  if (peer.uid == 0 || peer.uid == st.st_uid || member) return;
  throw Error(errc::permission_denied, "permission denied: queue '" + r.queue + "' belongs to uid " +
                                           std::to_string(st.st_uid) + " (group " + std::to_string(st.st_gid) +
                                           "); only its owner, its group or root may " + admin::op_name(r.op) +
                                           " it (you are uid " + std::to_string(peer.uid) + ")");
}

ControlReply ControlServer::remove(const Peer& peer, const ControlRequest& r) {
  authorise(peer, r);
  if (!admin::remove_queue(ns_, r.queue))
    throw admin::queue_not_found(ns_, r.queue);
  (void)queues_.refresh(r.queue);  // unmapped: its memory goes with the last other process's mapping
  return ok_reply();
}

ControlReply ControlServer::purge(const Peer& peer, const ControlRequest& r) {
  authorise(peer, r);
  ControlReply reply = ok_reply();
  reply.groups = queues_.get(r.queue).queue.purge();
  for (const PurgedGroup& g : reply.groups) reply.purged += g.ready + g.pending;
  return reply;
}

}  // namespace shmq::daemon
