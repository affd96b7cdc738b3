// What the tests of shmqd's control socket (shmqd_control*_test.cpp) share:
// where a queue's segment is, a small queue, and requests sent the way the
// library sends them.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <sys/stat.h>

#include "shmq/admin/control.hpp"
#include "shmq/admin/control.hpp"
#include "os/queue_segment.hpp"
#include "shmq/shmq.hpp"
#include "test_support.hpp"

namespace shmq::test::control {

inline bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

inline shmq::QueueConfig small_queue(unsigned mode = 0600) {
  shmq::QueueConfig c;
  c.capacity = 8;
  c.slot_size = 64;
  c.dlq_capacity = 4;
  c.mode = mode;
  return c;
}

inline admin::ControlRequest request(admin::ControlOp op, const std::string& queue,
                                      const shmq::QueueConfig& config = small_queue()) {
  return admin::ControlRequest{op, queue, config};
}

// The reply of call_daemon for a child's checks, with errors as text.
inline std::string outcome(const TestNamespace& ns, const admin::ControlRequest& r) {
  try {
    const std::optional<admin::ControlReply> reply =
        shmq::admin::call_daemon(ns.name(), r, std::chrono::seconds(10));
    if (!reply) return "no daemon";
    if (reply->ok) return "ok";
    return std::string(shmq::admin::errc_name(reply->code)) + ": " + reply->error;
  } catch (const shmq::Error& e) {
    return std::string("threw ") + shmq::admin::errc_name(e.value()) + ": " + e.what();
  }
}

}  // namespace shmq::test::control
