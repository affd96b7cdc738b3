#include "checks.hpp"

#include <algorithm>

namespace shmq::chaos {

namespace {

constexpr std::size_t kMaxSamples = 8;
constexpr std::size_t kSamplesPerBucket = 4;

struct Named {
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;
  bool after_replay = false;
};

// The missing messages of one group, by the first purge that could have
// dropped them (bucket purges.size(): committed after the last purge returned).
struct Missing {
  std::vector<std::uint64_t> count;
  std::vector<std::vector<Named>> named;  // a few per bucket, for the samples
  std::uint64_t total = 0;
};

// The first purge that may have dropped (p, seq); purges.size() if none.
std::size_t first_purge(std::span<const PurgeRecord> purges, std::uint32_t p, std::uint64_t seq) {
  const auto it = std::partition_point(purges.begin(), purges.end(),
                                       [&](const PurgeRecord& r) { return seq >= r.committed_before[p]; });
  return static_cast<std::size_t>(it - purges.begin());
}

// How many missing messages no purge can take: each is charged to the first
// purge it could be in or a later one, each purge at most what it reported.
// By Hall's theorem for these nested choices that is the largest excess of
// missing over reported drops among the suffixes of purges. Returns the
// excess and the bucket where its suffix starts.
std::pair<std::uint64_t, std::size_t> uncovered(const Missing& m, std::span<const PurgeRecord> purges,
                                                std::uint32_t g) {
  std::uint64_t missing = 0;
  std::uint64_t dropped = 0;
  std::pair<std::uint64_t, std::size_t> worst{0, purges.size()};
  for (std::size_t k = purges.size() + 1; k-- > 0;) {
    missing += m.count[k];
    if (k < purges.size()) dropped += purges[k].dropped[g];
    if (missing > dropped && missing - dropped > worst.first) worst = {missing - dropped, k};
  }
  return worst;
}

}  // namespace

RecordVerdict check_records(const RunShape& shape, const SharedLedger& shared, std::span<const std::uint64_t> next,
                            const Excuses& excuses) {
  RecordVerdict v;
  auto sample = [&](const std::string& what, std::uint32_t g, std::uint32_t p, std::uint64_t seq) {
    if (v.samples.size() < kMaxSamples)
      v.samples.push_back(what + ": " + kGroupNames[g] + " (producer " + std::to_string(p) + ", seq " +
                          std::to_string(seq) + ")");
  };
  constexpr std::uint8_t kSeen = RecordCell::kCountMask | RecordCell::kDeadLettered;
  auto seen_anywhere = [&](std::uint32_t p, std::uint64_t seq) {
    for (std::uint32_t g = 0; g < kGroups; ++g)
      if ((*shared.cell(shape, g, p, seq) & kSeen) != 0) return true;
    return false;
  };
  std::array<Missing, kGroups> missing;
  for (Missing& m : missing) {
    m.count.assign(excuses.purges.size() + 1, 0);
    m.named.resize(excuses.purges.size() + 1);
  }
  std::uint64_t cut_replay_duplicates = 0;

  for (std::uint32_t p = 0; p < shape.producers; ++p) {
    for (std::uint64_t seq = 0; seq < shape.per_producer; ++seq) {
      // In doubt and seen by no group: maybe never committed, owed to nobody.
      const bool in_doubt = seq < next[p] &&
                            std::binary_search(excuses.in_doubt.begin(), excuses.in_doubt.end(), InDoubt{p, seq}) &&
                            !seen_anywhere(p, seq);
      for (std::uint32_t g = 0; g < kGroups; ++g) {
        const std::uint8_t cell = *shared.cell(shape, g, p, seq);
        const unsigned count = cell & RecordCell::kCountMask;
        const bool dead = (cell & RecordCell::kDeadLettered) != 0;
        if (seq >= next[p]) {
          if ((cell & kSeen) != 0) {
            ++v.phantoms;
            sample("received, never committed", g, p, seq);
          }
          continue;
        }
        if (dead && g != kDlqGroup) {
          ++v.stray;
          sample("dead-lettered in a group that never nacks often", g, p, seq);
        }
        if (dead && g == kDlqGroup) ++v.dead_lettered;
        const bool owed = (cell & RecordCell::kReplayOwed) != 0;
        const bool accounted = count != 0 || (g == kDlqGroup && dead && !owed);
        if (!accounted && !in_doubt) {
          Missing& m = missing[g];
          const std::size_t k = first_purge(excuses.purges, p, seq);
          ++m.count[k];
          ++m.total;
          if (m.named[k].size() < kSamplesPerBucket) m.named[k].push_back({p, seq, owed});
        } else if (count > 1 && (kAtMostOnce[g] || (cell & RecordCell::kRedelivered) == 0)) {
          if (g == kDlqGroup && dead) {
            ++cut_replay_duplicates;
          } else {
            ++v.duplicates;
            sample("delivered twice without a redelivery", g, p, seq);
          }
        }
      }
    }
  }

  v.replay_duplicates = std::min(cut_replay_duplicates, excuses.replays_cut);
  if (cut_replay_duplicates > excuses.replays_cut) {
    v.duplicates += cut_replay_duplicates - excuses.replays_cut;
    if (v.samples.size() < kMaxSamples)
      v.samples.push_back("duplicates: " + std::to_string(cut_replay_duplicates) +
                          " replayed messages delivered twice, but only " + std::to_string(excuses.replays_cut) +
                          " replays were cut short");
  }

  for (std::uint32_t g = 0; g < kGroups; ++g) {
    const Missing& m = missing[g];
    const auto [excess, from] = uncovered(m, excuses.purges, g);
    const std::uint64_t wildcard = kAtMostOnce[g] ? excuses.amo_may_drop : 0;
    const std::uint64_t lost = excess > wildcard ? excess - wildcard : 0;
    v.purge_excused += m.total - excess;
    v.amo_dropped += excess - lost;
    v.lost += lost;
    if (lost == 0) continue;
    if (kAtMostOnce[g]) {
      if (v.samples.size() < kMaxSamples)
        v.samples.push_back("lost: " + std::to_string(excess) + " at-most-once messages missing, but only " +
                            std::to_string(wildcard) + " consumers died or were fenced holding one" +
                            (m.total != excess ? " (purges excused " + std::to_string(m.total - excess) + " more)" : ""));
      continue;
    }
    // Name the ones no purge could have dropped first (the latest buckets).
    for (std::size_t k = m.named.size(); k-- > from;)
      for (const Named& n : m.named[k]) sample(n.after_replay ? "lost after a replay" : "lost", g, n.producer, n.seq);
  }
  return v;
}

}  // namespace shmq::chaos
