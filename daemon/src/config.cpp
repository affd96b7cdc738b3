#include "config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include <grp.h>
#include <unistd.h>

#include <toml++/toml.h>

#include "shmq/admin/namespace.hpp"
#include "shmq/admin/supervisor.hpp"
#include "shmq/error.hpp"

namespace shmq::daemon {

namespace {

// ---- locating errors ----------------------------------------------------------

// "file:line:column: " (column only when known).
std::string where(const std::string& source, const toml::source_region& r) {
  std::string s = source;
  if (r.begin.line != 0) {
    s += ":" + std::to_string(r.begin.line);
    if (r.begin.column != 0) s += ":" + std::to_string(r.begin.column);
  }
  return s + ": ";
}

// A key as it appears in a dotted path: bare if it can be, else quoted.
std::string key_text(std::string_view k) {
  const bool bare = !k.empty() && k.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                       "0123456789_-") == std::string_view::npos;
  return bare ? std::string(k) : "\"" + std::string(k) + "\"";
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// The parser's position while it walks the document: the file and the dotted
// path of the table being read.
class Walker {
 public:
  Walker(std::string source, std::string path) : source_(std::move(source)), path_(std::move(path)) {}

  [[nodiscard]] Walker child(std::string_view key) const {
    return {source_, path_.empty() ? key_text(key) : path_ + "." + key_text(key)};
  }
  [[nodiscard]] Walker element(std::size_t index) const { return {source_, path_ + "[" + std::to_string(index) + "]"}; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  // "file:line:col: path.key: what"
  [[noreturn]] void fail(const toml::source_region& at, std::string_view key, const std::string& what) const {
    const std::string k = key.empty() ? path_ : child(key).path();
    throw ConfigError(where(source_, at) + (k.empty() ? "" : k + ": ") + what);
  }

  // Rejects keys other than `allowed` (typos must not be ignored silently).
  void only_keys(const toml::table& t, std::initializer_list<std::string_view> allowed) const {
    for (auto&& [k, v] : t) {
      bool known = false;
      std::string list;
      for (std::string_view a : allowed) {
        known = known || a == k.str();
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!known) fail(k.source(), k.str(), "unknown key; expected one of: " + list);
    }
  }

  [[nodiscard]] const toml::table& table(const toml::node& n, std::string_view key) const {
    if (const toml::table* t = n.as_table()) return *t;
    fail(n.source(), key, "must be a table, not " + type_name(n));
  }

  [[nodiscard]] std::string string(const toml::node& n, std::string_view key) const {
    if (const auto* s = n.as_string()) return s->get();
    fail(n.source(), key, "must be a string, not " + type_name(n));
  }

  // An integer in [lo, hi]; `unit` follows the number in messages.
  [[nodiscard]] std::int64_t integer(const toml::node& n, std::string_view key, std::int64_t lo, std::int64_t hi,
                                     std::string_view unit = {}) const {
    const auto* i = n.as_integer();
    if (i == nullptr) fail(n.source(), key, "must be an integer, not " + type_name(n));
    const std::int64_t v = i->get();
    if (v < lo || v > hi)
      fail(n.source(), key,
           "must be from " + std::to_string(lo) + " to " + std::to_string(hi) + std::string(unit) + " (got " +
               std::to_string(v) + ")");
    return v;
  }

 private:
  std::string source_;
  std::string path_;
};

constexpr std::int64_t kU32Max = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t kOneDayMs = 24LL * 3600 * 1000;
constexpr std::int64_t kOneYearMs = 365 * kOneDayMs;
// queue_bytes needs a valid namespace; the config does not name one.
constexpr const char* kAnyNamespace = "config";

// Runs admin::queue_bytes on `c` (it validates every setting) and turns its
// shmq::Error into a ConfigError at `at`/`key`: the library is the one place
// that knows the limits.
void check_with_library(const Walker& w, const toml::source_region& at, std::string_view key,
                        const std::string& queue_name, const QueueConfig& c) {
  try {
    (void)admin::queue_bytes(kAnyNamespace, queue_name, c);
  } catch (const Error& e) {
    w.fail(at, key, e.what());
  }
}

// A queue config that passes make_queue_params except for what the caller sets.
QueueConfig neutral_config() {
  QueueConfig c;
  c.capacity = 1;
  c.slot_size = 1;
  c.dlq_capacity = 0;
  return c;
}

unsigned parse_mode(const Walker& w, const toml::node& n, std::string_view key = "mode") {
  constexpr std::string_view kExpected = "must be octal permission bits: 0o660 (TOML octal) or \"0660\"";
  std::int64_t v = -1;
  if (const auto* i = n.as_integer()) {
    // A decimal 660 would mean 01224: accept only what is written in octal.
    if ((i->flags() & toml::value_flags::format_as_octal) == toml::value_flags::none)
      w.fail(n.source(), key,
             std::string(kExpected) + " (got decimal " + std::to_string(i->get()) + "; write it 0o" +
                 std::to_string(i->get()) + " or in quotes)");
    v = i->get();
  } else if (const auto* s = n.as_string()) {
    std::string_view t = s->get();
    if (t.starts_with("0o")) t.remove_prefix(2);
    const bool digits = !t.empty() && t.size() <= 4 && t.find_first_not_of("01234567") == std::string_view::npos;
    if (!digits) w.fail(n.source(), key, std::string(kExpected) + " (got \"" + s->get() + "\")");
    v = std::stoll(std::string(t), nullptr, 8);
  } else {
    w.fail(n.source(), key, std::string(kExpected) + ", not " + type_name(n));
  }
  if (v < 0 || v > 0777) w.fail(n.source(), key, std::string(kExpected) + " (at most 0777)");
  return static_cast<unsigned>(v);
}

gid_t lookup_group(const Walker& w, const toml::node& n, std::string_view key = "owner_group") {
  const std::string name = w.string(n, key);
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  int rc = 0;
  while ((rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found)) == ERANGE) buf.resize(buf.size() * 2);
  if (rc != 0)
    w.fail(n.source(), key, "cannot look up group \"" + name + "\": " + std::generic_category().message(rc));
  if (found == nullptr)
    w.fail(n.source(), key, "no such group \"" + name + "\" (see /etc/group or `getent group`)");
  return g.gr_gid;
}

DeliveryMode parse_delivery(const Walker& w, const toml::node& n) {
  const std::string s = w.string(n, "delivery");
  if (const std::optional<DeliveryMode> mode = admin::delivery_from_name(s)) return *mode;
  w.fail(n.source(), "delivery", R"(must be "at-least-once" or "at-most-once" (got ")" + s + "\")");
}

GroupConfig parse_group(const Walker& w, const toml::table& t, const std::string& queue_name) {
  w.only_keys(t, {"name", "delivery", "max_deliveries", "lease_timeout_ms"});
  const toml::node* name = t.get("name");
  if (name == nullptr) w.fail(t.source(), "", "missing key \"name\" (the consumer group's name)");
  GroupConfig g;
  g.name = w.string(*name, "name");
  try {
    admin::validate_group_name(g.name);
  } catch (const Error& e) {
    w.fail(name->source(), "name", e.what());
  }
  if (const toml::node* n = t.get("delivery")) g.mode = parse_delivery(w, *n);
  QueueConfig c = neutral_config();
  if (const toml::node* n = t.get("max_deliveries")) {
    c.groups[0].max_deliveries = static_cast<std::uint32_t>(w.integer(*n, "max_deliveries", 0, kU32Max));
    check_with_library(w, n->source(), "max_deliveries", queue_name, c);
    g.max_deliveries = c.groups[0].max_deliveries;
  }
  if (const toml::node* n = t.get("lease_timeout_ms")) {
    c.groups[0].lease_timeout = std::chrono::milliseconds(w.integer(*n, "lease_timeout_ms", 1, kOneYearMs, " ms"));
    check_with_library(w, n->source(), "lease_timeout_ms", queue_name, c);
    g.lease_timeout = c.groups[0].lease_timeout;
  }
  return g;
}

QueueDefinition parse_queue(const Walker& w, const std::string& name, const toml::table& t) {
  w.only_keys(t, {"capacity", "slot_size", "dlq_capacity", "mode", "owner_group", "groups"});
  QueueDefinition q;
  q.name = name;
  try {
    admin::validate_queue_name(name);
  } catch (const Error& e) {
    w.fail(t.source(), "", e.what());
  }
  // Each setting is checked alone by the library, so its error lands on its key.
  const auto u32 = [&](std::string_view key, std::uint32_t QueueConfig::*field) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    QueueConfig c = neutral_config();
    c.*field = static_cast<std::uint32_t>(w.integer(*n, key, 0, kU32Max));
    check_with_library(w, n->source(), key, name, c);
    q.config.*field = c.*field;
  };
  u32("capacity", &QueueConfig::capacity);
  u32("slot_size", &QueueConfig::slot_size);
  u32("dlq_capacity", &QueueConfig::dlq_capacity);
  if (const toml::node* n = t.get("mode")) {
    QueueConfig c = neutral_config();
    c.mode = parse_mode(w, *n);
    check_with_library(w, n->source(), "mode", name, c);
    q.config.mode = c.mode;
  }
  if (const toml::node* n = t.get("owner_group")) {
    q.owner_group = lookup_group(w, *n);
    q.owner_group_name = n->as_string()->get();
  }
  if (const toml::node* n = t.get("groups")) {
    const toml::array* groups = n->as_array();
    if (groups == nullptr)
      w.fail(n->source(), "groups",
             "must be an array of tables ([[queues." + key_text(name) + ".groups]]), not " + type_name(*n));
    if (groups->empty()) w.fail(n->source(), "groups", "must list at least one group (or leave it out: one group \"default\")");
    const Walker gw = w.child("groups");
    q.config.groups.clear();
    std::set<std::string> seen;
    for (std::size_t i = 0; i < groups->size(); ++i) {
      const toml::node& g = *groups->get(i);
      const Walker ew = gw.element(i);
      const GroupConfig gc = parse_group(ew, ew.table(g, ""), name);
      if (!seen.insert(gc.name).second)
        ew.fail(g.as_table()->get("name")->source(), "name",
                "group \"" + gc.name + "\" is listed twice in queue \"" + name + "\": group names must be distinct");
      q.config.groups.push_back(gc);
    }
    // The count (1..16) and anything else only the whole queue shows.
    QueueConfig c = neutral_config();
    c.groups = q.config.groups;
    check_with_library(w, n->source(), "groups", name, c);
  }
  // The whole queue at once: nothing the per-key checks missed.
  check_with_library(w, t.source(), "", name, q.config);
  return q;
}

void parse_daemon(const Walker& w, const toml::table& t, DaemonConfig& config) {
  w.only_keys(t, {"heartbeat_interval_ms", "heartbeat_timeout_ms", "scan_period_ms", "registry_mode", "registry_group",
                  "control_connections_per_uid", "control_connection_lifetime_ms"});
  if (const toml::node* n = t.get("registry_mode")) config.registry_mode = parse_mode(w, *n, "registry_mode");
  if (const toml::node* n = t.get("registry_group")) {
    config.registry_group = lookup_group(w, *n, "registry_group");
    config.registry_group_name = n->as_string()->get();
  }
  const auto ms = [&](std::string_view key, std::int64_t lo, std::int64_t hi, std::chrono::milliseconds& out) {
    if (const toml::node* n = t.get(key)) out = std::chrono::milliseconds(w.integer(*n, key, lo, hi, " ms"));
  };
  ms("heartbeat_interval_ms", 1, 60'000, config.heartbeat_interval);
  ms("heartbeat_timeout_ms", kMinHeartbeatTimeout.count(), kMaxHeartbeatTimeout.count(), config.heartbeat_timeout);
  ms("scan_period_ms", 1, 10'000, config.scan_period);
  ms("control_connection_lifetime_ms", 100, 3'600'000, config.control_connection_lifetime);
  if (const toml::node* n = t.get("control_connections_per_uid"))
    config.control_connections_per_uid = static_cast<std::size_t>(
        w.integer(*n, "control_connections_per_uid", 1, static_cast<std::int64_t>(kMaxControlConnections)));
  if (config.heartbeat_timeout <= config.heartbeat_interval) {
    const toml::node* n = t.get("heartbeat_timeout_ms");
    w.fail(n != nullptr ? n->source() : t.source(), "heartbeat_timeout_ms",
           "must be longer than heartbeat_interval_ms (" + std::to_string(config.heartbeat_interval.count()) +
               " ms; got " + std::to_string(config.heartbeat_timeout.count()) + " ms)");
  }
}

}  // namespace

ConfigError::ConfigError(const std::string& what) : std::runtime_error([&] {
  std::string line;
  for (const char c : what) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) {
      line += c;
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      line += {'\\', 'x', kHex[u >> 4], kHex[u & 0xF]};
    }
  }
  return line;
}()) {}

DaemonConfig parse_config(std::string_view text, const std::string& source_name) {
  toml::table doc;
  try {
    doc = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(source_name, e.source()) + std::string(e.description()));
  }
  const Walker root(source_name, "");
  root.only_keys(doc, {"daemon", "queues"});
  DaemonConfig config;
  if (const toml::node* n = doc.get("daemon")) parse_daemon(root.child("daemon"), root.table(*n, "daemon"), config);
  if (const toml::node* n = doc.get("queues")) {
    const Walker qw = root.child("queues");
    // TOML itself refuses a queue defined twice ("cannot redefine existing table").
    std::vector<std::pair<toml::source_position, QueueDefinition>> queues;
    for (auto&& [name, q] : root.table(*n, "queues")) {
      const std::string queue_name(name.str());
      queues.emplace_back(q.source().begin, parse_queue(qw.child(queue_name), queue_name, qw.table(q, queue_name)));
    }
    // toml::table is sorted by key: put the queues back in the file's order.
    std::stable_sort(queues.begin(), queues.end(), [](const auto& a, const auto& b) {
      return a.first.line != b.first.line ? a.first.line < b.first.line : a.first.column < b.first.column;
    });
    for (auto& [pos, q] : queues) config.queues.push_back(std::move(q));
  }
  return config;
}

DaemonConfig load_config(const std::string& path) {
  // An ifstream opens a directory, and reading it gives nothing: the defaults.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(path + ": is a directory, not a config file: give the TOML file (e.g. /etc/shmq/shmqd.toml)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the config file: " + std::generic_category().message(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read the config file: " + std::generic_category().message(errno));
  return parse_config(text.str(), path);
}

}  // namespace shmq::daemon
