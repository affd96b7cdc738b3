#include "support/shmqd_launcher.hpp"

#include <climits>

#include <unistd.h>

namespace shmq::support {

std::string find_shmqd(const std::string& given) {
  if (!given.empty()) return given;
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    const std::string exe(self, static_cast<std::size_t>(n));
    const std::string dir = exe.substr(0, exe.rfind('/'));
    for (const std::string& candidate : {dir + "/../daemon/shmqd", dir + "/shmqd"})
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "shmqd";
}

}  // namespace shmq::support
