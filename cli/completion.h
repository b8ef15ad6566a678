// The bash completion script, generated from the program's own commands and options (so
// what it offers is what parses) and the configuration keys' choices.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

namespace cli {

struct CompletionHints {
  std::map<std::string, std::vector<std::string>> values;  // an option's values: "--format" -> dot, mermaid
  std::vector<std::string> paths;                          // options that take a file or directory
  std::map<std::string, std::vector<std::string>> arguments;  // a positional argument's values: "shell" -> bash
};

// `hints` adds to what the key table says (its flags' choices).
std::string bash_completion(const CLI::App& app, const CompletionHints& hints);

}  // namespace cli
