// The configuration's key table (cli/config_keys.h) against its readers and its manual: every
// key is read from the file, its variable and (where it has one) its flag the same way, and
// docs/sagactl.md's table is the table.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/config.h"
#include "cli/config_keys.h"

namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A value unlike the default, as the file or a variable writes it.
std::string sample(const cli::ConfigKey& key) {
  return std::visit(
      [&](auto target) -> std::string {
        using T = std::decay_t<decltype(target(std::declval<cli::Config&>()))>;
        if constexpr (std::is_same_v<T, bool>) return "true";
        else if constexpr (std::is_same_v<T, int>) return std::to_string(key.max);
        else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) return "3m";
        else if constexpr (std::is_same_v<T, std::vector<std::string>>) return "sample-path";
        else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) return "linger.ms=7";
        else return key.choices.empty() ? "sample-text" : std::string(key.choices.back());
      },
      key.target);
}

// The key's value in `c`, as text, to compare two configs key by key.
std::string value_of(const cli::ConfigKey& key, cli::Config& c) {
  return std::visit(
      [&](auto target) -> std::string {
        const auto& v = target(c);
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) return v;
        else if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, int>) return std::to_string(v);
        else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) return std::to_string(v.count()) + "ms";
        else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out;
          for (const auto& x : v) out += x + ";";
          return out;
        } else {
          std::string out;
          for (const auto& [k, x] : v) out += k + "=" + x + ";";
          return out;
        }
      },
      key.target);
}

// `path: value` as YAML: "kafka.brokers" -> "kafka:\n  brokers: value".
std::string as_yaml(const cli::ConfigKey& key, const std::string& value) {
  std::string path(key.path);
  std::string leaf = std::visit(
      [&](auto target) -> std::string {
        using T = std::decay_t<decltype(target(std::declval<cli::Config&>()))>;
        if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
          auto eq = value.find('=');
          return "{" + value.substr(0, eq) + ": \"" + value.substr(eq + 1) + "\"}";
        } else {
          return "\"" + value + "\"";
        }
      },
      key.target);
  auto dot = path.find('.');
  if (dot == std::string::npos) return path + ": " + leaf + "\n";
  return path.substr(0, dot) + ":\n  " + path.substr(dot + 1) + ": " + leaf + "\n";
}

class ConfigKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sagactl-config-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  cli::ConfigResult load(const std::string& text) {
    std::ofstream(dir_ / "sagactl.yaml") << text;
    return cli::load_config((dir_ / "sagactl.yaml").string(), true);
  }

  fs::path dir_;
};

TEST_F(ConfigKeys, EveryKeyIsReadFromTheFileAsSetByItsText) {
  for (const cli::ConfigKey& key : cli::config_keys()) {
    cli::Config expected;
    ASSERT_EQ(cli::set_config_key(key, sample(key), key.path, expected), std::nullopt) << key.path;
    auto r = load(as_yaml(key, sample(key)));
    ASSERT_TRUE(r.ok()) << key.path << ": " << (r.diagnostics.empty() ? "" : r.diagnostics[0].message);
    if (key.is_path) {  // relative to the file's folder
      ASSERT_EQ(cli::set_config_key(key, (dir_ / sample(key)).string(), key.path, expected), std::nullopt);
    }
    EXPECT_EQ(value_of(key, r.config), value_of(key, expected)) << key.path;
    cli::Config defaults;
    EXPECT_NE(value_of(key, r.config), value_of(key, defaults)) << key.path;
  }
}

TEST_F(ConfigKeys, EveryVariableOverridesTheFileAndABadOneIsNamed) {
  for (const cli::ConfigKey& key : cli::config_keys()) {
    if (key.env.empty()) continue;
    std::string name(key.env);
    ::setenv(name.c_str(), sample(key).c_str(), 1);
    cli::ConfigResult r;
    cli::apply_environment(r);
    ::unsetenv(name.c_str());
    cli::Config expected;
    ASSERT_EQ(cli::set_config_key(key, sample(key), key.path, expected), std::nullopt);
    EXPECT_TRUE(r.ok()) << name;
    EXPECT_EQ(value_of(key, r.config), value_of(key, expected)) << name;
  }
  ::setenv("SAGACTL_KAFKA_PARTITIONS", "many", 1);
  cli::ConfigResult r;
  cli::apply_environment(r);
  ::unsetenv("SAGACTL_KAFKA_PARTITIONS");
  ASSERT_EQ(r.diagnostics.size(), 1U);
  EXPECT_EQ(r.diagnostics[0].file, "$SAGACTL_KAFKA_PARTITIONS");
  EXPECT_EQ(r.diagnostics[0].message, "SAGACTL_KAFKA_PARTITIONS must be a whole number from 1 to 1024, got \"many\"");
}

TEST_F(ConfigKeys, AListVariableIsSplitAtItsSeparator) {
  ::setenv("SAGACTL_SAGAS", "a:b::c", 1);
  ::setenv("SAGACTL_ADMIN_HOSTS", "x.internal,y.internal", 1);
  cli::ConfigResult r;
  cli::apply_environment(r);
  ::unsetenv("SAGACTL_SAGAS");
  ::unsetenv("SAGACTL_ADMIN_HOSTS");
  EXPECT_EQ(r.config.sagas, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.config.admin_hosts, (std::vector<std::string>{"x.internal", "y.internal"}));
}

TEST_F(ConfigKeys, ASectionMayBeItsShorthandKeyAndProblemsHaveTheirPositions) {
  auto shorthand = load("admin: 10.0.0.1:7000\n");
  ASSERT_TRUE(shorthand.ok());
  EXPECT_EQ(shorthand.config.admin, "10.0.0.1:7000");
  auto off = load("kafka:\n  events_topic:\n");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off.config.kafka.events_topic, "");

  auto bad = load("kafka:\n  brokres: x:1\n  partitions: [1]\nadmin:\n  idle_timeout: 0s\nlog: loud\n");
  ASSERT_EQ(bad.diagnostics.size(), 4U);
  EXPECT_EQ(dsl::format(bad.diagnostics[0]).substr((dir_ / "sagactl.yaml").string().size()),
            ":2:3: error: unknown key \"brokres\" in kafka (did you mean \"brokers\"?)");
  EXPECT_EQ(bad.diagnostics[1].message, "kafka.partitions must be a single value, not a list");
  EXPECT_EQ(bad.diagnostics[2].message,
            "admin.idle_timeout \"0s\" is not a positive duration: use a number with ms, s, m, h or d, e.g. 500ms, "
            "10s, 2m, 1h, 7d");
  EXPECT_EQ(bad.diagnostics[3].message, "log must be a mapping of level, format");
}

TEST_F(ConfigKeys, ATokenFileFromALaterSourceReplacesAnEarlierToken) {
  auto file = load("admin:\n  token: from-file\n");
  ASSERT_TRUE(file.ok());
  ::setenv("SAGACTL_ADMIN_TOKEN_FILE", "/run/secrets/token", 1);
  cli::apply_environment(file);
  ::unsetenv("SAGACTL_ADMIN_TOKEN_FILE");
  EXPECT_EQ(file.config.admin_token, "");
  EXPECT_EQ(file.config.admin_token_file, "/run/secrets/token");
  // In one source, a token beside a file wins (admin_token() reads the token first).
  auto both = load("admin:\n  token: t\n  token_file: f\n");
  EXPECT_EQ(both.config.admin_token, "t");
}

TEST(ConfigManual, TheManualsTableIsTheKeyTable) {
  std::string doc = read_file(fs::path(SAGACTL_SOURCE_DIR) / "docs" / "sagactl.md");
  const std::string begin = "<!-- config-keys: generated from cli/config_keys.cpp -->\n";
  const std::string end = "<!-- /config-keys -->";
  auto from = doc.find(begin);
  auto to = doc.find(end);
  ASSERT_NE(from, std::string::npos) << "docs/sagactl.md has no " << begin;
  ASSERT_NE(to, std::string::npos);
  EXPECT_EQ(doc.substr(from + begin.size(), to - from - begin.size()), cli::config_reference_table())
      << "paste this table into docs/sagactl.md:\n" << cli::config_reference_table();
}

TEST(ConfigManual, TheManualsExampleConfigurationLoadsWithoutAProblem) {
  std::string doc = read_file(fs::path(SAGACTL_SOURCE_DIR) / "docs" / "sagactl.md");
  auto section = doc.find("## Configuration");
  auto open = doc.find("```yaml\n", section);
  auto close = doc.find("```\n", open + 8);
  ASSERT_NE(open, std::string::npos);
  fs::path file = fs::temp_directory_path() / ("sagactl-example-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(file) << doc.substr(open + 8, close - open - 8);
  auto r = cli::load_config(file.string(), true);
  fs::remove(file);
  for (const auto& d : r.diagnostics) ADD_FAILURE() << dsl::format(d);
}

}  // namespace
