// Runs a program as a user would and captures what it printed, for end-to-end tests.
#pragma once

#include <string>
#include <vector>

namespace testing_support {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is the program's path) with `cwd` as working directory (empty: the
// current one) and an empty stdin; waits for it.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& cwd = "");

}  // namespace testing_support
