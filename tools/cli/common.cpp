#include <algorithm>
#include <charconv>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "cli.hpp"
#include "shmq/error.hpp"

namespace shmq::cli {

std::string Globals::ns() const { return admin::resolve_namespace(ns_flag); }

void add_json_flag(CLI::App* sub, Globals& g) {
  sub->add_flag("--json", g.json, "Print JSON with the stable keys docs/cli.md lists");
}

CLI::Validator at_least_one() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        const bool digits = !v.empty() && v.size() <= 9 && v.find_first_not_of("0123456789") == std::string::npos;
        if (digits && std::stoul(v) >= 1) return "";
        return "'" + v + "' is invalid: give a whole number from 1 to 999999999";
      },
      "N>=1");
}

CLI::Validator message_id() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        std::uint64_t id = 0;
        const char* end = v.data() + v.size();
        const bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
        if (digits) {
          const auto [ptr, ec] = std::from_chars(v.data(), end, id);
          if (ec == std::errc{} && ptr == end) return "";  // else: out of range
        }
        return "'" + v + "' is invalid: give a message id, a whole number from 0 to 18446744073709551615";
      },
      "ID");
}

std::string roles_text(const admin::AttachmentStats& a) {
  if (a.producer && a.consumer) return "producer,consumer";
  if (a.producer) return "producer";
  if (a.consumer) return "consumer";
  return "-";
}

std::string age_text(std::optional<std::uint64_t> ms) {
  if (!ms) return "-";
  if (*ms < 1000) return fmt::format("{}ms", *ms);
  if (*ms < 60'000) return fmt::format("{:.1f}s", static_cast<double>(*ms) / 1000.0);
  if (*ms < 3'600'000) return fmt::format("{}m{:02}s", *ms / 60'000, *ms / 1000 % 60);
  return fmt::format("{}h{:02}m", *ms / 3'600'000, *ms / 60'000 % 60);
}

namespace {

std::string group_names(const admin::Queue& q) {
  std::string names;
  for (std::uint32_t g = 0; g < q.group_count(); ++g) names += (g == 0 ? "" : ", ") + q.group_name(g);
  return names;
}

}  // namespace

std::uint32_t group_index(const admin::Queue& q, const std::string& group) {
  if (const std::optional<std::uint32_t> g = q.group_index(group)) return *g;
  throw Failure(kNotFound, fmt::format("queue '{}' has no consumer group '{}'; its groups: {}", q.name(), group,
                                       group_names(q)));
}

std::uint32_t choose_group(const admin::Queue& q, const std::string& group) {
  if (!group.empty()) return group_index(q, group);
  if (q.group_count() == 1) return 0;
  throw Failure(kUsage, fmt::format("queue '{}' has {} consumer groups ({}): choose one with --group", q.name(),
                                    q.group_count(), group_names(q)));
}

bool valid_utf8(const std::byte* p, std::size_t n) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1FU;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0FU;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3FU);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::string base64(const std::byte* p, std::size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const std::uint32_t b = (std::uint32_t{s[i]} << 16) | (i + 1 < n ? std::uint32_t{s[i + 1]} << 8 : 0U) |
                            (i + 2 < n ? std::uint32_t{s[i + 2]} : 0U);
    out += kAlphabet[(b >> 18) & 63];
    out += kAlphabet[(b >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(b >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[b & 63] : '=';
  }
  return out;
}

std::string printable(const std::byte* p, std::size_t n, std::size_t max_chars) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const bool utf8 = valid_utf8(p, n);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const unsigned char c = s[i];
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

std::uint64_t age_ms(std::uint64_t then_ns, std::uint64_t now_ns) noexcept {
  return now_ns > then_ns ? (now_ns - then_ns) / 1'000'000 : 0;
}

}  // namespace shmq::cli
