// shmq: a crash-robust, zero-copy shared-memory message queue for processes on
// one Linux host. The one header to include.
#pragma once

#include "shmq/client.hpp"    // IWYU pragma: export
#include "shmq/config.hpp"    // IWYU pragma: export
#include "shmq/consumer.hpp"  // IWYU pragma: export
#include "shmq/error.hpp"     // IWYU pragma: export
#include "shmq/producer.hpp"  // IWYU pragma: export
