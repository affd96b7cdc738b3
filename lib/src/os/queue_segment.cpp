#include "os/queue_segment.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include <unistd.h>

#include "core/registry.hpp"
#include "layout/crash_point.hpp"
#include "layout/header.hpp"
#include "os/file_lock.hpp"
#include "os/names.hpp"
#include "os/process.hpp"
#include "os/wait.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {

namespace {

[[noreturn]] void bad(const std::string& what) { throw Error(errc::invalid_argument, what); }

std::string queue_what(const std::string& ns, const std::string& name) {
  return "queue '" + name + "' (namespace '" + ns + "', " + shm_path(queue_segment_name(ns, name)) + ")";
}

bool half_initialised(const Segment& s) {
  if (s.size() < sizeof(SegmentHeader)) return true;
  return reinterpret_cast<const SegmentHeader*>(s.data())->layout_version.load(kAcquire) == 0;
}

// A queue whose remover marked it deleted and died before unlinking its name.
bool half_removed(const Segment& s) {
  return reinterpret_cast<const SegmentHeader*>(s.data())->removed.load(kRelaxed) != 0;
}

MappedRegistry map_registry(Segment s, const std::string& ns) {
  const RegistryView v = open_registry_view(
      s.data(), s.size(), ns, "registry of namespace '" + ns + "' (" + shm_path(registry_segment_name(ns)) + ")");
  return {std::move(s), v};
}

// The segment `name` if it exists and its creator finished it.
std::optional<Segment> open_initialised(const std::string& name) {
  try {
    Segment s = Segment::open(name, Access::ReadWrite);
    if (!half_initialised(s)) return s;
  } catch (const Error& e) {
    if (e.value() != errc::not_found && e.value() != errc::corrupt_segment) throw;
  }
  return std::nullopt;
}

}  // namespace

MappedRegistry open_registry(const std::string& ns, Access access) {
  return map_registry(Segment::open(registry_segment_name(ns), access), ns);
}

MappedRegistry open_or_create_registry(const std::string& ns) {
  const std::string name = registry_segment_name(ns);
  if (std::optional<Segment> s = open_initialised(name)) return map_registry(std::move(*s), ns);
  const FileLock lock(namespace_lock_path(ns));
  if (std::optional<Segment> s = open_initialised(name)) return map_registry(std::move(*s), ns);
  (void)Segment::remove(name);  // missing, or its creator died while holding the lock
  Segment s = Segment::create(name, kRegistrySize, 0600);
  init_registry_segment(s.data(), ns, realtime_ns());
  return map_registry(std::move(s), ns);
}

SessionIdentity this_process(std::chrono::nanoseconds heartbeat_timeout) {
  const pid_t pid = ::getpid();
  SessionIdentity id;
  id.pid = static_cast<std::uint32_t>(pid);
  id.start_time = process_start_time(pid);
  id.heartbeat_timeout_ns = static_cast<std::uint64_t>(heartbeat_timeout.count());
  id.now_ns = monotonic_ns();
  id.now_realtime_ns = realtime_ns();
  id.comm = process_name(pid);
  return id;
}

QueueParams make_queue_params(const std::string& ns, const std::string& name, const QueueConfig& c) {
  validate_namespace(ns);
  validate_queue_name(name);
  if (c.capacity == 0 || c.capacity > kMaxCapacity || !std::has_single_bit(c.capacity))
    bad("capacity " + std::to_string(c.capacity) + " is invalid: use a power of two from 1 to " +
        std::to_string(kMaxCapacity) + " (e.g. " + std::to_string(std::bit_ceil(std::max(1U, std::min(c.capacity, kMaxCapacity)))) + ")");
  if (c.slot_size == 0 || c.slot_size > kMaxSlotSize)
    bad("slot size " + std::to_string(c.slot_size) + " is invalid: use 1 to " + std::to_string(kMaxSlotSize) + " bytes");
  if (c.groups.empty() || c.groups.size() > kMaxGroups)
    bad(std::to_string(c.groups.size()) + " consumer groups is invalid: use 1 to " + std::to_string(kMaxGroups));
  if (c.dlq_capacity > kMaxCapacity)
    bad("dead-letter capacity " + std::to_string(c.dlq_capacity) + " is invalid: use 0 to " + std::to_string(kMaxCapacity));
  if ((c.mode & ~0777U) != 0 || (c.mode & 0600U) != 0600U)
    bad("mode " + octal(c.mode) + " is invalid: use permission bits that include 0600 (e.g. 0600, 0660)");

  QueueParams p;
  p.namespace_name = ns;
  p.name = name;
  p.capacity = c.capacity;
  p.slot_size = c.slot_size;
  p.dlq_capacity = c.dlq_capacity;
  p.mode = c.mode;
  p.creator_pid = static_cast<std::uint32_t>(::getpid());
  p.created_realtime_ns = realtime_ns();
  std::set<std::string> names;
  for (const GroupConfig& g : c.groups) {
    validate_group_name(g.name);
    if (!names.insert(g.name).second) bad("group '" + g.name + "' is listed twice: group names must be distinct");
    if (g.max_deliveries == 0 || g.max_deliveries > kMaxDeliveries)
      bad("max deliveries " + std::to_string(g.max_deliveries) + " of group '" + g.name + "' is invalid: use 1 to " +
          std::to_string(kMaxDeliveries));
    if (g.lease_timeout.count() <= 0 || static_cast<std::uint64_t>(g.lease_timeout.count()) > kMaxLeaseTimeoutMs)
      bad("lease timeout " + std::to_string(g.lease_timeout.count()) + " ms of group '" + g.name +
          "' is invalid: use 1 ms to one year");
    GroupInfo gi{};
    std::memcpy(gi.name, g.name.data(), g.name.size());
    gi.at_most_once = g.mode == DeliveryMode::AtMostOnce ? 1 : 0;
    gi.max_deliveries = g.max_deliveries;
    gi.lease_timeout_ms = static_cast<std::uint64_t>(g.lease_timeout.count());
    p.groups.push_back(gi);
  }
  return p;
}

MappedQueue create_queue_segment(const std::string& ns, const std::string& name, const QueueConfig& config) {
  const QueueParams p = make_queue_params(ns, name, config);
  const std::string seg_name = queue_segment_name(ns, name);
  FileLock lock(namespace_lock_path(ns));
  try {
    Segment old = Segment::open(seg_name, Access::ReadWrite);
    // We hold the lock every creator and remover holds, so version 0 means its
    // creator died, and a removed mark that its remover did.
    if (!half_initialised(old) && !half_removed(old))
      throw Error(errc::already_exists, queue_what(ns, name) + " already exists");
    Segment::remove(seg_name);
  } catch (const Error& e) {
    if (e.value() != errc::not_found && e.value() != errc::corrupt_segment) throw;
  }
  Segment seg = Segment::create(seg_name, queue_segment_size(p), p.mode);
  SHMQ_CRASH_POINT("create.sized");
  init_queue_segment(seg.data(), p);
  QueueView view = open_queue_view(seg.data(), seg.size(), ns, queue_what(ns, name));
  return {std::move(seg), view};
}

Error queue_not_found(const std::string& ns, const std::string& name) {
  return Error(errc::not_found,
               "queue '" + name + "' not found in namespace '" + ns + "'; `shmq-cli list` shows the queues");
}

MappedQueue open_queue_segment(const std::string& ns, const std::string& name, Access access) {
  validate_queue_name(name);
  Segment seg = [&] {
    try {
      return Segment::open(queue_segment_name(ns, name), access);
    } catch (const Error& e) {
      if (e.value() == errc::not_found) throw queue_not_found(ns, name);
      throw;
    }
  }();
  QueueView view = open_queue_view(seg.data(), seg.size(), ns, queue_what(ns, name));
  return {std::move(seg), view};
}

bool remove_queue_segment(const std::string& ns, const std::string& name) {
  validate_queue_name(name);
  const std::string seg_name = queue_segment_name(ns, name);
  FileLock lock(namespace_lock_path(ns));
  // First tell whoever maps it (their send and receive return QueueDeleted,
  // parked ones wake to see it), then unlink: a queue created again under the
  // name is never silently split from the old one's processes. A segment that
  // does not open as a queue has nobody to tell.
  std::optional<Segment> seg;
  try {
    seg.emplace(Segment::open(seg_name, Access::ReadWrite));
  } catch (const Error& e) {
    if (e.value() == errc::not_found) return false;  // otherwise Segment::remove says what is wrong
  }
  if (seg) {
    try {
      const QueueView view = open_queue_view(seg->data(), seg->size(), ns, queue_what(ns, name));
      mark_removed(view);
      wake_everyone(view);
    } catch (const Error&) {  // NOLINT(bugprone-empty-catch): corrupt, half made or half removed: nobody uses it
    }
  }
  SHMQ_CRASH_POINT("delete.marked");
  return Segment::remove(seg_name);
}

std::vector<std::string> list_queue_names(const std::string& ns) {
  const std::string prefix = queue_prefix(ns);
  std::vector<std::string> names;
  for (const std::string& n : Segment::list(prefix)) names.push_back(n.substr(prefix.size()));
  std::sort(names.begin(), names.end());
  return names;
}

QueueConfig config_of(const QueueView& q) {
  QueueConfig c;
  c.capacity = q.capacity;
  c.slot_size = q.slot_size();
  c.dlq_capacity = q.dlq_capacity;
  c.mode = q.settings.mode;
  c.groups.clear();
  for (std::uint32_t g = 0; g < q.group_count; ++g) {
    const GroupInfo& gi = q.group_info(g);
    c.groups.push_back({fixed_string(gi.name), gi.at_most_once != 0 ? DeliveryMode::AtMostOnce : DeliveryMode::AtLeastOnce,
                        gi.max_deliveries, std::chrono::milliseconds(gi.lease_timeout_ms)});
  }
  return c;
}

const char* delivery_name(DeliveryMode mode) noexcept {
  return mode == DeliveryMode::AtMostOnce ? "at-most-once" : "at-least-once";
}

std::optional<DeliveryMode> delivery_from_name(std::string_view name) noexcept {
  if (name == "at-least-once") return DeliveryMode::AtLeastOnce;
  if (name == "at-most-once") return DeliveryMode::AtMostOnce;
  return std::nullopt;
}

}  // namespace shmq::detail
