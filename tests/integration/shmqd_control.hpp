// What the tests of shmqd's control socket (shmqd_control*_test.cpp) share:
// where a queue's segment is, a small queue, requests sent the way the
// library sends them, and raw connections for what it never sends.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "shmq/admin/control.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq::test::control {

inline bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

inline shmq::QueueConfig small_queue(unsigned mode = 0600) {
  shmq::QueueConfig c;
  c.capacity = 8;
  c.slot_size = 64;
  c.dlq_capacity = 4;
  c.mode = mode;
  return c;
}

inline admin::ControlRequest request(admin::ControlOp op, const std::string& queue,
                                      const shmq::QueueConfig& config = small_queue()) {
  return admin::ControlRequest{op, queue, config};
}

// The reply of call_daemon for a child's checks, with errors as text.
inline std::string outcome(const TestNamespace& ns, const admin::ControlRequest& r) {
  try {
    const std::optional<admin::ControlReply> reply =
        shmq::admin::call_daemon(ns.name(), r, std::chrono::seconds(10));
    if (!reply) return "no daemon";
    if (reply->ok) return "ok";
    return std::string(shmq::admin::errc_name(reply->code)) + ": " + reply->error;
  } catch (const shmq::Error& e) {
    return std::string("threw ") + shmq::admin::errc_name(e.value()) + ": " + e.what();
  }
}

// One raw connection to the control socket, for what the library never sends.
class RawConnection {
 public:
  explicit RawConnection(const TestNamespace& ns) : fd_(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = shmq::admin::control_socket_path(ns.name());
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  [[nodiscard]] bool connected() const noexcept { return connected_; }
  // Hangs up but keeps the descriptor (so closed_by_daemon can tell when the
  // daemon has seen it): the daemon reads end of file.
  bool hang_up() { return ::shutdown(fd_, SHUT_WR) == 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // One packet; false (with errno) if it was not sent whole.
  bool send(std::string_view packet) {
    return ::send(fd_, packet.data(), packet.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(packet.size());
  }

  // The next packet, or nullopt if the daemon hung up or `timeout` passed.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    std::string buf(shmq::admin::kMaxControlMessage, '\0');
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }

  // True if the daemon closes the connection within `timeout`.
  bool closed_by_daemon(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    char c = 0;
    return ::recv(fd_, &c, 1, MSG_DONTWAIT) == 0;
  }

  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_;
  bool connected_ = false;
};

// Sends `packet` on a new connection and returns the reply as JSON
// ({"no_reply":true} if there was none).
inline nlohmann::json ask(const TestNamespace& ns, std::string_view packet) {
  RawConnection c(ns);
  if (!c.connected() || !c.send(packet)) return nlohmann::json{{"no_reply", true}, {"errno", errno}};
  const std::optional<std::string> reply = c.receive();
  if (!reply) return nlohmann::json{{"no_reply", true}};
  return nlohmann::json::parse(*reply, nullptr, false);
}

// The error text of a refused request (for EXPECT_THAT), "" if it was not refused.
inline std::string refusal(const nlohmann::json& reply, const std::string& code) {
  if (!reply.is_object() || reply.value("ok", true) || reply.value("code", std::string()) != code)
    return "<not refused with " + code + ": " + reply.dump() + ">";
  return reply.value("error", std::string());
}

}  // namespace shmq::test::control
