#include "daemon.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "control.hpp"
#include "shmq/admin/namespace.hpp"
#include "shmq/admin/system.hpp"
#include "shmq/error.hpp"
#include "support/shmqd_ready.hpp"

#if SHMQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace shmq::daemon {

namespace {

std::string group_text(const GroupConfig& g) {
  return g.name + " (" + std::string(admin::delivery_name(g.mode)) + ", max_deliveries " + std::to_string(g.max_deliveries) +
         ", lease_timeout " + std::to_string(g.lease_timeout.count()) + " ms)";
}

std::string groups_text(const std::vector<GroupConfig>& groups) {
  std::string s;
  for (const GroupConfig& g : groups) s += (s.empty() ? "" : ", ") + group_text(g);
  return "[" + s + "]";
}

bool same_groups(const std::vector<GroupConfig>& a, const std::vector<GroupConfig>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].mode != b[i].mode || a[i].max_deliveries != b[i].max_deliveries ||
        a[i].lease_timeout != b[i].lease_timeout)
      return false;
  return true;
}

// What differs between the config and an existing segment, "" if nothing.
std::string differences(const QueueDefinition& want, const QueueConfig& have, const struct stat* st) {
  std::string d;
  const auto add = [&](const std::string& key, const std::string& config, const std::string& segment) {
    d += (d.empty() ? "" : "; ") + key + " " + segment + " (config: " + config + ")";
  };
  const QueueConfig& c = want.config;
  if (c.capacity != have.capacity) add("capacity", std::to_string(c.capacity), std::to_string(have.capacity));
  if (c.slot_size != have.slot_size) add("slot_size", std::to_string(c.slot_size), std::to_string(have.slot_size));
  if (c.dlq_capacity != have.dlq_capacity)
    add("dlq_capacity", std::to_string(c.dlq_capacity), std::to_string(have.dlq_capacity));
  if (!same_groups(c.groups, have.groups)) add("groups", groups_text(c.groups), groups_text(have.groups));
  if (st != nullptr) {
    if ((st->st_mode & 0777U) != c.mode) add("mode", admin::octal(c.mode), admin::octal(st->st_mode & 0777U));
    if (want.owner_group && st->st_gid != *want.owner_group)
      add("group", want.owner_group_name + " (gid " + std::to_string(*want.owner_group) + ")",
          "gid " + std::to_string(st->st_gid));
  }
  return d;
}

bool in_group(gid_t gid) {
  if (::getegid() == gid) return true;
  std::vector<gid_t> groups(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
  const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
  for (int i = 0; i < n; ++i)
    if (groups[static_cast<std::size_t>(i)] == gid) return true;
  return false;
}

void notify_systemd([[maybe_unused]] const char* state) {
#if SHMQ_HAVE_SYSTEMD
  // Without $NOTIFY_SOCKET (not run by systemd) this does nothing and returns 0.
  if (const int rc = ::sd_notify(0, state); rc < 0)
    spdlog::warn("sd_notify(\"{}\") failed: {}", state, std::generic_category().message(-rc));
#endif
}

// shmqd --ready-fd: one line, then the descriptor is closed. A reader that
// went away costs a warning, nothing more (SIGPIPE is ignored).
void report_ready(int fd) {
  const std::string message = support::shmqd_ready_message(::getpid());
  ssize_t n = 0;
  do {
    n = ::write(fd, message.data(), message.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(message.size()))
    spdlog::warn("--ready-fd {}: cannot write the ready line: {}", fd,
                 n < 0 ? admin::errno_text(errno) : std::string("short write"));
  ::close(fd);
}

}  // namespace

Daemon::Daemon(std::string ns, DaemonConfig config)
    : ns_(std::move(ns)), config_(std::move(config)) {
  loop_.handle_signals({SIGTERM, SIGINT, SIGHUP}, [this](int signo) {
    if (signo == SIGHUP) {
      spdlog::info("SIGHUP ignored: shmqd does not reload its config; restart it to apply a new one");
      return;
    }
    spdlog::info("{} received: stopping; every segment stays in place", signo == SIGTERM ? "SIGTERM" : "SIGINT");
    loop_.stop();
  });
}

Daemon::~Daemon() = default;

void Daemon::start() {
  lock_.emplace(ns_);
  spdlog::debug("holding the instance lock {}", lock_->path());
  check_can_create();
  std::vector<std::string> created;
  try {
    map_registry();
    for (const QueueDefinition& q : config_.queues)
      if (ensure_queue(q)) created.push_back(q.name);
    control_ = std::make_unique<ControlServer>(loop_, ns_, config_, *queues_);
  } catch (...) {
    // Do not start half-way: what this start created goes again (the queues
    // are seconds old; a process that mapped one keeps its mapping).
    for (const std::string& name : created) {
      try {
        admin::remove_queue(ns_, name);
        spdlog::info("removed queue {} again (created by this failed start)", name);
      } catch (const Error& e) {
        spdlog::error("cannot remove queue {} (created by this failed start): {}", name, e.what());
      }
    }
    throw;
  }
  watchdog_ = std::make_unique<Watchdog>(loop_, ns_, config_, *registry_, *queues_);
}

void Daemon::check_can_create() const {
  std::uint64_t needed = 0;
  for (const QueueDefinition& q : config_.queues) {
    if (q.owner_group && ::geteuid() != 0 && !in_group(*q.owner_group))
      throw Error(errc::permission_denied,
                  "cannot give queue " + q.name + " to group " + q.owner_group_name + ": shmqd runs as uid " +
                      std::to_string(::geteuid()) + ", not root and not a member of that group; run it as root or " +
                      "add its user to the group");
    struct stat st {};
    if (::stat(admin::object_path(admin::queue_object(ns_, q.name)).c_str(), &st) == 0) continue;  // adopted
    needed += admin::queue_bytes(ns_, q.name, q.config);
  }
  const std::uint64_t free_bytes = admin::shm_free_bytes();
  if (needed > free_bytes)
    throw Error(errc::no_space, "the configured queues need " + std::to_string(needed) + " bytes in /dev/shm but " +
                                    std::to_string(free_bytes) +
                                    " are free; make /dev/shm larger (e.g. docker --shm-size) or the queues smaller");
}

bool Daemon::ensure_queue(const QueueDefinition& q) {
  const std::string path = admin::object_path(admin::queue_object(ns_, q.name));
  try {
    // The set maps it with the others (Watchdog: QueueSet::refresh).
    admin::create_queue(ns_, q.name, q.config);
  } catch (const Error& e) {
    if (e.value() != errc::already_exists) throw;
    adopt_queue(q);
    return false;
  }
  if (q.owner_group) {
    // The owner stays (root when shmqd runs as root); only the group changes.
    if (::fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(-1), *q.owner_group, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      admin::remove_queue(ns_, q.name);
      throw Error(errc::permission_denied, "cannot give " + path + " to group " + q.owner_group_name + ": " +
                                               std::generic_category().message(err) + "; run shmqd as root or as a member of the group");
    }
  }
  spdlog::info("created queue {}: capacity {}, slot_size {}, dlq_capacity {}, mode {}{}, groups {}", q.name,
               q.config.capacity, q.config.slot_size, q.config.dlq_capacity, admin::octal(q.config.mode),
               q.owner_group ? ", group " + q.owner_group_name : "", groups_text(q.config.groups));
  return true;
}

void Daemon::adopt_queue(const QueueDefinition& q) {
  const std::string path = admin::object_path(admin::queue_object(ns_, q.name));
  try {
    const QueueSet::Queue& mapped = queues_->get(q.name);
    struct stat st {};
    const bool have_stat = ::stat(path.c_str(), &st) == 0;
    const std::string diff = differences(q, mapped.queue.config(), have_stat ? &st : nullptr);
    if (diff.empty())
      spdlog::info("adopted queue {} (it exists, as configured)", q.name);
    else
      spdlog::warn("queue {} exists with other settings than the config; keeping the existing one: {}. To apply "
                   "the config, delete the queue (its messages go with it) and restart shmqd",
                   q.name, diff);
  } catch (const Error& e) {
    // One unusable segment must not keep the watchdog from the others.
    spdlog::error("queue {} exists but cannot be used: {}; it is left as it is (`shmq-cli gc` or `shmq-cli delete "
                  "{}` removes it)",
                  q.name, e.what(), q.name);
  }
}

void Daemon::map_registry() {
  registry_.emplace(ns_);
  share_registry();
  queues_.emplace(ns_, *registry_);
}

// Whoever created the registry, shmqd sets who may attach (config registry_mode
// and registry_group), so a namespace can be shared by several users.
void Daemon::share_registry() const {
  const std::string path = admin::object_path(admin::registry_object(ns_));
  const gid_t group = config_.registry_group.value_or(static_cast<gid_t>(-1));
  if (::chmod(path.c_str(), config_.registry_mode) != 0 || ::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0)
    throw Error(errc::permission_denied, "cannot give the registry " + path + " mode " + admin::octal(config_.registry_mode) +
                                             (config_.registry_group ? " and group " + config_.registry_group_name : "") +
                                             ": " + admin::errno_text(errno) + "; run shmqd as root or as its owner");
  spdlog::info("registry {}: mode {}{}", path, admin::octal(config_.registry_mode),
               config_.registry_group ? ", group " + config_.registry_group_name : "");
}

void Daemon::run(int ready_fd) {
  notify_systemd("READY=1");
  // The watchdog's count: every queue of the namespace, not only the configured ones.
  spdlog::info("{} namespace {}, {} queues, pid {}", support::kShmqdReadyLine, ns_, queues_->size(), ::getpid());
  if (ready_fd >= 0) report_ready(ready_fd);
  loop_.run();
  notify_systemd("STOPPING=1");
  spdlog::info("shmqd stopped: namespace {}; segments left in place for the processes attached", ns_);
}

}  // namespace shmq::daemon
