// Runs a program as a user would and captures what it printed, for end-to-end tests.
#pragma once

#include <chrono>
#include <functional>
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

// A program running beside the test (a broker, an orchestrator): its output goes to files
// the test can read while it runs. Killed (SIGKILL) if still running when destroyed.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  std::string out() const;  // stdout so far
  std::string err() const;
  void signal(int sig);
  // Waits for it to end; its exit code, or -signal when a signal ended it.
  int wait();

 private:
  int pid_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// Polls `probe` until it holds, for at most `limit` of real time: a condition wait with a
// deadline, not a timing assumption.
bool await(const std::function<bool()>& probe, std::chrono::seconds limit = std::chrono::seconds(30));

// The rest of the first line of `out` that starts with `prefix` ("bootstrap: " -> the address).
std::string line_value(const std::string& out, const std::string& prefix);

}  // namespace testing_support
