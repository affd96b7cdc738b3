// The control protocol's JSON encoding (nlohmann_json, header-only and kept
// out of the header: neither side's other files see it).
#include "shmq/admin/control.hpp"

#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "layout/layout.hpp"
#include "os/names.hpp"
#include "os/queue_segment.hpp"

namespace shmq::admin {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& what) {
  throw Error(errc::invalid_argument, "bad control request: " + what);
}

// Dumps with invalid UTF-8 replaced, so a message quoting a client's bytes can
// never make the encoder throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string type_of(const json& j) {
  if (j.is_number_float()) return "a fractional number";
  if (j.is_number_integer() && !j.is_number_unsigned()) return "a negative number";
  const std::string_view name = j.type_name();
  return std::string(name == "object" || name == "array" ? "an " : "a ") + std::string(name);
}

// Every key of `o` must be one of `allowed`.
void only_keys(const json& o, const std::string& where, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : o.items()) {
    bool known = false;
    std::string list;
    for (std::string_view a : allowed) {
      known = known || key == a;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    if (!known) bad("unknown key \"" + key + "\" in " + where + "; expected one of: " + list);
  }
}

const json* field(const json& o, const char* key) {
  const auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

std::string string_field(const json& o, const std::string& path, const char* key) {
  const json* v = field(o, key);
  if (v == nullptr) bad("missing \"" + std::string(key) + "\" in " + path);
  if (!v->is_string()) bad(path + "." + key + " must be a string, not " + type_of(*v));
  return v->get<std::string>();
}

std::uint64_t unsigned_field(const json& v, const std::string& name, std::uint64_t max) {
  if (!v.is_number_unsigned()) bad(name + " must be a non-negative integer, not " + type_of(v));
  const auto n = v.get<std::uint64_t>();
  if (n > max) bad(name + " " + std::to_string(n) + " is too large (at most " + std::to_string(max) + ")");
  return n;
}

unsigned parse_mode(const json& v) {
  constexpr const char* kExpected = "config.mode must be octal permission bits as a string (\"0640\") or their value";
  if (v.is_string()) {
    std::string_view t = v.get_ref<const std::string&>();
    if (t.starts_with("0o")) t.remove_prefix(2);
    if (t.empty() || t.size() > 4 || t.find_first_not_of("01234567") != std::string_view::npos)
      bad(std::string(kExpected) + " (got \"" + v.get<std::string>() + "\")");
    return static_cast<unsigned>(std::stoul(std::string(t), nullptr, 8));
  }
  if (!v.is_number_unsigned()) bad(std::string(kExpected) + ", not " + type_of(v));
  return static_cast<unsigned>(unsigned_field(v, "config.mode", 07777));
}

GroupConfig parse_group(const json& g, std::size_t i) {
  const std::string path = "config.groups[" + std::to_string(i) + "]";
  if (!g.is_object()) bad(path + " must be an object, not " + type_of(g));
  only_keys(g, path, {"name", "delivery", "max_deliveries", "lease_timeout_ms"});
  GroupConfig c;
  c.name = string_field(g, path, "name");
  if (field(g, "delivery") != nullptr) {
    const std::string d = string_field(g, path, "delivery");
    const std::optional<DeliveryMode> mode = detail::delivery_from_name(d);
    if (!mode) bad(path + R"(.delivery must be "at-least-once" or "at-most-once" (got ")" + d + "\")");
    c.mode = *mode;
  }
  if (const json* v = field(g, "max_deliveries"))
    c.max_deliveries = static_cast<std::uint32_t>(
        unsigned_field(*v, path + ".max_deliveries", std::numeric_limits<std::uint32_t>::max()));
  if (const json* v = field(g, "lease_timeout_ms"))
    c.lease_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(
        unsigned_field(*v, path + ".lease_timeout_ms", std::numeric_limits<std::uint32_t>::max() * 1000ULL)));
  return c;
}

QueueConfig parse_config(const json& c) {
  if (!c.is_object()) bad("config must be an object, not " + type_of(c));
  only_keys(c, "config", {"capacity", "slot_size", "dlq_capacity", "mode", "groups"});
  QueueConfig q;
  constexpr std::uint64_t kU32 = std::numeric_limits<std::uint32_t>::max();
  if (const json* v = field(c, "capacity")) q.capacity = static_cast<std::uint32_t>(unsigned_field(*v, "config.capacity", kU32));
  if (const json* v = field(c, "slot_size")) q.slot_size = static_cast<std::uint32_t>(unsigned_field(*v, "config.slot_size", kU32));
  if (const json* v = field(c, "dlq_capacity"))
    q.dlq_capacity = static_cast<std::uint32_t>(unsigned_field(*v, "config.dlq_capacity", kU32));
  if (const json* v = field(c, "mode")) q.mode = parse_mode(*v);
  if (const json* v = field(c, "groups")) {
    if (!v->is_array()) bad("config.groups must be an array, not " + type_of(*v));
    if (v->size() > 1024) bad("config.groups lists " + std::to_string(v->size()) + " groups (at most " +
                               std::to_string(detail::kMaxGroups) + ")");
    q.groups.clear();
    for (std::size_t i = 0; i < v->size(); ++i) q.groups.push_back(parse_group((*v)[i], i));
  }
  return q;
}

}  // namespace

std::string control_socket_path(const std::string& ns) { return detail::shm_path(detail::namespace_prefix(ns) + "shmqd.sock"); }

const char* op_name(ControlOp op) noexcept {
  switch (op) {
    case ControlOp::Create: return "create";
    case ControlOp::Delete: return "delete";
    case ControlOp::Purge: return "purge";
    case ControlOp::Ping: return "ping";
  }
  return "?";
}

namespace {

struct ErrcName {
  errc code;
  const char* name;
};
constexpr ErrcName kErrcNames[] = {
    {errc::invalid_argument, "invalid_argument"},   {errc::not_found, "not_found"},
    {errc::already_exists, "already_exists"},       {errc::permission_denied, "permission_denied"},
    {errc::no_space, "no_space"},                   {errc::corrupt_segment, "corrupt_segment"},
    {errc::version_mismatch, "version_mismatch"},   {errc::namespace_mismatch, "namespace_mismatch"},
    {errc::too_many_sessions, "too_many_sessions"}, {errc::fenced, "fenced"},
    {errc::daemon_unavailable, "daemon_unavailable"}, {errc::timeout, "timeout"},
    {errc::system_error, "system_error"},
};

}  // namespace

const char* errc_name(errc e) noexcept {
  for (const ErrcName& n : kErrcNames)
    if (n.code == e) return n.name;
  return "system_error";
}

std::optional<errc> errc_from_name(std::string_view name) noexcept {
  for (const ErrcName& n : kErrcNames)
    if (name == n.name) return n.code;
  return std::nullopt;
}

std::string encode_request(const ControlRequest& r) {
  json j{{"op", op_name(r.op)}};
  if (r.op != ControlOp::Ping) j["queue"] = r.queue;
  if (r.op == ControlOp::Create) {
    json groups = json::array();
    for (const GroupConfig& g : r.config.groups)
      groups.push_back({{"name", g.name},
                        {"delivery", detail::delivery_name(g.mode)},
                        {"max_deliveries", g.max_deliveries},
                        {"lease_timeout_ms", g.lease_timeout.count()}});
    j["config"] = {{"capacity", r.config.capacity},   {"slot_size", r.config.slot_size},
                   {"dlq_capacity", r.config.dlq_capacity}, {"mode", detail::octal(r.config.mode)},
                   {"groups", std::move(groups)}};
  }
  return dump(j);
}

ControlRequest decode_request(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad("not valid JSON; send one JSON object per packet");
  if (!j.is_object()) bad("the request must be a JSON object, not " + type_of(j));
  ControlRequest r;
  const std::string op = string_field(j, "the request", "op");
  if (op == "create") r.op = ControlOp::Create;
  else if (op == "delete") r.op = ControlOp::Delete;
  else if (op == "purge") r.op = ControlOp::Purge;
  else if (op == "ping") r.op = ControlOp::Ping;
  else bad("unknown op \"" + op + R"("; use "create", "delete", "purge" or "ping")");
  if (r.op == ControlOp::Ping) {
    only_keys(j, "a ping request", {"op"});
    return r;
  }
  if (r.op == ControlOp::Create) only_keys(j, "a create request", {"op", "queue", "config"});
  else only_keys(j, std::string("a ") + op_name(r.op) + " request", {"op", "queue"});
  r.queue = string_field(j, "the request", "queue");
  if (r.op == ControlOp::Create) {
    const json* c = field(j, "config");
    if (c == nullptr) bad("missing \"config\" in the create request (an object; {} for the defaults)");
    r.config = parse_config(*c);
  }
  return r;
}

std::string encode_reply(const ControlReply& r) {
  json j{{"ok", r.ok}};
  if (!r.ok) {
    j["code"] = errc_name(r.code);
    j["error"] = r.error;
    return dump(j);
  }
  if (!r.groups.empty()) {
    j["purged"] = r.purged;
    json groups = json::array();
    for (const PurgedGroup& g : r.groups) groups.push_back({{"name", g.name}, {"ready", g.ready}, {"pending", g.pending}});
    j["groups"] = std::move(groups);
  }
  if (r.pid != 0) j["pid"] = r.pid;
  return dump(j);
}

ControlReply decode_reply(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto fail = [&](const std::string& what) -> Error {
    return Error(errc::system_error, "shmqd sent a malformed reply (" + what + "); is it the same version as this "
                                     "program?");
  };
  if (j.is_discarded() || !j.is_object()) throw fail("not a JSON object");
  const json* ok = field(j, "ok");
  if (ok == nullptr || !ok->is_boolean()) throw fail("no boolean \"ok\"");
  // A count: absent is 0; anything but a whole number that fits is refused
  // (converting a float or a negative number would be undefined).
  const auto count = [&](const json& o, const char* key) -> std::uint64_t {
    const json* v = field(o, key);
    if (v == nullptr) return 0;
    if (!v->is_number_unsigned()) throw fail(std::string("\"") + key + "\" is not a whole number");
    return v->get<std::uint64_t>();
  };
  ControlReply r;
  r.ok = ok->get<bool>();
  try {
    if (!r.ok) {
      r.code = errc_from_name(j.value("code", std::string())).value_or(errc::system_error);
      r.error = j.value("error", std::string("shmqd refused the request without saying why"));
      return r;
    }
    r.purged = count(j, "purged");
    if (const json* pid = field(j, "pid"); pid != nullptr && pid->is_number_unsigned()) r.pid = pid->get<std::uint64_t>();
    if (const json* groups = field(j, "groups"); groups != nullptr && groups->is_array())
      for (const json& g : *groups) r.groups.push_back({g.value("name", std::string()), count(g, "ready"), count(g, "pending")});
  } catch (const json::exception& e) {
    throw fail(e.what());
  }
  return r;
}

}  // namespace shmq::admin
