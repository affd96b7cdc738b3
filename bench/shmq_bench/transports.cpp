#include "transports.hpp"

#include "shmq/admin/system.hpp"
#include "processes.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>

#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/interprocess/ipc/message_queue.hpp>

#include "shmq/shmq.hpp"

namespace shmq_bench {

namespace {

using namespace std::chrono_literals;
namespace bip = boost::interprocess;

// How long a receive waits before it decides the peer is gone.
constexpr auto kPeerTimeout = 10s;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::uint32_t seq_of(const void* message) noexcept {
  std::uint32_t seq = 0;
  std::memcpy(&seq, message, sizeof seq);
  return seq;
}

// Busy-wait bookkeeping: throws once kPeerTimeout has passed (checked every
// few thousand spins, so the clock stays off the fast path).
class SpinDeadline {
 public:
  void tick() {
    if (++spins_ % 4096 != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (start_ == std::chrono::steady_clock::time_point{}) start_ = now;
    if (now - start_ > kPeerTimeout) throw std::runtime_error("no answer from the other process for 10 s");
  }

 private:
  std::uint64_t spins_ = 0;
  std::chrono::steady_clock::time_point start_{};
};

// ---- floors: one cache line each way, with and without a futex ----------------

// Each word on its own false-sharing range; both hold kStop between rounds.
struct FloorWords {
  alignas(128) std::atomic<std::uint32_t> ping{kStop};
  alignas(128) std::atomic<std::uint32_t> pong{kStop};
};

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr, 0);
}

class FloorEndpoint final : public Endpoint {
 public:
  FloorEndpoint(std::atomic<std::uint32_t>& out, std::atomic<std::uint32_t>& in, bool use_futex)
      : out_(out), in_(in), use_futex_(use_futex) {}

  void send(std::uint32_t seq) override {
    out_.store(seq, std::memory_order_release);
    if (use_futex_) (void)futex(out_, FUTEX_WAKE, 1, nullptr);
  }

  std::uint32_t receive() override {
    SpinDeadline deadline;
    std::uint32_t v = 0;
    while ((v = in_.load(std::memory_order_acquire)) == last_) {
      if (use_futex_) {
        const timespec slice{0, 100'000'000};
        (void)futex(in_, FUTEX_WAIT, last_, &slice);
        deadline.tick();
      } else {
        shmq::admin::cpu_relax();
        deadline.tick();
      }
    }
    last_ = v;
    return v;
  }

 private:
  std::atomic<std::uint32_t>& out_;
  std::atomic<std::uint32_t>& in_;
  bool use_futex_;
  std::uint32_t last_ = kStop;  // what the words hold when a round starts
};

class FloorChannel final : public Channel {
 public:
  explicit FloorChannel(bool use_futex) : use_futex_(use_futex) {}
  std::unique_ptr<Endpoint> open(Side side) override {
    FloorWords& w = *words_;
    if (side == Side::Ping) return std::make_unique<FloorEndpoint>(w.ping, w.pong, use_futex_);
    return std::make_unique<FloorEndpoint>(w.pong, w.ping, use_futex_);
  }

 private:
  SharedArray<FloorWords> words_;
  bool use_futex_;
};

// ---- shmq ------------------------------------------------------------------------

struct ShmqFlavour {
  shmq::WaitStrategy strategy;
  bool touch;  // the sender writes and the receiver reads every payload byte
};

ShmqFlavour shmq_flavour(const std::string& transport) {
  if (transport == "shmq-spin") return {shmq::WaitStrategy::BusySpin, false};
  if (transport == "shmq-spin-touch") return {shmq::WaitStrategy::BusySpin, true};
  if (transport == "shmq-yield") return {shmq::WaitStrategy::SpinYield, false};
  if (transport == "shmq-park") return {shmq::WaitStrategy::Park, false};
  return {shmq::WaitStrategy::Adaptive, false};
}

void check(shmq::Status s, const char* what) {
  if (s != shmq::Status::Ok) throw std::runtime_error(std::string(what) + ": " + shmq::to_string(s));
}

// Ping side: produces on `out`, consumes `in` (one group). Echo side: consumes
// every group of `out`, produces on `in`. Messages are acked on receipt.
class ShmqEndpoint final : public Endpoint {
 public:
  ShmqEndpoint(const ChannelSpec& spec, const std::string& send_queue, const std::string& receive_queue,
               std::uint32_t receive_groups)
      : client_({.ns = spec.ns}), size_(spec.size) {
    const ShmqFlavour flavour = shmq_flavour(spec.transport);
    touch_ = flavour.touch;
    producer_.emplace(client_.producer(send_queue, {flavour.strategy}));
    for (std::uint32_t g = 0; g < receive_groups; ++g)
      consumers_.push_back(client_.consumer(receive_queue, "g" + std::to_string(g), {flavour.strategy}));
  }

  void send(std::uint32_t seq) override {
    shmq::Loan loan = producer_->loan(size_, kPeerTimeout);
    check(loan.status(), "loan");
    std::byte* p = loan.data().data();
    std::memcpy(p, &seq, sizeof seq);
    if (touch_) std::memset(p + sizeof seq, static_cast<int>(seq & 0xFF), size_ - sizeof seq);
    check(loan.commit(size_), "commit");
  }

  std::uint32_t receive() override {
    std::uint32_t seq = 0;
    for (std::size_t g = 0; g < consumers_.size(); ++g) {
      shmq::Message m = consumers_[g].receive(kPeerTimeout);
      check(m.status(), "receive");
      const std::uint32_t got = seq_of(m.data().data());
      if (g > 0 && got != seq) throw std::runtime_error("groups received different messages");
      seq = got;
      if (touch_) read_every_byte(m.data());
      check(m.ack(), "ack");
    }
    return seq;
  }

 private:
  static void read_every_byte(std::span<const std::byte> bytes) noexcept {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, bytes.data() + i, sizeof word);
      sum += word;
    }
    sink_.store(sum, std::memory_order_relaxed);
  }

  static inline std::atomic<std::uint64_t> sink_{0};  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): keeps the reads
  shmq::Client client_;
  std::optional<shmq::Producer> producer_;
  std::vector<shmq::Consumer> consumers_;
  std::size_t size_;
  bool touch_ = false;
};

shmq::QueueConfig shmq_queue_config(std::uint64_t size, std::uint32_t groups) {
  shmq::QueueConfig config{.capacity = 8, .slot_size = static_cast<std::uint32_t>(size), .dlq_capacity = 0};
  config.groups.clear();
  for (std::uint32_t g = 0; g < groups; ++g) config.groups.push_back({.name = "g" + std::to_string(g)});
  return config;
}

// Two queues: "ping" fanned out to spec.groups groups, and "pong".
class ShmqChannel final : public Channel {
 public:
  explicit ShmqChannel(ChannelSpec spec) : spec_(std::move(spec)) {
    static std::uint32_t counter = 0;
    const std::string base = spec_.transport + "-" + std::to_string(counter++);
    ping_ = base + "-ping";
    pong_ = base + "-pong";
    shmq::Client client({.ns = spec_.ns});  // gone before any fork: children must not inherit its thread
    client.create_queue(ping_, shmq_queue_config(spec_.size, spec_.groups));
    client.create_queue(pong_, shmq_queue_config(spec_.size, 1));
  }
  ~ShmqChannel() override {
    try {
      shmq::Client client({.ns = spec_.ns});
      (void)client.delete_queue(ping_);
      (void)client.delete_queue(pong_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the namespace is swept at exit
    }
  }
  ShmqChannel(const ShmqChannel&) = delete;
  ShmqChannel& operator=(const ShmqChannel&) = delete;

  std::unique_ptr<Endpoint> open(Side side) override {
    if (side == Side::Ping) return std::make_unique<ShmqEndpoint>(spec_, ping_, pong_, 1);
    return std::make_unique<ShmqEndpoint>(spec_, pong_, ping_, spec_.groups);
  }

 private:
  ChannelSpec spec_;
  std::string ping_, pong_;
};

// ---- byte streams: Unix sockets and pipes ----------------------------------------

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

bool spins(const std::string& transport) { return transport.ends_with("-spin"); }

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

// ---- message queues: POSIX and Boost.Interprocess -----------------------------------

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

const std::vector<std::string>& latency_transports() {
  static const std::vector<std::string> all{
      "floor",   "futex-floor", "shmq-spin", "shmq-spin-touch", "shmq-yield",    "shmq-park", "shmq-adaptive",
      "uds-spin", "uds",        "pipe-spin", "pipe",            "posix-mq-spin", "posix-mq",  "boost-mq"};
  return all;
}

bool is_shmq(const std::string& transport) { return transport.starts_with("shmq-"); }
bool is_floor(const std::string& transport) { return transport == "floor" || transport == "futex-floor"; }

std::unique_ptr<Channel> make_channel(const ChannelSpec& spec) {
  const std::string& t = spec.transport;
  if (t == "floor" || t == "futex-floor") return std::make_unique<FloorChannel>(t == "futex-floor");
  if (is_shmq(t)) return std::make_unique<ShmqChannel>(spec);
  if (t == "uds" || t == "uds-spin") return std::make_unique<UdsChannel>(spec);
  if (t == "pipe" || t == "pipe-spin") return std::make_unique<PipeChannel>(spec);
  if (t == "posix-mq" || t == "posix-mq-spin") return std::make_unique<PosixMqChannel>(spec);
  if (t == "boost-mq") return std::make_unique<BoostMqChannel>(spec);
  throw std::invalid_argument("unknown transport '" + t + "'");
}

}  // namespace shmq_bench
