// Message queues as transports: POSIX ("posix-mq", or "posix-mq-spin" polled
// without blocking) and Boost.Interprocess ("boost-mq"), one queue each way.
#include "transports.hpp"
#include "transports_impl.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>

#include <boost/interprocess/ipc/message_queue.hpp>

namespace shmq_bench {
namespace {

namespace bip = boost::interprocess;

std::string object_name(const ChannelSpec& spec, const char* suffix) {
  static std::uint32_t counter = 0;
  return "shmqbench." + spec.ns + "." + std::to_string(counter++) + suffix;
}

class PosixMqEndpoint final : public Endpoint {
 public:
  PosixMqEndpoint(mqd_t out, mqd_t in, std::uint64_t size) : out_(out), in_(in), buffer_(size) {}

  void send(std::uint32_t seq) override {
    std::memcpy(buffer_.data(), &seq, sizeof seq);
    SpinDeadline deadline;
    while (::mq_send(out_, buffer_.data(), buffer_.size(), 0) != 0) {
      if (errno == EAGAIN) {
        deadline.tick();
      } else if (errno != EINTR) {
        throw_errno("mq_send");
      }
    }
  }

  std::uint32_t receive() override {
    SpinDeadline deadline;
    while (::mq_receive(in_, buffer_.data(), buffer_.size(), nullptr) < 0) {
      if (errno == EAGAIN) {
        deadline.tick();
      } else if (errno != EINTR) {
        throw_errno("mq_receive");
      }
    }
    return seq_of(buffer_.data());
  }

 private:
  mqd_t out_, in_;
  std::vector<char> buffer_;
};

// The queues are unlinked at once: the descriptors, inherited by both
// children, keep them alive, and nothing is left behind if the run dies.
class PosixMqChannel final : public Channel {
 public:
  explicit PosixMqChannel(const ChannelSpec& spec) : size_(spec.size) {
    raise_message_queue_limit();
    const int flags = O_RDWR | O_CREAT | O_EXCL | (spins(spec.transport) ? O_NONBLOCK : 0);
    mq_attr attr{};
    attr.mq_maxmsg = 2;
    attr.mq_msgsize = static_cast<long>(size_);
    for (mqd_t* q : {&to_echo_, &to_ping_}) {
      const std::string name = "/" + object_name(spec, ".mq");
      *q = ::mq_open(name.c_str(), flags, 0600, &attr);
      if (*q == static_cast<mqd_t>(-1)) {
        const int err = errno;
        close_all();
        throw Unsupported("mq_open with " + std::to_string(size_) + "-byte messages: " + std::generic_category().message(err) +
                          " (limits: /proc/sys/fs/mqueue/msgsize_max, ulimit -q)");
      }
      ::mq_unlink(name.c_str());
    }
  }
  ~PosixMqChannel() override { close_all(); }
  PosixMqChannel(const PosixMqChannel&) = delete;
  PosixMqChannel& operator=(const PosixMqChannel&) = delete;

  std::unique_ptr<Endpoint> open(Side side) override {
    if (side == Side::Ping) return std::make_unique<PosixMqEndpoint>(to_echo_, to_ping_, size_);
    return std::make_unique<PosixMqEndpoint>(to_ping_, to_echo_, size_);
  }

 private:
  // Large messages need more than the default 800 KiB per user.
  static void raise_message_queue_limit() noexcept {
    rlimit limit{};
    if (::getrlimit(RLIMIT_MSGQUEUE, &limit) != 0) return;
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_MSGQUEUE, &limit);
  }
  void close_all() noexcept {
    for (mqd_t* q : {&to_echo_, &to_ping_}) {
      if (*q != static_cast<mqd_t>(-1)) ::mq_close(*q);
      *q = static_cast<mqd_t>(-1);
    }
  }
  std::uint64_t size_;
  mqd_t to_echo_ = static_cast<mqd_t>(-1);
  mqd_t to_ping_ = static_cast<mqd_t>(-1);
};

class BoostMqEndpoint final : public Endpoint {
 public:
  BoostMqEndpoint(const std::string& out, const std::string& in, std::uint64_t size)
      : out_(bip::open_only, out.c_str()), in_(bip::open_only, in.c_str()), buffer_(size) {}

  void send(std::uint32_t seq) override {
    std::memcpy(buffer_.data(), &seq, sizeof seq);
    out_.send(buffer_.data(), buffer_.size(), 0);
  }

  std::uint32_t receive() override {
    bip::message_queue::size_type received = 0;
    unsigned priority = 0;
    in_.receive(buffer_.data(), buffer_.size(), received, priority);
    if (received != buffer_.size()) throw std::runtime_error("boost-mq: short message");
    return seq_of(buffer_.data());
  }

 private:
  bip::message_queue out_, in_;
  std::vector<char> buffer_;
};

class BoostMqChannel final : public Channel {
 public:
  explicit BoostMqChannel(const ChannelSpec& spec)
      : size_(spec.size), to_echo_(object_name(spec, ".bmq")), to_ping_(object_name(spec, ".bmq")) {
    for (const std::string& name : {to_echo_, to_ping_}) {
      bip::message_queue::remove(name.c_str());
      bip::message_queue(bip::create_only, name.c_str(), 2, size_);
    }
  }
  ~BoostMqChannel() override {
    bip::message_queue::remove(to_echo_.c_str());
    bip::message_queue::remove(to_ping_.c_str());
  }
  BoostMqChannel(const BoostMqChannel&) = delete;
  BoostMqChannel& operator=(const BoostMqChannel&) = delete;

  std::unique_ptr<Endpoint> open(Side side) override {
    if (side == Side::Ping) return std::make_unique<BoostMqEndpoint>(to_echo_, to_ping_, size_);
    return std::make_unique<BoostMqEndpoint>(to_ping_, to_echo_, size_);
  }

 private:
  std::uint64_t size_;
  std::string to_echo_, to_ping_;
};

}  // namespace

std::unique_ptr<Channel> make_posix_mq_channel(const ChannelSpec& spec) {
  return std::make_unique<PosixMqChannel>(spec);
}
std::unique_ptr<Channel> make_boost_mq_channel(const ChannelSpec& spec) {
  return std::make_unique<BoostMqChannel>(spec);
}

}  // namespace shmq_bench
