// The crash-point matrix's workload (crash_point_test.cpp runs it in a forked
// child and kills it at one named step): it reaches every name in
// detail::kClientCrashPoints at least twice, and records in shared memory what the
// parent needs to check that nothing was lost.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "layout/crash_point.hpp"
#include "shmq/shmq.hpp"

namespace shmq::test {

inline constexpr std::uint32_t kCrashCapacity = 8;
inline constexpr std::uint32_t kCrashGroups = 3;  // g0: at-least-once, 2 deliveries; g1: at-least-once; g2: at-most-once
inline constexpr std::uint32_t kMaxLog = 256;

// What the child tells the parent, in shared anonymous memory (survives SIGKILL).
struct ChildLog {
  std::atomic<std::uint32_t> committed_count;
  std::uint64_t committed[kMaxLog];  // written after commit returned Ok
  std::atomic<std::uint32_t> ack_count[kCrashGroups];
  std::uint64_t acked[kCrashGroups][kMaxLog];  // written before ack: the ack may have happened
  // How often the child reached each named step; written when it returns.
  std::uint64_t hits[detail::kClientCrashPoints.size()];
};

// Three groups, 8 slots, a dead-letter area of 8 (see kCrashGroups).
QueueConfig crash_queue();

// The child's workload on queue "q" of namespace `ns`. `point` empty: runs
// unarmed; else it is killed at the `nth` hit of `point`. Returns 0 when it
// ran to its end (never, when armed at a step it reaches `nth` times).
int crash_workload(const std::string& ns, const std::string& point, std::uint32_t nth, ChildLog& log);

}  // namespace shmq::test
