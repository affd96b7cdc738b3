#include "logging.hpp"

#include <cstdlib>
#include <memory>
#include <utility>

#include <syslog.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

namespace shmq::daemon {

namespace {

void log_to(spdlog::sink_ptr sink, const std::string& ns, spdlog::level::level_enum level, bool stamp) {
  auto logger = std::make_shared<spdlog::logger>("shmqd", std::move(sink));
  logger->set_pattern(std::string(stamp ? "[%Y-%m-%d %H:%M:%S.%e] " : "") + "[shmqd ns=" + ns + "] [%l] %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace

void log_to_stderr(const std::string& ns, spdlog::level::level_enum level) {
  log_to(std::make_shared<spdlog::sinks::stderr_sink_mt>(), ns, level, std::getenv("JOURNAL_STREAM") == nullptr);
}

void log_to_syslog(const std::string& ns, spdlog::level::level_enum level) {
  log_to(std::make_shared<spdlog::sinks::syslog_sink_mt>("shmqd", LOG_PID, LOG_DAEMON, true), ns, level, false);
}

}  // namespace shmq::daemon
