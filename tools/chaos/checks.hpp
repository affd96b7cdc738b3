// shmq-chaos's verdict on the record map, once every worker is gone: which
// committed messages a group never accounted for (lost), which it recorded
// twice with nothing to explain it (duplicates), which it recorded though they
// were never committed (phantoms), and which dead letters sit in a group that
// must have none (stray). Pure: the unit tests run it on a heap buffer.
//
// Accounted for, per group:
//   at-least-once   recorded (acked) at least once; in the dead-letter group
//                   also: seen in the dead-letter area and not replayed since
//                   (a replayed message must be acked or dead-lettered again);
//   at-most-once    recorded, or among those its dead consumers may have taken.
// Excused (the only ways to be missing without being lost):
//   in doubt        a killed producer's last sequence number that no group
//                   recorded or saw dead-lettered (maybe never committed);
//   amo_may_drop    one at-most-once message per at-most-once consumer that
//                   died or was fenced (each holds at most one);
//   purges          purge k reported dropping dropped[g] messages of group g,
//                   and could only drop messages committed before it returned
//                   (seq < committed_before[p]). A missing message committed
//                   before purge k returned may be charged to purge k or a
//                   later one, never an earlier one; each purge covers at most
//                   what it reported. Everything committed after the last
//                   purge returned must arrive.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "workers.hpp"

namespace shmq::chaos {

// A sequence number a killed producer may or may not have committed.
struct InDoubt {
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;
  auto operator<=>(const InDoubt&) const = default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 bug, no pointer here
};

// A purge as shmqd reported it. committed_before[p]: producer p's first
// sequence number not yet committed (or being committed) when the reply came:
// the purge cannot have dropped it or any later one.
struct PurgeRecord {
  std::array<std::uint64_t, kGroups> dropped{};
  std::vector<std::uint64_t> committed_before;
};

// What may excuse a missing or a twice-recorded message.
struct Excuses {
  std::span<const InDoubt> in_doubt;     // sorted
  std::uint64_t amo_may_drop = 0;        // at-most-once consumers that died or were fenced
  std::span<const PurgeRecord> purges;   // in the order they ran
  // Keeper incarnations killed or fenced: each may have published a replay
  // and died before freeing its entry, which a later replay publishes again
  // (a second delivery with delivery count 1 in the dead-letter group).
  std::uint64_t replays_cut = 0;
};

struct RecordVerdict {
  std::uint64_t lost = 0;           // not accounted for, not excused
  std::uint64_t duplicates = 0;     // recorded twice with no redelivery or cut replay to explain it
  std::uint64_t phantoms = 0;       // recorded or dead-lettered, never committed
  std::uint64_t stray = 0;          // dead-lettered in a group that never nacks often
  std::uint64_t amo_dropped = 0;    // at-most-once, missing, charged to a dead consumer (allowed)
  std::uint64_t purge_excused = 0;  // missing, charged to a purge that reported it (allowed)
  std::uint64_t dead_lettered = 0;  // messages of the dead-letter group seen in the area
  std::uint64_t replay_duplicates = 0;  // second deliveries charged to a cut replay (allowed)
  std::vector<std::string> samples;     // a few of the failures, named
};

// `next[p]`: producer p's first unused sequence number.
[[nodiscard]] RecordVerdict check_records(const RunShape& shape, const SharedLedger& shared,
                                          std::span<const std::uint64_t> next, const Excuses& excuses);

}  // namespace shmq::chaos
