// The configuration keys: one table says, for every key, its place in sagactl.yaml, its
// SAGACTL_* variable, its flag, its help and how its text is checked. The file's reader,
// the environment, the flags, `--help` and the manual's table (docs/sagactl.md, compared with
// reference_table() by a test) are all read off it, so a key is added in one place.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cli/config.h"

namespace cli {

// Where a key's value lands in Config, by the type of the value: the type decides how text
// becomes a value (a string, a boolean, a whole number, a duration, a list, a mapping).
using ConfigTarget =
    std::variant<std::string& (*)(Config&), bool& (*)(Config&), int& (*)(Config&),
                 std::chrono::milliseconds& (*)(Config&), std::vector<std::string>& (*)(Config&),
                 std::map<std::string, std::string>& (*)(Config&)>;

struct ConfigKey {
  std::string_view path;  // in the file, dotted: "kafka.brokers"
  std::string_view env = {};   // "SAGACTL_KAFKA_BROKERS"; empty: no variable
  std::string_view flag = {};  // "--brokers"; empty: no flag
  std::string_view help = {};  // one line, for --help and the manual
  ConfigTarget target;
  std::span<const std::string_view> choices = {};  // a string: one of these
  int min = 0;                                     // a whole number: from min to max
  int max = 0;
  // A duration: what 0 means ("keep everything"); empty: the duration must be positive.
  std::string_view zero = {};
  char separator = 0;        // a list in a variable: what separates its items
  bool may_be_empty = false;  // a string: "" (or null in the file) is a value, turning it off
  // A file or directory (a string or a list): a relative one in the file is relative to the
  // file's folder, in a variable or a flag to the working directory. A URL is left alone.
  bool is_path = false;
  // The section may be written as this key's value alone (`admin: 127.0.0.1:7468`).
  bool section_shorthand = false;
  std::string_view shown_default = {};  // the manual's default, in words, where Config's is a placeholder
  void (*then)(Config&) = nullptr;      // after it is set: what it replaces
};

// Every key, in the order the manual lists them and a source applies them.
std::span<const ConfigKey> config_keys();

// The key at `path`; nullptr for none.
const ConfigKey* find_config_key(std::string_view path);

// Sets `key` from one text value, as a variable, a flag or a scalar in the file gives it (a
// list takes the items its separator divides; a boolean, true or false). The message, naming
// the value after `what` (the key, "SAGACTL_X" or "--x"), when the text is not a value of
// this key.
std::optional<std::string> set_config_key(const ConfigKey& key, std::string_view text, std::string_view what,
                                          Config& config);

// The key's help with its choices, as --help and the manual show it.
std::string config_help_text(const ConfigKey& key);

// The manual's table of keys (Markdown): key, default, variable, flag, meaning.
std::string config_reference_table();

}  // namespace cli
