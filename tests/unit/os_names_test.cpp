// Unit tests of the names shmq gives things (os/names.hpp): queue, group and
// namespace names are checked, with a message that quotes the bad value and
// the rule; the namespace comes from the caller, then $SHMQ_NAMESPACE, then
// "default"; every object name carries the namespace.
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "os/names.hpp"
#include "os_fixture.hpp"
#include "shmq/error.hpp"

namespace shmq::detail {
namespace {

using os_tests::contains;
using os_tests::error_of;

TEST(NamesTest, AcceptsValidNames) {
  for (const std::string& n :
       std::vector<std::string>{"a", "orders", "A-b_c.9", "..a", std::string(64, 'x')}) {
    EXPECT_NO_THROW(validate_queue_name(n)) << n;
    EXPECT_NO_THROW(validate_group_name(n)) << n;
  }
  for (const std::string& n : std::vector<std::string>{"default", "t-1_2", std::string(32, 'n')}) {
    EXPECT_NO_THROW(validate_namespace(n)) << n;
  }
}

TEST(NamesTest, RejectsInvalidQueueNameQuotingValueAndRule) {
  const auto e = error_of([] { validate_queue_name("a b"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->value(), errc::invalid_argument);
  EXPECT_EQ(e->code(), errc::invalid_argument);
  EXPECT_TRUE(
      contains(e->what(), "queue name 'a b' is invalid: use 1-64 characters from [A-Za-z0-9._-]"))
      << e->what();
  for (const std::string& n :
       std::vector<std::string>{"", ".", "..", "a/b", "a\nb", "é", std::string(65, 'x')}) {
    const auto err = error_of([&] { validate_queue_name(n); });
    ASSERT_TRUE(err) << n;
    EXPECT_EQ(err->value(), errc::invalid_argument);
  }
}

TEST(NamesTest, MessageEscapesAndCutsBadValues) {
  const auto ctl = error_of([] { validate_group_name("a\nb"); });
  ASSERT_TRUE(ctl);
  EXPECT_TRUE(contains(ctl->what(), "group name 'a\\x0ab' is invalid")) << ctl->what();
  const auto dot = error_of([] { validate_group_name(".."); });
  ASSERT_TRUE(dot);
  EXPECT_TRUE(contains(dot->what(), "not '.' or '..'")) << dot->what();
  const auto lng = error_of([] { validate_queue_name(std::string(1000, 'q')); });
  ASSERT_TRUE(lng);
  EXPECT_LT(std::strlen(lng->what()), 250u) << lng->what();
}

TEST(NamesTest, NamespaceRejectsDotsAndLongNames) {
  const auto dotted = error_of([] { validate_namespace("a.q.b"); });
  ASSERT_TRUE(dotted);
  EXPECT_EQ(dotted->value(), errc::invalid_argument);
  EXPECT_TRUE(contains(dotted->what(),
                       "namespace 'a.q.b' is invalid: use 1-32 characters from [A-Za-z0-9_-]"))
      << dotted->what();
  EXPECT_TRUE(error_of([] { validate_namespace(std::string(33, 'n')); }));
  EXPECT_TRUE(error_of([] { validate_namespace(""); }));
}

TEST(NamesTest, ResolveNamespacePrefersExplicitThenEnvironmentThenDefault) {
  const char* saved = std::getenv("SHMQ_NAMESPACE");
  const std::optional<std::string> old = saved ? std::optional<std::string>(saved) : std::nullopt;
  ::unsetenv("SHMQ_NAMESPACE");
  EXPECT_EQ(resolve_namespace(""), "default");
  ::setenv("SHMQ_NAMESPACE", "from-env", 1);
  EXPECT_EQ(resolve_namespace(""), "from-env");
  EXPECT_EQ(resolve_namespace("given"), "given");
  ::setenv("SHMQ_NAMESPACE", "bad name", 1);
  const auto e = error_of([] { resolve_namespace(""); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(contains(e->what(), "'bad name' (from $SHMQ_NAMESPACE)")) << e->what();
  EXPECT_TRUE(error_of([] { resolve_namespace("x/y"); }));
  if (old) {
    ::setenv("SHMQ_NAMESPACE", old->c_str(), 1);
  } else {
    ::unsetenv("SHMQ_NAMESPACE");
  }
}

TEST(NamesTest, ObjectNamesCarryTheNamespace) {
  EXPECT_EQ(namespace_prefix("ns"), "shmq.ns.");
  EXPECT_EQ(registry_segment_name("ns"), "shmq.ns.registry");
  EXPECT_EQ(queue_segment_name("ns", "orders"), "shmq.ns.q.orders");
  EXPECT_EQ(namespace_lock_path("ns"), "/dev/shm/shmq.ns.lock");
}

}  // namespace
}  // namespace shmq::detail
