// shmqd's config parser (daemon/src/config.cpp): good files give the settings
// they say; every bad one is refused with one line naming the file, line and
// dotted key, and what is expected.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"

namespace {

using shmq::DeliveryMode;
using shmq::daemon::ConfigError;
using shmq::daemon::DaemonConfig;
using shmq::daemon::parse_config;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The message of the ConfigError that parsing `text` throws ("" if none).
std::string error_of(const std::string& text) {
  try {
    (void)parse_config(text, "shmqd.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DaemonConfigTest, EmptyFileGivesDefaults) {
  const DaemonConfig c = parse_config("", "shmqd.toml");
  EXPECT_EQ(c.heartbeat_interval.count(), 100);
  EXPECT_EQ(c.heartbeat_timeout.count(), 2000);
  EXPECT_EQ(c.scan_period.count(), 10);
  EXPECT_TRUE(c.queues.empty());
}

// Found by the config fuzzer (fuzz/regressions/config/error-quoting-a-newline.toml):
// the parser's error quoted the text after a bad value, newline included, so
// the "one line" error took two.
TEST(DaemonConfigTest, ErrorsStayOneLineWhateverTheFileHolds) {
  const std::string bad_value = error_of("[q]\nx = t\nnext = 1\n");
  EXPECT_THAT(bad_value, HasSubstr("boolean"));
  EXPECT_EQ(bad_value.find('\n'), std::string::npos);
  const std::string e = error_of("[daemon]\n\"a\\nb\" = 1\n");  // a quoted key holding a newline
  EXPECT_THAT(e, HasSubstr("\"a\\x0ab\""));
  EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(DaemonConfigTest, FullFileGivesEverySetting) {
  const DaemonConfig c = parse_config(R"(
[daemon]
heartbeat_interval_ms = 50
heartbeat_timeout_ms = 500
scan_period_ms = 5

[queues.orders]
capacity = 256
slot_size = 128
dlq_capacity = 8
mode = 0o660
owner_group = "root"

[[queues.orders.groups]]
name = "billing"
delivery = "at-least-once"
max_deliveries = 3
lease_timeout_ms = 1500

[[queues.orders.groups]]
name = "audit"
delivery = "at-most-once"

[queues."eu.telemetry"]
mode = "0640"
)",
                                      "shmqd.toml");
  EXPECT_EQ(c.heartbeat_interval.count(), 50);
  EXPECT_EQ(c.heartbeat_timeout.count(), 500);
  EXPECT_EQ(c.scan_period.count(), 5);
  ASSERT_EQ(c.queues.size(), 2U);
  const auto& orders = c.queues[0];  // in the file's order
  EXPECT_EQ(orders.name, "orders");
  EXPECT_EQ(orders.config.capacity, 256U);
  EXPECT_EQ(orders.config.slot_size, 128U);
  EXPECT_EQ(orders.config.dlq_capacity, 8U);
  EXPECT_EQ(orders.config.mode, 0660U);
  ASSERT_TRUE(orders.owner_group.has_value());
  EXPECT_EQ(*orders.owner_group, 0U);
  ASSERT_EQ(orders.config.groups.size(), 2U);
  EXPECT_EQ(orders.config.groups[0].name, "billing");
  EXPECT_EQ(orders.config.groups[0].mode, DeliveryMode::AtLeastOnce);
  EXPECT_EQ(orders.config.groups[0].max_deliveries, 3U);
  EXPECT_EQ(orders.config.groups[0].lease_timeout.count(), 1500);
  EXPECT_EQ(orders.config.groups[1].name, "audit");
  EXPECT_EQ(orders.config.groups[1].mode, DeliveryMode::AtMostOnce);
  EXPECT_EQ(orders.config.groups[1].max_deliveries, 5U);  // the library's default
  const auto& telemetry = c.queues[1];
  EXPECT_EQ(telemetry.name, "eu.telemetry");
  EXPECT_EQ(telemetry.config.mode, 0640U);
  EXPECT_FALSE(telemetry.owner_group.has_value());
}

TEST(DaemonConfigTest, QueueWithoutGroupsGetsDefaultGroup) {
  const DaemonConfig c = parse_config("[queues.q]\ncapacity = 8\n", "shmqd.toml");
  ASSERT_EQ(c.queues.size(), 1U);
  ASSERT_EQ(c.queues[0].config.groups.size(), 1U);
  EXPECT_EQ(c.queues[0].config.groups[0].name, "default");
  EXPECT_EQ(c.queues[0].config.mode, 0600U);
}

TEST(DaemonConfigTest, TomlSyntaxErrorNamesFileAndLine) {
  EXPECT_THAT(error_of("[daemon]\nheartbeat_interval_ms = = 3\n"), StartsWith("shmqd.toml:2:"));
}

TEST(DaemonConfigTest, UnknownKeyIsRefusedWithItsLine) {
  const std::string e = error_of("[queues.orders]\ncapacity = 8\ncapcity = 16\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:3:1: queues.orders.capcity: unknown key"));
  EXPECT_THAT(e, HasSubstr("capacity"));  // lists what is allowed
  EXPECT_THAT(error_of("[deamon]\n"), StartsWith("shmqd.toml:1:"));
  EXPECT_THAT(error_of("[deamon]\n"), HasSubstr("deamon: unknown key"));
  EXPECT_THAT(error_of("[daemon]\nscan_ms = 3\n"), StartsWith("shmqd.toml:2:1: daemon.scan_ms: unknown key"));
}

TEST(DaemonConfigTest, WrongTypeIsRefused) {
  EXPECT_THAT(error_of("[queues.orders]\ncapacity = \"1024\"\n"),
              StartsWith("shmqd.toml:2:12: queues.orders.capacity: must be an integer, not a string"));
  EXPECT_THAT(error_of("[daemon]\nscan_period_ms = 1.5\n"),
              StartsWith("shmqd.toml:2:18: daemon.scan_period_ms: must be an integer, not a float"));
  EXPECT_THAT(error_of("queues = 3\n"), StartsWith("shmqd.toml:1:10: queues: must be a table"));
  EXPECT_THAT(error_of("[queues.q]\ngroups = \"a\"\n"), HasSubstr("queues.q.groups: must be an array of tables"));
}

TEST(DaemonConfigTest, CapacityNotPowerOfTwoIsRefused) {
  const std::string e = error_of("[daemon]\n\n[queues.orders]\nslot_size = 64\ncapacity = 1000\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:5:12: queues.orders.capacity: "));
  EXPECT_THAT(e, HasSubstr("1000"));
  EXPECT_THAT(e, HasSubstr("power of two"));
  EXPECT_THAT(error_of("[queues.q]\ncapacity = -4\n"), HasSubstr("queues.q.capacity: must be from 0 to"));
  EXPECT_THAT(error_of("[queues.q]\ncapacity = 33554432\n"), HasSubstr("queues.q.capacity: capacity 33554432"));
}

TEST(DaemonConfigTest, SlotSizeZeroIsRefused) {
  const std::string e = error_of("[queues.orders]\nslot_size = 0\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:2:13: queues.orders.slot_size: "));
  EXPECT_THAT(e, HasSubstr("slot size 0 is invalid"));
}

TEST(DaemonConfigTest, BadQueueNameIsRefused) {
  const std::string e = error_of("[queues.\"bad name!\"]\ncapacity = 8\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:1:"));
  EXPECT_THAT(e, HasSubstr("queues.\"bad name!\": "));
  EXPECT_THAT(e, HasSubstr("bad name!"));
  EXPECT_THAT(error_of(std::string("[queues.") + std::string(65, 'q') + "]\n"), HasSubstr("queues.qqq"));
}

TEST(DaemonConfigTest, DuplicateQueueIsRefused) {
  // TOML refuses a table defined twice; the message says where.
  const std::string e = error_of("[queues.a]\ncapacity = 8\n[queues.a]\nslot_size = 8\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:3:"));
  EXPECT_THAT(e, HasSubstr("queues.a"));
}

TEST(DaemonConfigTest, DuplicateGroupIsRefused) {
  const std::string e = error_of(R"([queues.orders]
[[queues.orders.groups]]
name = "billing"
[[queues.orders.groups]]
name = "billing"
)");
  EXPECT_THAT(e, StartsWith("shmqd.toml:5:8: queues.orders.groups[1].name: "));
  EXPECT_THAT(e, HasSubstr("listed twice"));
}

TEST(DaemonConfigTest, GroupProblemsAreRefused) {
  EXPECT_THAT(error_of("[[queues.q.groups]]\ndelivery = \"at-least-once\"\n"),
              HasSubstr("queues.q.groups[0]: missing key \"name\""));
  EXPECT_THAT(error_of("[[queues.q.groups]]\nname = \"a b\"\n"), StartsWith("shmqd.toml:2:8: queues.q.groups[0].name: "));
  EXPECT_THAT(error_of("[[queues.q.groups]]\nname = \"g\"\nmax_deliveries = 0\n"),
              StartsWith("shmqd.toml:3:18: queues.q.groups[0].max_deliveries: max deliveries 0"));
  EXPECT_THAT(error_of("[[queues.q.groups]]\nname = \"g\"\nlease_timeout_ms = 0\n"),
              StartsWith("shmqd.toml:3:20: queues.q.groups[0].lease_timeout_ms: must be from 1"));
  EXPECT_THAT(error_of("[[queues.q.groups]]\nname = \"g\"\nleese_timeout_ms = 10\n"),
              HasSubstr("queues.q.groups[0].leese_timeout_ms: unknown key"));
  EXPECT_THAT(error_of("[queues.q]\ngroups = []\n"), HasSubstr("queues.q.groups: must list at least one group"));
  std::string many = "[queues.q]\n";
  for (int i = 0; i < 17; ++i) many += "[[queues.q.groups]]\nname = \"g" + std::to_string(i) + "\"\n";
  EXPECT_THAT(error_of(many), HasSubstr("queues.q.groups: 17 consumer groups is invalid"));
}

TEST(DaemonConfigTest, UnknownDeliveryModeIsRefused) {
  const std::string e = error_of("[[queues.q.groups]]\nname = \"g\"\ndelivery = \"exactly-once\"\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:3:12: queues.q.groups[0].delivery: "));
  EXPECT_THAT(e, HasSubstr("\"at-least-once\" or \"at-most-once\""));
  EXPECT_THAT(e, HasSubstr("exactly-once"));
}

TEST(DaemonConfigTest, BadModeIsRefused) {
  EXPECT_THAT(error_of("[queues.q]\nmode = \"rw-rw----\"\n"),
              StartsWith("shmqd.toml:2:8: queues.q.mode: must be octal permission bits"));
  EXPECT_THAT(error_of("[queues.q]\nmode = \"0680\"\n"), HasSubstr("queues.q.mode: must be octal"));
  // Decimal 660 would be 01224: refused, with the fix.
  EXPECT_THAT(error_of("[queues.q]\nmode = 660\n"), HasSubstr("write it 0o660"));
  // The owner must keep read and write.
  EXPECT_THAT(error_of("[queues.q]\nmode = \"0060\"\n"), HasSubstr("queues.q.mode: mode 060 is invalid"));
  EXPECT_THAT(error_of("[queues.q]\nmode = 0o1777\n"), HasSubstr("queues.q.mode: must be octal"));
}

TEST(DaemonConfigTest, UnknownOwnerGroupIsRefused) {
  const std::string e = error_of("[queues.q]\nowner_group = \"no-such-group-shmq\"\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:2:15: queues.q.owner_group: no such group \"no-such-group-shmq\""));
}

TEST(DaemonConfigTest, RegistryModeAndGroupAreReadAndChecked) {
  const DaemonConfig c = parse_config("[daemon]\nregistry_mode = \"0660\"\nregistry_group = \"root\"\n", "shmqd.toml");
  EXPECT_EQ(c.registry_mode, 0660U);
  EXPECT_EQ(c.registry_group, std::optional<gid_t>(0));
  EXPECT_EQ(parse_config("", "shmqd.toml").registry_mode, 0600U);
  EXPECT_THAT(error_of("[daemon]\nregistry_mode = 660\n"),
              StartsWith("shmqd.toml:2:17: daemon.registry_mode: must be octal permission bits"));
  EXPECT_THAT(error_of("[daemon]\nregistry_group = \"no-such-group-shmq\"\n"),
              StartsWith("shmqd.toml:2:18: daemon.registry_group: no such group"));
}

TEST(DaemonConfigTest, ControlSocketLimitsAreReadAndChecked) {
  const DaemonConfig defaults = parse_config("", "shmqd.toml");
  EXPECT_EQ(defaults.control_connections_per_uid, 8U);
  EXPECT_EQ(defaults.control_connection_lifetime.count(), 5000);
  const DaemonConfig c = parse_config(
      "[daemon]\ncontrol_connections_per_uid = 2\ncontrol_connection_lifetime_ms = 250\n", "shmqd.toml");
  EXPECT_EQ(c.control_connections_per_uid, 2U);
  EXPECT_EQ(c.control_connection_lifetime.count(), 250);
  // The per-uid cap lies within the global cap of 64.
  EXPECT_THAT(error_of("[daemon]\ncontrol_connections_per_uid = 0\n"),
              StartsWith("shmqd.toml:2:31: daemon.control_connections_per_uid: must be from 1 to 64 (got 0)"));
  EXPECT_THAT(error_of("[daemon]\ncontrol_connections_per_uid = 65\n"),
              StartsWith("shmqd.toml:2:31: daemon.control_connections_per_uid: must be from 1 to 64 (got 65)"));
  EXPECT_THAT(error_of("[daemon]\ncontrol_connections_per_uid = \"8\"\n"),
              StartsWith("shmqd.toml:2:31: daemon.control_connections_per_uid: must be an integer, not a string"));
  EXPECT_THAT(error_of("[daemon]\ncontrol_connection_lifetime_ms = 10\n"),
              StartsWith("shmqd.toml:2:34: daemon.control_connection_lifetime_ms: must be from 100 to 3600000 ms "
                         "(got 10)"));
  EXPECT_THAT(error_of("[daemon]\ncontrol_connection_lifetime_ms = -1\n"),
              StartsWith("shmqd.toml:2:34: daemon.control_connection_lifetime_ms: must be from 100 to 3600000 ms"));
  EXPECT_THAT(error_of("[daemon]\ncontrol_connection_lifetime_ms = 1.5\n"),
              StartsWith("shmqd.toml:2:34: daemon.control_connection_lifetime_ms: must be an integer, not a float"));
}

TEST(DaemonConfigTest, HeartbeatTimeoutMustExceedInterval) {
  const std::string e = error_of("[daemon]\nheartbeat_interval_ms = 500\nheartbeat_timeout_ms = 500\n");
  EXPECT_THAT(e, StartsWith("shmqd.toml:3:24: daemon.heartbeat_timeout_ms: must be longer than"));
  EXPECT_THAT(error_of("[daemon]\nheartbeat_interval_ms = 0\n"),
              StartsWith("shmqd.toml:2:25: daemon.heartbeat_interval_ms: must be from 1 to 60000 ms (got 0)"));
}

TEST(DaemonConfigTest, HeartbeatTimeoutHasASaneMinimum) {
  EXPECT_THAT(error_of("[daemon]\nheartbeat_interval_ms = 1\nheartbeat_timeout_ms = 2\n"),
              StartsWith("shmqd.toml:3:24: daemon.heartbeat_timeout_ms: must be from 100 to 86400000 ms (got 2)"));
  EXPECT_EQ(parse_config("[daemon]\nheartbeat_interval_ms = 20\nheartbeat_timeout_ms = 100\n", "shmqd.toml")
                .heartbeat_timeout.count(),
            100);
}

TEST(DaemonConfigTest, ExampleConfigIsValid) {
  // daemon/shmqd.example.toml, found from this file's path (CMake compiles by absolute path).
  const std::string here = __FILE__;
  const std::string example = here.substr(0, here.rfind("/tests/unit/")) + "/daemon/shmqd.example.toml";
  const DaemonConfig c = shmq::daemon::load_config(example);
  ASSERT_EQ(c.queues.size(), 2U);
  EXPECT_EQ(c.queues[0].name, "orders");
  EXPECT_EQ(c.queues[0].config.groups.size(), 2U);
  EXPECT_EQ(c.queues[1].name, "telemetry");
}

TEST(DaemonConfigTest, LoadConfigNamesAMissingFile) {
  try {
    (void)shmq::daemon::load_config("/nonexistent/shmqd.toml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith("/nonexistent/shmqd.toml: cannot read the config file"));
  }
}

}  // namespace
