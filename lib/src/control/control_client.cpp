#include "shmq/admin/control.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "os/process.hpp"

namespace shmq::admin {

namespace {

using Clock = std::chrono::steady_clock;

Error timeout_error(const std::string& ns, std::chrono::milliseconds timeout, const char* stage) {
  return Error(errc::timeout, "shmqd of namespace '" + ns + "' did not " + stage + " within " +
                                  std::to_string(timeout.count()) +
                                  " ms; it may be stopped or overloaded: check its process and log");
}

// Sets SO_SNDTIMEO or SO_RCVTIMEO to what is left until `deadline` (at least
// 1 ms: 0 would mean no timeout). False if nothing is left.
bool arm(int fd, int option, Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(left.count() / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(left.count() % 1'000'000);
  if (::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) != 0)
    throw Error(errc::system_error, "control socket: setsockopt: " + errno_text(errno));
  return true;
}

}  // namespace

Error no_daemon_error(const std::string& ns) {
  return Error(errc::daemon_unavailable, "no shmqd in namespace " + ns + ": start `shmqd --namespace " + ns + "`");
}

std::optional<ControlReply> call_daemon(const std::string& ns, const ControlRequest& request,
                                        std::chrono::milliseconds timeout) {
  const std::string path = control_socket_path(ns);
  const std::string packet = encode_request(request);
  if (packet.size() > kMaxControlMessage)
    throw Error(errc::invalid_argument, "the " + std::string(op_name(request.op)) + " request is " +
                                            std::to_string(packet.size()) + " bytes, more than the " +
                                            std::to_string(kMaxControlMessage) + " shmqd accepts; check the queue "
                                            "and group names");
  const Clock::time_point deadline = Clock::now() + timeout;

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw Error(errc::invalid_argument, "control socket path " + path + " is too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  // Blocking calls bounded by SO_SNDTIMEO/SO_RCVTIMEO (connect waits on a full
  // backlog up to SO_SNDTIMEO too).
  const UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw Error(errc::system_error, "control socket: socket: " + errno_text(errno));
  if (!arm(fd.get(), SO_SNDTIMEO, deadline)) throw timeout_error(ns, timeout, "accept the connection");
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    const int err = errno;
    if (err == EINTR && arm(fd.get(), SO_SNDTIMEO, deadline)) continue;
    if (err == ENOENT || err == ECONNREFUSED) return std::nullopt;  // no daemon
    if (err == EAGAIN || err == EINTR) throw timeout_error(ns, timeout, "accept the connection");
    if (err == EACCES || err == EPERM)
      throw Error(errc::permission_denied, "cannot connect to shmqd at " + path + ": " + errno_text(err) +
                                               "; its socket should have mode 0666 (see ls -l " + path + ")");
    throw Error(errc::system_error, "cannot connect to shmqd at " + path + ": " + errno_text(err));
  }

  for (;;) {
    const ssize_t n = ::send(fd.get(), packet.data(), packet.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(packet.size())) break;
    const int err = n < 0 ? errno : EMSGSIZE;
    if (err == EINTR && arm(fd.get(), SO_SNDTIMEO, deadline)) continue;
    if (err == EAGAIN || err == EINTR) throw timeout_error(ns, timeout, "take the request");
    if (err == EPIPE || err == ECONNRESET)
      throw Error(errc::daemon_unavailable, "shmqd of namespace '" + ns + "' closed the connection before taking "
                                            "the request; check its log");
    throw Error(errc::system_error, "cannot send the request to shmqd at " + path + ": " + errno_text(err));
  }

  std::vector<char> buf(kMaxControlMessage);
  for (;;) {
    if (!arm(fd.get(), SO_RCVTIMEO, deadline)) throw timeout_error(ns, timeout, "reply");
    const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), MSG_TRUNC);
    if (n > 0 && static_cast<std::size_t>(n) <= buf.size())
      return decode_reply(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    const int err = n < 0 ? errno : 0;
    if (n > 0) throw Error(errc::system_error, "shmqd sent a reply of " + std::to_string(n) + " bytes, more than the "
                                               "protocol's " + std::to_string(kMaxControlMessage));
    if (err == EINTR) continue;
    if (err == EAGAIN) throw timeout_error(ns, timeout, "reply");
    if (n == 0 || err == ECONNRESET)
      throw Error(errc::daemon_unavailable, "shmqd of namespace '" + ns + "' closed the connection without a "
                                            "reply (did it stop?); check its log");
    throw Error(errc::system_error, "cannot receive the reply of shmqd at " + path + ": " + errno_text(err));
  }
}

}  // namespace shmq::admin
