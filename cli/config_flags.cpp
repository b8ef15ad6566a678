#include "cli/config_flags.h"

#include <type_traits>

#include "dsl/diagnostic.h"

namespace cli {

ConfigFlags::ConfigFlags(CLI::App& command, std::initializer_list<std::string_view> paths) : command_(command) {
  config_option_ = command.add_option("--config", config_path_, "Configuration file (default ./sagactl.yaml, optional)");
  for (std::string_view path : paths) {
    const ConfigKey* key = find_config_key(path);
    if (key == nullptr || key->flag.empty()) throw std::logic_error("no flag for config key " + std::string(path));
    add(*key);
  }
}

ConfigFlags::ConfigFlags(CLI::App& command) : ConfigFlags(command, {}) {
  for (const ConfigKey& key : config_keys()) {
    if (!key.flag.empty()) add(key);
  }
}

void ConfigFlags::add(const ConfigKey& key) {
  Flag& f = flags_.emplace_back(Flag{&key});
  std::string name(key.flag);
  std::string help = config_help_text(key) + " [" + std::string(key.path) + "]";
  std::visit(
      [&](auto target) {
        using T = std::decay_t<decltype(target(std::declval<Config&>()))>;
        if constexpr (std::is_same_v<T, bool>) {
          f.option = command_.add_flag(name, f.on, help);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          f.option = command_.add_option(name, f.values, help)->type_name("PATH");
        } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
          f.option = command_.add_option(name, f.values, help)->type_name("NAME=VALUE");
        } else {
          f.option = command_.add_option(name, f.text, help);
          if constexpr (std::is_same_v<T, int>) f.option->type_name("N");
          if constexpr (std::is_same_v<T, std::chrono::milliseconds>) f.option->type_name("DURATION");
        }
      },
      key.target);
}

std::optional<Config> ConfigFlags::resolve(std::ostream& err) const {
  const std::string command = command_.get_name();
  ConfigResult r = load_config(config_path_, config_option_->count() > 0);
  apply_environment(r);
  for (const auto& d : r.diagnostics) err << dsl::format(d) << "\n";
  if (!r.ok()) {
    err << command << ": fix the configuration above and try again\n";
    return std::nullopt;
  }
  bool ok = true;
  auto report = [&](const std::optional<std::string>& problem) {
    if (problem) err << command << ": " << *problem << "\n";
    ok = ok && !problem;
  };
  for (const Flag& f : flags_) {
    if (f.option->count() == 0) continue;
    std::visit(
        [&](auto target) {
          auto& value = target(r.config);
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, bool>) report(set_config_key(*f.key, f.on ? "true" : "false", f.key->flag, r.config));
          else if constexpr (std::is_same_v<T, std::vector<std::string>>) value = f.values;
          else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
            for (const auto& pair : f.values) report(set_config_key(*f.key, pair, f.key->flag, r.config));
          } else {
            report(set_config_key(*f.key, f.text, f.key->flag, r.config));
          }
        },
        f.key->target);
  }
  if (!ok) return std::nullopt;
  return r.config;
}

}  // namespace cli
