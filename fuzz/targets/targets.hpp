// The bodies of the fuzz targets: plain functions, so the libFuzzer programs
// (fuzz/libfuzzer_main.cpp) and fuzz_corpus_test (every preset, ASan too) run
// the same code. Each takes any bytes and returns 0; an input that makes the
// code under test crash, hang, read out of bounds, hit undefined behaviour,
// throw anything but its documented error, or break an invariant the target
// checks, aborts (a finding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shmq::fuzz {

// The namespace the segment target writes its queue into. Default:
// $SHMQ_FUZZ_NAMESPACE, else "fuzz<pid>". Set it before the first input.
void set_namespace(const std::string& ns);
const std::string& fuzz_namespace();
// Ends the segment target's session and removes every /dev/shm object of the
// namespace (registry, queue, lock). Idempotent.
void shutdown();

// Aborts with a line naming the broken invariant (a finding, not an error).
[[noreturn]] void broken(const char* target, const std::string& what);

}  // namespace shmq::fuzz

// The input as the bytes of a queue segment: open, audit, stats, peek, DLQ
// list, recovery and expiry, a consumer's try_receive, a producer's send.
int shmq_fuzz_segment(const std::uint8_t* data, std::size_t size);
// The input as shmqd's TOML config (parse_config).
int shmq_fuzz_config(const std::uint8_t* data, std::size_t size);
// The input as a control request and as a reply (decode_request, decode_reply).
int shmq_fuzz_control(const std::uint8_t* data, std::size_t size);
// The input as shmq-cli's argv (split on NUL bytes; parsed, never run) and as
// the text `send` reads from stdin (LineSplitter).
int shmq_fuzz_cli(const std::uint8_t* data, std::size_t size);
