#include "cli/config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string_view>

#include "cli/config_keys.h"
#include "dsl/duration.h"
#include "postgres/store.h"

namespace cli {

namespace {

std::string join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

std::string_view section_of(const ConfigKey& key) { return key.path.substr(0, key.path.find('.')); }
std::string_view name_in_section(const ConfigKey& key) {
  auto dot = key.path.find('.');
  return dot == std::string_view::npos ? std::string_view() : key.path.substr(dot + 1);
}

// The file's keys: sections in table order, and the keys of each.
std::vector<std::string_view> sections() {
  std::vector<std::string_view> out;
  for (const ConfigKey& k : config_keys()) {
    if (std::find(out.begin(), out.end(), section_of(k)) == out.end()) out.push_back(section_of(k));
  }
  return out;
}
std::vector<const ConfigKey*> keys_in(std::string_view section) {
  std::vector<const ConfigKey*> out;
  for (const ConfigKey& k : config_keys()) {
    if (section_of(k) == section) out.push_back(&k);
  }
  return out;
}
std::vector<std::string_view> names_of(const std::vector<const ConfigKey*>& keys) {
  std::vector<std::string_view> out;
  for (const ConfigKey* k : keys) out.push_back(name_in_section(*k));
  return out;
}

const char* shape(const YAML::Node& n) { return n.IsSequence() ? "a list" : n.IsMap() ? "a mapping" : "empty"; }

// Reads sagactl.yaml's tree through the key table, reporting every problem with its position.
class Reader {
 public:
  Reader(std::string file, ConfigResult& r) : file_(std::move(file)), r_(r) {}

  void read(const YAML::Node& root) {
    if (root.IsNull()) return;  // an empty file: all defaults
    const std::vector<std::string_view> top = sections();
    if (!root.IsMap()) {
      error(root, "the config must be a mapping of keys (" + join(top) + ")");
      return;
    }
    unknown_keys(root, "", top);
    for (std::string_view section : top) {
      YAML::Node n = root[std::string(section)];
      if (!n) continue;
      std::vector<const ConfigKey*> keys = keys_in(section);
      if (keys.size() == 1 && keys[0]->path == section) {
        value(*keys[0], n);
      } else if (n.IsMap()) {
        read_section(section, keys, n);
      } else if (auto it = std::find_if(keys.begin(), keys.end(), [](auto* k) { return k->section_shorthand; });
                 it != keys.end() && (n.IsScalar() || n.IsNull())) {
        value(**it, n);  // `admin: 127.0.0.1:7468`
      } else {
        error(n, std::string(section) + " must be a mapping of " + join(names_of(keys)));
      }
    }
  }

 private:
  void error(const YAML::Node& n, const std::string& message) {
    r_.diagnostics.push_back({dsl::Severity::error, file_, n.Mark().line + 1, n.Mark().column + 1, message});
  }

  void read_section(std::string_view section, const std::vector<const ConfigKey*>& keys, const YAML::Node& map) {
    unknown_keys(map, section, names_of(keys));
    for (const ConfigKey* k : keys) {
      if (YAML::Node n = map[std::string(name_in_section(*k))]) value(*k, n);
    }
  }

  void unknown_keys(const YAML::Node& map, std::string_view where, const std::vector<std::string_view>& allowed) {
    for (const auto& kv : map) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(kv.first, "unknown key \"" + key + "\"" + (where.empty() ? "" : " in " + std::string(where)) +
                            dsl::suggestion(key, allowed));
      }
    }
  }

  bool scalar(const YAML::Node& n, const std::string& what, std::string& out) {
    if (!n.IsScalar()) {
      error(n, what + " must be a single value, not " + shape(n));
      return false;
    }
    out = n.Scalar();
    return true;
  }

  void value(const ConfigKey& key, const YAML::Node& n) {
    std::string path(key.path);
    std::visit([&](auto target) { value_of(key, path, n, target(r_.config)); }, key.target);
  }

  void value_of(const ConfigKey&, const std::string& path, const YAML::Node& n, std::vector<std::string>& out) {
    out.clear();
    std::string item;
    if (!n.IsSequence()) {
      if (scalar(n, path, item)) out.push_back(item);
      return;
    }
    for (const auto& each : n) {
      if (scalar(each, "each entry of " + path, item)) out.push_back(item);
    }
  }

  void value_of(const ConfigKey&, const std::string& path, const YAML::Node& n,
                std::map<std::string, std::string>& out) {
    if (!n.IsMap()) {
      error(n, path + " must be a mapping of librdkafka property names to values");
      return;
    }
    for (const auto& kv : n) {
      std::string name, v;
      if (scalar(kv.first, "a kafka property name", name) && scalar(kv.second, path + "." + name, v)) out[name] = v;
    }
  }

  template <typename T>
  void value_of(const ConfigKey& key, const std::string& path, const YAML::Node& n, T&) {
    std::string text;
    if (!(n.IsNull() && key.may_be_empty) && !scalar(n, path, text)) return;
    if (auto problem = set_config_key(key, text, path, r_.config)) error(n, *problem);
  }

  std::string file_;
  ConfigResult& r_;
};

}  // namespace

std::optional<std::chrono::milliseconds> parse_retention(const std::string& text) {
  if (text == "0" || text == "forever") return std::chrono::milliseconds(0);
  return dsl::parse_duration(text);
}

std::optional<std::string> check_brokers(const std::string& brokers) {
  static constexpr std::array<std::string_view, 1> kEmbedded{"embedded"};
  if (brokers == kEmbedded[0]) return std::nullopt;
  if (brokers.empty()) return std::string("kafka.brokers is empty: give HOST:PORT[,...], or embedded");
  std::string_view rest = brokers;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    auto colon = one.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == one.size() ||
        one.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos) {
      std::string hint = dsl::closest(one, std::span<const std::string_view>(kEmbedded)).empty()
                             ? std::string()
                             : " (did you mean \"embedded\"?)";
      return "kafka.brokers \"" + std::string(one) + "\" is not HOST:PORT" + hint +
             "; give HOST:PORT[,...] of your brokers, or embedded for the development broker";
    }
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return std::nullopt;
}

namespace {

// Paths in a config file (and the defaults it leaves in place) are relative to the file's
// folder, so `--config /srv/saga/sagactl.yaml` finds /srv/saga/sagactl.db from anywhere.
void resolve_beside(const std::filesystem::path& folder, Config& c) {
  if (folder.empty()) return;  // the file is in the working directory: nothing changes
  auto beside = [&](std::string& p) {
    if (!p.empty() && !postgres::is_postgres_url(p) && std::filesystem::path(p).is_relative()) {
      p = (folder / p).lexically_normal().string();
    }
  };
  for (const ConfigKey& key : config_keys()) {
    if (!key.is_path) continue;
    std::visit(
        [&](auto target) {
          auto& value = target(c);
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::string>) beside(value);
          else if constexpr (std::is_same_v<T, std::vector<std::string>>) for (auto& each : value) beside(each);
        },
        key.target);
  }
}

}  // namespace

ConfigResult load_config(const std::string& path, bool explicit_path) {
  ConfigResult r;
  if (!std::filesystem::exists(path)) {
    if (explicit_path) {
      r.diagnostics.push_back({dsl::Severity::error, path, 0, 0,
                               "no such config file; write one (see docs/sagactl.md) or leave --config out"});
    }
    return r;
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  Reader rd(path, r);
  try {
    rd.read(YAML::Load(ss.str()));
  } catch (const YAML::Exception& e) {
    r.diagnostics.push_back({dsl::Severity::error, path, e.mark.line + 1, e.mark.column + 1, e.msg});
  }
  dsl::sort_by_position(r.diagnostics);
  resolve_beside(std::filesystem::path(path).parent_path(), r.config);
  return r;
}

void apply_environment(ConfigResult& r) {
  for (const ConfigKey& key : config_keys()) {
    if (key.env.empty()) continue;
    std::string name(key.env);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) continue;
    if (auto problem = set_config_key(key, value, name, r.config)) {
      r.diagnostics.push_back({dsl::Severity::error, "$" + name, 0, 0, *problem});
    }
  }
}

sagas::Result<AdminToken, std::string> admin_token(const Config& c) {
  if (!c.admin_token.empty() && c.admin_token.find_first_not_of(" \t\r\n") == std::string::npos) {
    return std::string("the admin token is blank: set admin.token (or SAGACTL_ADMIN_TOKEN) to a secret of visible "
                       "characters, e.g. the output of `openssl rand -hex 32`, or leave it unset");
  }
  if (!c.admin_token.empty() || c.admin_token_file.empty()) return AdminToken{c.admin_token};
  std::ifstream in(c.admin_token_file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return std::string("cannot read the admin token file " + c.admin_token_file +
                       ": check admin.token_file (or SAGACTL_ADMIN_TOKEN_FILE) and the file's permissions");
  }
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  if (line.find_first_not_of(" \t") == std::string::npos) {
    return std::string("the admin token file " + c.admin_token_file + " is empty or blank: its first line is the token");
  }
  return AdminToken{line};
}

}  // namespace cli
