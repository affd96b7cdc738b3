// send, recv, peek: messages from and to a terminal or a script. send and recv
// join the namespace as a session (a Client); peek only reads.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "lines.hpp"
#include "report.hpp"
#include "shmq/client.hpp"

namespace shmq::cli {

namespace {

using namespace std::chrono_literals;

volatile std::sig_atomic_t g_interrupted = 0;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): the signal handler sets it
extern "C" void on_interrupt(int) { g_interrupted = 1; }

constexpr int kExitInterrupted = 130;

// Ctrl-C and SIGTERM end the command between two waits, so the Client detaches
// cleanly (what it holds goes back at once, not when the watchdog notices).
void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// ---- send --------------------------------------------------------------------

struct SendArgs {
  std::string queue;
  std::optional<std::string> data;
  std::string file;
  std::int64_t timeout_ms = 0;
};

// The bytes of --file. A directory is a usage error (fopen opens one, and
// fread would read nothing: an empty message); a read error is not a short file.
std::string read_file(const std::string& path) {
  const auto cannot_read = [&](int err) {
    return Failure(err == ENOENT ? kNotFound : err == EACCES ? kPermission : kInternal,
                   fmt::format("cannot read --file {}: {}", path, std::generic_category().message(err)));
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw cannot_read(errno);
  struct stat st {};
  if (::fstat(::fileno(f.get()), &st) == 0 && S_ISDIR(st.st_mode))
    throw Failure(kUsage, fmt::format("--file {} is a directory: give the file whose bytes to send", path));
  std::string text;
  char buf[65536];
  for (std::size_t n = 0; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;) text.append(buf, n);
  if (std::ferror(f.get()) != 0) throw cannot_read(errno);
  return text;
}

class Sender {
 public:
  Sender(Producer& p, const SendArgs& a) : p_(p), a_(a) {}

  // Sends one message; `what` names it in errors ("line 3").
  void send(std::string_view bytes, const std::string& what) {
    if (bytes.size() > p_.max_message_size())
      throw Failure(kUsage, fmt::format("{} is {} bytes, larger than the slot size of queue '{}' ({} bytes); {} sent "
                                        "before it. Send smaller messages or create the queue with a larger "
                                        "--slot-size",
                                        what, bytes.size(), a_.queue, p_.max_message_size(), sent_));
    Loan loan = a_.timeout_ms > 0 ? p_.loan(bytes.size(), std::chrono::milliseconds(a_.timeout_ms))
                                  : p_.try_loan(bytes.size());
    if (loan.status() == Status::QueueFull || loan.status() == Status::Timeout)
      throw Failure(kQueueFull,
                    fmt::format("queue '{}' is full{}: {} message(s) sent, {} not; wait for consumers to catch up, or "
                                "pass --timeout MS to wait for room",
                                a_.queue, a_.timeout_ms > 0 ? fmt::format(" after waiting {} ms", a_.timeout_ms) : "",
                                sent_, what));
    if (!loan) throw Failure(kInternal, fmt::format("cannot send {}: {}", what, to_string(loan.status())));
    const std::uint64_t id = loan.id();
    std::memcpy(loan.data().data(), bytes.data(), bytes.size());
    const Status s = loan.commit(bytes.size());
    if (s != Status::Ok) throw Failure(kInternal, fmt::format("cannot commit {}: {}", what, to_string(s)));
    if (sent_ == 0) first_ = id;
    last_ = id;
    ++sent_;
  }

  void report() const {
    if (sent_ == 1)
      std::printf("sent 1 message to %s (id %llu)\n", a_.queue.c_str(), static_cast<unsigned long long>(first_));
    else
      std::printf("sent %llu messages to %s (ids %llu..%llu)\n", static_cast<unsigned long long>(sent_),
                  a_.queue.c_str(), static_cast<unsigned long long>(first_), static_cast<unsigned long long>(last_));
  }

 private:
  Producer& p_;
  const SendArgs& a_;
  std::uint64_t sent_ = 0, first_ = 0, last_ = 0;
};

int run_send(const Globals& g, const SendArgs& a) {
  if (a.data && !a.file.empty()) throw Failure(kUsage, "give the message as DATA or --file, not both");
  if (a.timeout_ms < 0) throw Failure(kUsage, fmt::format("--timeout {} is invalid: give milliseconds >= 0", a.timeout_ms));
  admin::validate_queue_name(a.queue);
  // Read before attaching: a bad --file joins nothing and sends nothing.
  const std::optional<std::string> file_bytes =
      a.file.empty() ? std::nullopt : std::optional<std::string>(read_file(a.file));
  Client client(ClientOptions{.ns = g.ns()});
  Producer producer = client.producer(a.queue);
  Sender sender(producer, a);
  if (a.data) {
    sender.send(*a.data, "the message");
  } else if (file_bytes) {
    sender.send(*file_bytes, "--file " + a.file);
  } else {
    // read(2), not stdio: each line goes out as soon as it arrives on a pipe.
    LineSplitter lines;
    std::uint64_t number = 0;
    const auto send_line = [&](std::string_view text) { sender.send(text, fmt::format("line {}", ++number)); };
    char buf[65536];
    for (ssize_t n = 0; (n = ::read(STDIN_FILENO, buf, sizeof buf)) > 0;)
      lines.feed(std::string_view(buf, static_cast<std::size_t>(n)), send_line);
    lines.finish(send_line);
    if (number == 0) throw Failure(kUsage, "nothing to send: give DATA, --file F, or lines on stdin");
  }
  sender.report();
  return kOk;
}

// ---- recv --------------------------------------------------------------------

struct RecvArgs {
  std::string queue;
  std::string group;
  std::uint32_t count = 1;
  std::optional<std::int64_t> timeout_ms;
  bool no_ack = false;
};

nlohmann::ordered_json message_json(std::uint64_t id, std::uint32_t count, std::span<const std::byte> data) {
  nlohmann::ordered_json j = {{"id", id}, {"delivery_count", count}, {"size", data.size()}};
  if (valid_utf8(data.data(), data.size()))
    j["data"] = std::string(reinterpret_cast<const char*>(data.data()), data.size());
  else
    j["data_base64"] = base64(data.data(), data.size());
  return j;
}

int run_recv(const Globals& g, const RecvArgs& a) {
  if (a.timeout_ms && *a.timeout_ms < 0)
    throw Failure(kUsage, fmt::format("--timeout {} is invalid: give milliseconds >= 0", *a.timeout_ms));
  const std::string ns = g.ns();
  std::string group;
  {
    const admin::Namespace reg(ns);
    const admin::Queue q = reg.queue(a.queue);
    group = q.group_name(choose_group(q, a.group));
  }
  catch_interrupts();
  Client client(ClientOptions{.ns = ns});
  Consumer consumer = client.consumer(a.queue, group);
  const auto start = std::chrono::steady_clock::now();
  std::uint32_t received = 0;
  while (received < a.count) {
    if (g_interrupted != 0) return kExitInterrupted;
    // Wait in slices so Ctrl-C is noticed; the deadline is for the whole
    // command, and one last try is made at it (--timeout 0: what is there now).
    std::chrono::nanoseconds slice = 100ms;
    bool last = false;
    if (a.timeout_ms) {
      const auto left = start + std::chrono::milliseconds(*a.timeout_ms) - std::chrono::steady_clock::now();
      last = left <= slice;
      slice = std::max<std::chrono::nanoseconds>(std::min<std::chrono::nanoseconds>(slice, left), 0ns);
    }
    Message m = consumer.receive(slice);
    if (m.status() == Status::Timeout || m.status() == Status::Empty) {
      if (!last) continue;
      std::fflush(stdout);
      throw Failure(kTimeout, fmt::format("received {} of {} message(s) from queue '{}' (group {}) within the "
                                          "--timeout of {} ms",
                                          received, a.count, a.queue, group, *a.timeout_ms));
    }
    if (!m) throw Failure(kInternal, fmt::format("cannot receive from queue '{}': {}", a.queue, to_string(m.status())));
    if (g.json) {
      std::printf("%s\n", message_json(m.id(), m.delivery_count(), m.data()).dump().c_str());
    } else {
      std::printf("[id %llu, delivery %u, %zu B] %s\n", static_cast<unsigned long long>(m.id()), m.delivery_count(),
                  m.data().size(), printable(m.data().data(), m.data().size(), 4096).c_str());
    }
    ++received;
    if (a.no_ack) {
      m.keep_lease();  // back to the queue when this process detaches
    } else if (const Status s = m.ack(); s != Status::Ok) {
      std::fprintf(stderr, "shmq-cli: the lease of message %llu was lost before the ack (%s): it will be delivered "
                           "again\n",
                   static_cast<unsigned long long>(m.id()), to_string(s));
    }
  }
  std::fflush(stdout);
  return kOk;
}

// ---- peek --------------------------------------------------------------------

int run_peek(const Globals& g, const std::string& queue, const std::string& group_name, std::uint32_t n) {
  const std::string ns = g.ns();
  const admin::Namespace reg(ns);
  const admin::Queue q = reg.queue(queue);
  const std::uint32_t group = choose_group(q, group_name);
  const std::vector<admin::PeekedMessage> ms = q.peek(group, n);
  const std::uint64_t now = admin::monotonic_ns();
  std::vector<std::vector<std::string>> rows{{"ID", "DELIVERIES", "AGE", "SIZE", "DATA"}};
  for (const admin::PeekedMessage& m : ms) {
    if (g.json) {
      nlohmann::ordered_json j = message_json(m.id, m.delivery_count, m.data);
      j["age_ms"] = age_ms(m.commit_ns, now);
      std::printf("%s\n", j.dump().c_str());
    } else {
      rows.push_back({std::to_string(m.id), std::to_string(m.delivery_count), age_text(age_ms(m.commit_ns, now)),
                      std::to_string(m.data.size()), printable(m.data.data(), m.data.size(), 80)});
    }
  }
  if (!g.json) {
    const std::string gname = q.group_name(group);
    if (ms.empty()) {
      std::printf("no messages waiting in queue %s for group %s\n", queue.c_str(), gname.c_str());
    } else {
      std::string text = table(rows);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
  }
  return kOk;
}

}  // namespace

void add_data_commands(CLI::App& app, Globals& g, Commands& out) {
  auto s = std::make_shared<SendArgs>();
  CLI::App* send = app.add_subcommand("send", "Send DATA, the bytes of --file, or one message per line of stdin");
  send->add_option("QUEUE", s->queue, "Queue name")->required();
  send->add_option("DATA", s->data, "The message (else --file, else stdin lines)");
  send->add_option("--file", s->file, "Send this file's bytes as one message (binary safe)");
  send->add_option("--timeout", s->timeout_ms, "Wait up to MS for a free slot (default 0: fail at once when full)")
      ->capture_default_str();
  send->footer("Example: seq 1000 | shmq-cli send orders");
  out.push_back({send, [&g, s] { return run_send(g, *s); }});

  auto r = std::make_shared<RecvArgs>();
  CLI::App* recv = app.add_subcommand("recv", "Receive messages, print them, ack them");
  recv->add_option("QUEUE", r->queue, "Queue name")->required();
  recv->add_option("--group", r->group, "Consumer group (default: the queue's only group)");
  recv->add_option("-n,--count", r->count, "Messages to receive")->capture_default_str()->check(at_least_one());
  recv->add_option("--timeout", r->timeout_ms, "Give up after MS in all (exit 6); default: wait for ever");
  recv->add_flag("--no-ack", r->no_ack,
                 "Leave the messages leased: they are delivered again (count + 1) when this process is gone");
  add_json_flag(recv, g);
  recv->footer("Example: shmq-cli recv orders -n 10 --timeout 1000 --json   # one object per line: "
               "{\"id\",\"delivery_count\",\"size\",\"data\"|\"data_base64\"}");
  out.push_back({recv, [&g, r] { return run_recv(g, *r); }});

  auto pq = std::make_shared<std::string>();
  auto pg = std::make_shared<std::string>();
  auto pn = std::make_shared<std::uint32_t>(10);
  CLI::App* peek = app.add_subcommand("peek", "Show messages waiting for a group without consuming them");
  peek->add_option("QUEUE", *pq, "Queue name")->required();
  peek->add_option("--group", *pg, "Consumer group (default: the queue's only group)");
  peek->add_option("-n,--count", *pn, "At most this many")->capture_default_str()->check(at_least_one());
  add_json_flag(peek, g);
  peek->footer("Example: shmq-cli peek orders -n 5");
  out.push_back({peek, [&g, pq, pg, pn] { return run_peek(g, *pq, *pg, *pn); }});
}

}  // namespace shmq::cli
