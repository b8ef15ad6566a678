#include "cli/completion.h"

#include "cli/config_keys.h"

namespace cli {

namespace {

std::string words(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "" : " ") + x;
  return out;
}

// What may follow a command: its options, and the values of its positional arguments.
std::vector<std::string> options_of(const CLI::App& command, const CompletionHints& hints) {
  std::vector<std::string> out;
  for (const CLI::Option* o : command.get_options()) {
    for (const auto& name : o->get_lnames()) {
      if (name != "help") out.push_back("--" + name);
    }
    if (auto it = hints.arguments.find(o->get_name()); o->get_lnames().empty() && it != hints.arguments.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  }
  return out;
}

}  // namespace

std::string bash_completion(const CLI::App& app, const CompletionHints& hints) {
  CompletionHints all = hints;
  for (const ConfigKey& k : config_keys()) {
    if (k.flag.empty() || k.choices.empty()) continue;
    all.values[std::string(k.flag)] = std::vector<std::string>(k.choices.begin(), k.choices.end());
  }
  std::vector<std::string> commands;
  std::string per_command;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
    per_command += "    " + sub->get_name() + ") opts=\"" + words(options_of(*sub, all)) + "\" ;;\n";
  }
  std::string values;
  if (!all.paths.empty()) {
    std::string names;
    for (const auto& p : all.paths) names += (names.empty() ? "" : "|") + p;
    values += "    " + names + ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n";
  }
  for (const auto& [option, choices] : all.values) {
    values += "    " + option + ") COMPREPLY=($(compgen -W \"" + words(choices) + "\" -- \"$cur\")); return ;;\n";
  }
  return "# bash completion for sagactl: source <(sagactl completion bash)\n"
         "_sagactl() {\n"
         "  local cur prev cmd\n"
         "  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
         "  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
         "  cmd=\"${COMP_WORDS[1]}\"\n"
         "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
         "    COMPREPLY=($(compgen -W \"" + words(commands) + " --help --version\" -- \"$cur\"))\n"
         "    return\n"
         "  fi\n"
         "  case \"$prev\" in\n" + values +
         "  esac\n"
         "  local opts=\"\"\n"
         "  case \"$cmd\" in\n" + per_command +
         "  esac\n"
         "  if [[ \"$cur\" == -* ]] || [ \"$cmd\" = completion ]; then\n"
         "    COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
         "  else\n"
         "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "  fi\n"
         "}\n"
         "complete -F _sagactl sagactl\n";
}

}  // namespace cli
