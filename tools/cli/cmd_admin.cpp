// create, delete, purge: through shmq::Client, which asks the namespace's
// shmqd when one runs (its permission checks apply) and otherwise creates or
// removes the segment itself (unless --require-daemon); purge needs shmqd. wait-ready: until shmqd
// answers a ping on its control socket.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "cli.hpp"
#include "shmq/admin/control.hpp"
#include "shmq/admin/namespace.hpp"
#include "shmq/client.hpp"

namespace shmq::cli {

namespace {

struct CreateArgs {
  std::string queue;
  std::uint32_t capacity = 0;
  std::uint32_t slot_size = 0;
  std::vector<std::string> groups{"default"};
  std::vector<std::string> at_most_once;
  std::uint32_t max_deliveries = GroupConfig{}.max_deliveries;
  std::int64_t lease_timeout_ms = GroupConfig{}.lease_timeout.count();
  std::string mode = "0600";
  std::uint32_t dlq_capacity = QueueConfig{}.dlq_capacity;
  bool require_daemon = false;
};

struct DeleteArgs {
  std::string queue;
  bool require_daemon = false;
};

unsigned parse_mode(const std::string& text) {
  const bool octal = !text.empty() && text.size() <= 5 &&
                     text.find_first_not_of("01234567") == std::string::npos;
  if (!octal)
    throw Failure(kUsage, fmt::format("mode '{}' is invalid: give octal permission bits, e.g. 0600 or 0640", text));
  return static_cast<unsigned>(std::stoul(text, nullptr, 8));
}

QueueConfig make_config(const CreateArgs& a) {
  QueueConfig c;
  c.capacity = a.capacity;
  c.slot_size = a.slot_size;
  c.dlq_capacity = a.dlq_capacity;
  c.mode = parse_mode(a.mode);
  if (a.lease_timeout_ms <= 0)
    throw Failure(kUsage, fmt::format("lease timeout {} ms is invalid: give a positive number of milliseconds",
                                      a.lease_timeout_ms));
  const std::set<std::string> names(a.groups.begin(), a.groups.end());
  for (const std::string& g : a.at_most_once)
    if (!names.contains(g))
      throw Failure(kUsage, fmt::format("--at-most-once names group '{}', which is not in --groups", g));
  const std::set<std::string> amo(a.at_most_once.begin(), a.at_most_once.end());
  c.groups.clear();
  for (const std::string& g : a.groups)
    c.groups.push_back({g, amo.contains(g) ? DeliveryMode::AtMostOnce : DeliveryMode::AtLeastOnce,
                        a.max_deliveries, std::chrono::milliseconds(a.lease_timeout_ms)});
  return c;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

int run_create(const Globals& g, const CreateArgs& a) {
  const QueueConfig config = make_config(a);  // flag errors before attaching
  Client client(ClientOptions{.ns = g.ns(), .require_daemon = a.require_daemon});
  const QueueCreatedBy by = client.create_queue(a.queue, config);
  std::printf("created queue %s in namespace %s (%s): capacity %u, slot size %u B, groups %s, mode %s\n",
              a.queue.c_str(), client.namespace_name().c_str(),
              by == QueueCreatedBy::Daemon ? "by shmqd" : "directly: no shmqd answered", a.capacity, a.slot_size,
              join(a.groups).c_str(), a.mode.c_str());
  return kOk;
}

// Sessions attached to queue `queue` now; 0 if it cannot be read.
std::size_t attached_sessions(const std::string& ns, const std::string& queue) {
  try {
    return admin::Namespace(ns).queue(queue).stats().attachments.size();
  } catch (const Error&) {
    return 0;  // absent or unreadable: the delete says what is wrong
  }
}

int run_delete(const Globals& g, const DeleteArgs& a) {
  admin::validate_queue_name(a.queue);
  Client client(ClientOptions{.ns = g.ns(), .require_daemon = a.require_daemon});
  const std::size_t attached = attached_sessions(client.namespace_name(), a.queue);
  if (!client.delete_queue(a.queue))
    throw Failure(kNotFound, admin::queue_not_found(client.namespace_name(), a.queue).what());
  std::printf("deleted queue %s from namespace %s", a.queue.c_str(), client.namespace_name().c_str());
  if (attached != 0)
    std::printf("; %zu attached session%s get%s QueueDeleted from send and receive", attached,
                attached == 1 ? "" : "s", attached == 1 ? "s" : "");
  std::printf("\n");
  return kOk;
}

int run_purge(const Globals& g, const std::string& queue) {
  admin::validate_queue_name(queue);
  Client client(ClientOptions{.ns = g.ns()});
  const std::uint64_t n = client.purge_queue(queue);
  std::printf("purged queue %s: %llu message(s) dropped (summed over its groups); leased ones stay\n", queue.c_str(),
              static_cast<unsigned long long>(n));
  return kOk;
}

// Pings shmqd until it answers or `timeout_ms` passed (kTimeout). A ping is
// answered without a warning in shmqd's log; while no shmqd listens nothing
// reaches it at all (no socket, or connection refused).
int run_wait_ready(const Globals& g, std::int64_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  constexpr std::chrono::milliseconds kFirstPause{5};
  constexpr std::chrono::milliseconds kLongestPause{100};
  if (timeout_ms < 0) throw Failure(kUsage, fmt::format("--timeout {} is invalid: give milliseconds >= 0", timeout_ms));
  const std::string ns = g.ns();
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::chrono::milliseconds pause = kFirstPause;
  for (;;) {
    // At least 1 ms for the request itself: --timeout 0 still asks once.
    const auto left = std::max(std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()),
                               std::chrono::milliseconds(1));
    try {
      if (const auto reply = admin::call_daemon(ns, {admin::ControlOp::Ping, {}, {}}, left)) {
        if (!reply->ok) throw Error(reply->code, reply->error);
        std::printf("shmqd ready in namespace %s (pid %llu)\n", ns.c_str(), static_cast<unsigned long long>(reply->pid));
        return kOk;
      }
    } catch (const Error& e) {
      // Stopped or busy (timeout), or going away (hung up): ask again until the deadline.
      if (e.value() != errc::timeout && e.value() != errc::daemon_unavailable) throw;
    }
    const auto now = Clock::now();
    if (now >= deadline)
      throw Failure(kTimeout, fmt::format("no shmqd answered in namespace {} within {} ms: start `shmqd --namespace "
                                          "{}`, or check its log if it runs",
                                          ns, timeout_ms, ns));
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));  // a bounded backoff
    pause = std::min(pause * 2, kLongestPause);
  }
}

}  // namespace

void add_admin_commands(CLI::App& app, Globals& g, Commands& out) {
  auto a = std::make_shared<CreateArgs>();
  CLI::App* create = app.add_subcommand("create", "Create a queue (through shmqd when it runs)");
  create->add_option("QUEUE", a->queue, "Queue name: [A-Za-z0-9._-]{1,64}")->required();
  create->add_option("--capacity", a->capacity, "Slots: a power of two, 1 to 16777216")->required();
  create->add_option("--slot-size", a->slot_size, "Payload bytes per slot (the largest message)")->required();
  create->add_option("--groups", a->groups, "Consumer groups, comma-separated (default: default)")->delimiter(',');
  create->add_option("--at-most-once", a->at_most_once, "Groups delivered at most once (repeat or comma-separate)")
      ->delimiter(',');
  create->add_option("--max-deliveries", a->max_deliveries, "Deliveries before dead-lettering, 1 to 4095")
      ->capture_default_str();
  create->add_option("--lease-timeout", a->lease_timeout_ms, "Milliseconds a consumer may hold a message")->capture_default_str();
  create->add_option("--mode", a->mode, "Permission bits of the segment, octal")->capture_default_str();
  create->add_option("--dlq-capacity", a->dlq_capacity, "Dead letters kept")->capture_default_str();
  create->add_flag("--require-daemon", a->require_daemon,
                   "Fail (exit 5) when no shmqd answers, instead of creating the segment directly");
  create->footer("Example: shmq-cli create orders --capacity 1024 --slot-size 256 --groups billing,audit "
                 "--at-most-once audit --mode 0660");
  out.push_back({create, [&g, a] { return run_create(g, *a); }});

  auto d = std::make_shared<DeleteArgs>();
  CLI::App* del = app.add_subcommand("delete", "Delete a queue (attached processes keep their mapping)");
  del->add_option("QUEUE", d->queue, "Queue name")->required();
  del->add_flag("--require-daemon", d->require_daemon,
                "Fail (exit 5) when no shmqd answers, instead of removing the segment directly");
  del->footer("Example: shmq-cli delete orders");
  out.push_back({del, [&g, d] { return run_delete(g, *d); }});

  auto purge_queue = std::make_shared<std::string>();
  CLI::App* purge = app.add_subcommand("purge", "Drop every message no consumer holds (needs shmqd)");
  purge->add_option("QUEUE", *purge_queue, "Queue name")->required();
  purge->footer("Example: shmq-cli purge orders");
  out.push_back({purge, [&g, purge_queue] { return run_purge(g, *purge_queue); }});

  auto wait_timeout_ms = std::make_shared<std::int64_t>(10'000);
  CLI::App* wait = app.add_subcommand("wait-ready", "Wait until the namespace's shmqd answers (exit 6 on timeout)");
  wait->add_option("--timeout", *wait_timeout_ms, "Give up after MS (exit 6); 0: ask once")->capture_default_str();
  wait->footer("Example: shmqd --namespace prod --foreground & shmq-cli --namespace prod wait-ready --timeout 5000");
  out.push_back({wait, [&g, wait_timeout_ms] { return run_wait_ready(g, *wait_timeout_ms); }});
}

}  // namespace shmq::cli
