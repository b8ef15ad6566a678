// The sagactl subcommands as functions of (options, out, err) -> exit code, so the program's
// main() is only argument wiring and tests can drive a command without a process.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace runtime {

// Exit codes shared by every subcommand (SPEC §5).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;

struct ValidateOptions {
  std::vector<std::string> paths;
  bool strict = false;  // report warnings and fail on them
};
int validate_command(const ValidateOptions& options, std::ostream& out, std::ostream& err);

struct GraphOptions {
  std::string file;
  std::string format = "dot";  // dot | mermaid
};
int graph_command(const GraphOptions& options, std::ostream& out, std::ostream& err);

}  // namespace runtime
