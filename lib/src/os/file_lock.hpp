// The one file lock: declared in shmq/admin/file_lock.hpp (shmqd takes its
// instance lock with it), used here by its short name.
#pragma once

#include "shmq/admin/file_lock.hpp"

namespace shmq::detail {

using admin::FileLock;

}  // namespace shmq::detail
