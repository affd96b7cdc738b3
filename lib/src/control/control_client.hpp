// The client end of the control socket (protocol: control_protocol.hpp): one
// request, one reply, bounded in time. Used by Client and shmq-cli.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "control/control_protocol.hpp"

namespace shmq::detail {

inline constexpr std::chrono::milliseconds kDefaultDaemonTimeout{10'000};

// Sends `request` to the shmqd of namespace `ns` and returns its reply (ok or
// not). std::nullopt when no shmqd listens: the socket file is missing
// (ENOENT) or nobody accepts on it (ECONNREFUSED: a dead daemon's leftover).
// Connect, send and receive together take at most `timeout`; past it throws
// Error(errc::timeout) (a stopped or stuck daemon never hangs the caller).
// Other failures throw Error: permission_denied (the socket refuses this
// user), daemon_unavailable (the daemon hung up without a reply),
// system_error (a socket call failed; the message names it).
std::optional<ControlReply> call_daemon(const std::string& ns, const ControlRequest& request,
                                        std::chrono::milliseconds timeout = kDefaultDaemonTimeout);

// errc::daemon_unavailable: "no shmqd in namespace X: start `shmqd --namespace X`".
Error no_daemon_error(const std::string& ns);

}  // namespace shmq::detail
