// The kernel's byte streams as transports: a Unix stream socket pair ("uds")
// and two pipes ("pipe"), blocking or, as "-spin", polled without blocking.
#include "transports.hpp"
#include "transports_impl.hpp"

#include "shmq/admin/system.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace shmq_bench {
namespace {

// Writes and reads whole messages; a non-blocking descriptor is retried at once on EAGAIN.
class StreamEndpoint final : public Endpoint {
 public:
  StreamEndpoint(int out, int in, std::uint64_t size) : out_(out), in_(in), buffer_(size) {}

  void send(std::uint32_t seq) override {
    std::memcpy(buffer_.data(), &seq, sizeof seq);
    SpinDeadline deadline;
    for (std::size_t done = 0; done < buffer_.size();) {
      const ssize_t n = ::write(out_, buffer_.data() + done, buffer_.size() - done);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN) {
        deadline.tick();
      } else if (errno != EINTR) {
        throw_errno("write");
      }
    }
  }

  std::uint32_t receive() override {
    SpinDeadline deadline;
    for (std::size_t done = 0; done < buffer_.size();) {
      const ssize_t n = ::read(in_, buffer_.data() + done, buffer_.size() - done);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n == 0) {
        throw std::runtime_error("the other process closed the stream");
      } else if (errno == EAGAIN) {
        deadline.tick();
      } else if (errno != EINTR) {
        throw_errno("read");
      }
    }
    return seq_of(buffer_.data());
  }

 private:
  int out_, in_;
  std::vector<std::byte> buffer_;
};

// A stream socket pair; the kernel buffers are raised to hold a whole message
// (silently capped at net.core.wmem_max).
class UdsChannel final : public Channel {
 public:
  explicit UdsChannel(const ChannelSpec& spec) : size_(spec.size) {
    int sv[2];
    const int type = SOCK_STREAM | (spins(spec.transport) ? SOCK_NONBLOCK : 0);
    if (::socketpair(AF_UNIX, type, 0, sv) != 0) throw_errno("socketpair");
    ping_.emplace(sv[0]);
    echo_.emplace(sv[1]);
    const int bytes = static_cast<int>(std::min<std::uint64_t>(2 * size_, 1U << 30));
    for (int fd : sv) {
      (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
      (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
  }
  std::unique_ptr<Endpoint> open(Side side) override {
    const int fd = side == Side::Ping ? ping_->get() : echo_->get();
    return std::make_unique<StreamEndpoint>(fd, fd, size_);
  }

 private:
  std::uint64_t size_;
  std::optional<shmq::admin::UniqueFd> ping_, echo_;
};

// Two pipes, each enlarged to a whole message where pipe-max-size allows.
class PipeChannel final : public Channel {
 public:
  explicit PipeChannel(const ChannelSpec& spec) : size_(spec.size) {
    const int flags = spins(spec.transport) ? O_NONBLOCK : 0;
    int to_echo[2];
    int to_ping[2];
    if (::pipe2(to_echo, flags) != 0) throw_errno("pipe2");
    to_echo_read_.emplace(to_echo[0]);
    to_echo_write_.emplace(to_echo[1]);
    if (::pipe2(to_ping, flags) != 0) throw_errno("pipe2");
    to_ping_read_.emplace(to_ping[0]);
    to_ping_write_.emplace(to_ping[1]);
    if (size_ > 65536)
      for (int fd : {to_echo[1], to_ping[1]}) (void)::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(size_));
  }
  std::unique_ptr<Endpoint> open(Side side) override {
    if (side == Side::Ping) return std::make_unique<StreamEndpoint>(to_echo_write_->get(), to_ping_read_->get(), size_);
    return std::make_unique<StreamEndpoint>(to_ping_write_->get(), to_echo_read_->get(), size_);
  }

 private:
  std::uint64_t size_;
  std::optional<shmq::admin::UniqueFd> to_echo_read_, to_echo_write_, to_ping_read_, to_ping_write_;
};

}  // namespace

std::unique_ptr<Channel> make_uds_channel(const ChannelSpec& spec) { return std::make_unique<UdsChannel>(spec); }
std::unique_ptr<Channel> make_pipe_channel(const ChannelSpec& spec) { return std::make_unique<PipeChannel>(spec); }

}  // namespace shmq_bench
