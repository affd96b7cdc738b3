// Writing and checking the SegmentHeader every segment starts with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "layout/layout.hpp"

namespace shmq::detail {

// Fills the header of a freshly zeroed segment whose info struct (info_size
// bytes at offset 64) is already written; stores layout_version last.
void seal_segment_header(std::byte* base, std::uint64_t magic, SegmentKind kind, std::uint64_t info_size,
                         std::uint64_t total_size) noexcept;

// Throws shmq::Error (corrupt_segment or version_mismatch) naming `what` unless
// `size` bytes at `base` start with a complete header of this magic and kind,
// an intact info checksum, and a total size that matches the mapping.
void validate_segment_header(const std::byte* base, std::size_t size, std::uint64_t magic, SegmentKind kind,
                             std::uint64_t info_size, const std::string& what);

// A fixed char array of a shared struct as a string (stops at the first NUL or
// the end, so a corrupt array cannot overrun).
template <std::size_t N>
std::string fixed_string(const char (&chars)[N]) {
  std::size_t n = 0;
  while (n < N && chars[n] != '\0') ++n;
  return std::string(chars, n);
}

}  // namespace shmq::detail
