#include "layout/header.hpp"

#include <cstring>

#include "shmq/error.hpp"

namespace shmq::detail {

void seal_segment_header(std::byte* base, std::uint64_t magic, SegmentKind kind, std::uint64_t info_size,
                         std::uint64_t total_size) noexcept {
  auto* h = reinterpret_cast<SegmentHeader*>(base);
  h->magic = magic;
  h->kind = static_cast<std::uint32_t>(kind);
  h->info_size = info_size;
  h->total_size = total_size;
  h->info_checksum = fnv1a(reinterpret_cast<const unsigned char*>(base + sizeof(SegmentHeader)), info_size);
  // SYNC POINT: publishes the whole initialised segment; pairs with the acquire
  // load in validate_segment_header.
  h->layout_version.store(kLayoutVersion, kRelease);
}

void validate_segment_header(const std::byte* base, std::size_t size, std::uint64_t magic, SegmentKind kind,
                             std::uint64_t info_size, const std::string& what) {
  const std::string fix = "; remove it with `shmq-cli gc` or recreate the queue";
  if (size < kInfoPage || size < sizeof(SegmentHeader) + info_size)
    throw Error(errc::corrupt_segment, what + " is truncated (" + std::to_string(size) + " bytes)" + fix);
  const auto* h = reinterpret_cast<const SegmentHeader*>(base);
  const std::uint32_t version = h->layout_version.load(kAcquire);
  // Magic and version are written last (seal_segment_header): a creator that
  // died or is still at work leaves both zero.
  if (version == 0 && (h->magic == 0 || h->magic == magic))
    throw Error(errc::corrupt_segment, what + " is not fully initialised (its creator died or is still creating it)" + fix);
  if (h->magic != magic || h->kind != static_cast<std::uint32_t>(kind))
    throw Error(errc::corrupt_segment, what + " is not a shmq segment of the expected kind (bad magic)" + fix);
  if (version != kLayoutVersion)
    throw Error(errc::version_mismatch, what + " has layout version " + std::to_string(version) + ", this libshmq uses " +
                                            std::to_string(kLayoutVersion) + "; use a matching libshmq or recreate the queue");
  if (h->info_size != info_size ||
      h->info_checksum != fnv1a(reinterpret_cast<const unsigned char*>(base + sizeof(SegmentHeader)), info_size))
    throw Error(errc::corrupt_segment, what + " has a bad header checksum" + fix);
  if (h->total_size != size)
    throw Error(errc::corrupt_segment, what + " is " + std::to_string(size) + " bytes but its header says " +
                                           std::to_string(h->total_size) + " (truncated?)" + fix);
}

}  // namespace shmq::detail
