// Starting shmqd from another program (the tests, shmq-bench recovery,
// shmq-chaos): which shmqd to run.
#pragma once

#include <string>

namespace shmq::support {

// The shmqd to start: `given` if not empty, else the one beside this program
// in a build tree (<dir>/../daemon/shmqd) or an install (<dir>/shmqd), else
// "shmqd" (found on $PATH).
std::string find_shmqd(const std::string& given);

}  // namespace shmq::support
