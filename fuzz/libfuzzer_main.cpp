// The libFuzzer entry of one target (SHMQ_FUZZ_TARGET names its body, see
// targets/targets.hpp); fuzz/CMakeLists.txt builds one program per target.
#include <cstdlib>

#include "targets.hpp"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  std::atexit(shmq::fuzz::shutdown);  // the segment target's /dev/shm objects
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return SHMQ_FUZZ_TARGET(data, size);
}
