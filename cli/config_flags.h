// Configuration keys as flags of one sagactl command (CLI11), read off the key table
// (config_keys.h): each flag's help ends with its key in brackets, and a flag given wins
// over the variable and the file. Built into the sagactl program only (CLI11 stays out of
// the cli library).
#pragma once

#include <CLI/CLI.hpp>

#include <deque>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/config.h"
#include "cli/config_keys.h"

namespace cli {

class ConfigFlags {
 public:
  // Adds --config and the flags of the keys at `paths` (each must have a flag) to `command`.
  ConfigFlags(CLI::App& command, std::initializer_list<std::string_view> paths);
  // Every key that has a flag: `run`'s.
  explicit ConfigFlags(CLI::App& command);
  // CLI11 holds the addresses of the values it writes: they stay where they are.
  ConfigFlags(const ConfigFlags&) = delete;
  ConfigFlags& operator=(const ConfigFlags&) = delete;

  // defaults < the file < SAGACTL_* < the flags given. Prints every problem to `err` (the
  // file's and variables' as FILE:LINE:COL, a flag's after the command's name) and answers
  // nullopt when there is one.
  std::optional<Config> resolve(std::ostream& err) const;

 private:
  struct Flag {
    const ConfigKey* key;
    CLI::Option* option = nullptr;
    std::string text = {};                 // a value
    std::vector<std::string> values = {};  // a list's items, or a mapping's NAME=VALUE pairs
    bool on = false;                  // a boolean flag
  };
  void add(const ConfigKey& key);

  CLI::App& command_;
  std::string config_path_ = "sagactl.yaml";
  CLI::Option* config_option_ = nullptr;
  std::deque<Flag> flags_;  // CLI11 writes into them: their addresses must not move
};

}  // namespace cli
