// The transports shmq-bench compares, in the order the table shows them, and
// the factory that builds a channel of any of them (each family has its own
// file, see transports_impl.hpp).
#include "transports.hpp"
#include "transports_impl.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace shmq_bench {

const std::vector<std::string>& latency_transports() {
  static const std::vector<std::string> all{
      "floor",   "futex-floor", "shmq-spin", "shmq-spin-touch", "shmq-yield",    "shmq-park", "shmq-adaptive",
      "uds-spin", "uds",        "pipe-spin", "pipe",            "posix-mq-spin", "posix-mq",  "boost-mq"};
  return all;
}

bool is_shmq(const std::string& transport) { return transport.starts_with("shmq-"); }
bool is_floor(const std::string& transport) { return transport == "floor" || transport == "futex-floor"; }

std::unique_ptr<Channel> make_channel(const ChannelSpec& spec) {
  const std::string& t = spec.transport;
  if (t == "floor" || t == "futex-floor") return make_floor_channel(t == "futex-floor");
  if (is_shmq(t)) return make_shmq_channel(spec);
  if (t == "uds" || t == "uds-spin") return make_uds_channel(spec);
  if (t == "pipe" || t == "pipe-spin") return make_pipe_channel(spec);
  if (t == "posix-mq" || t == "posix-mq-spin") return make_posix_mq_channel(spec);
  if (t == "boost-mq") return make_boost_mq_channel(spec);
  throw std::invalid_argument("unknown transport '" + t + "'");
}

}  // namespace shmq_bench
