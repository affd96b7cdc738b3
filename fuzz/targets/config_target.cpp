// shmqd's config parser: any text is a DaemonConfig or a ConfigError whose
// message is one line (shmqd prints it as one).
#include <string>
#include <string_view>

#include "config.hpp"
#include "targets.hpp"

int shmq_fuzz_config(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)shmq::daemon::parse_config(text, "fuzz.toml");
  } catch (const shmq::daemon::ConfigError& e) {
    const std::string_view what = e.what();
    if (what.empty() || what.find('\n') != std::string_view::npos)
      shmq::fuzz::broken("config", "a ConfigError is not one line: " + std::string(what));
  }
  return 0;
}
