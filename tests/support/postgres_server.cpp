#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "tests/e2e/process.h"

namespace testing_support {

namespace fs = std::filesystem;

namespace {

constexpr const char* kUser = "sagactl";
constexpr const char* kServerUser = "nobody";  // when the tests run as root

// The newest Debian PostgreSQL's bin directory (/usr/lib/postgresql/N/bin), or "".
std::string find_bin() {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin" / "initdb")) found.push_back(e.path() / "bin");
  }
  if (found.empty()) return {};
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) < std::stoi(b.parent_path().filename().string());
  });
  return found.back().string();
}

// A port nothing listens on now (the kernel's choice for port 0).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

sagas::Result<std::unique_ptr<PostgresServer>> PostgresServer::start() {
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  s->bin_ = find_bin();
  if (s->bin_.empty()) {
    return sagas::Error{"no PostgreSQL under /usr/lib/postgresql: scripts/setup.sh installs Debian's postgresql"};
  }
  char tmpl[] = "/tmp/sagactl-pg-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return sagas::Error{"cannot create a temporary directory for PostgreSQL"};
  s->dir_ = tmpl;
  s->as_nobody_ = ::geteuid() == 0;
  if (s->as_nobody_) {
    auto chown = run_process({"/bin/chown", std::string(kServerUser) + ":", s->dir_});
    if (chown.exit_code != 0) return sagas::Error{"cannot give " + s->dir_ + " to " + kServerUser + ": " + chown.err};
  }
  std::string data = s->dir_ + "/data";
  auto init = s->as_server({s->bin_ + "/initdb", "-D", data, "-U", kUser, "--auth=trust", "-E", "UTF8", "--no-sync"});
  if (init.exit_code != 0) return sagas::Error{"initdb failed: " + init.out + init.err};
  // A free port can be taken between the probe and the server's bind: try a few.
  for (int attempt = 0; attempt < 5 && !s->running_; ++attempt) {
    s->port_ = free_port();
    s->running_ = s->pg_ctl_start();
  }
  if (!s->running_) {
    auto log = run_process({"/bin/cat", s->dir_ + "/server.log"});
    return sagas::Error{"PostgreSQL did not start: " + log.out};
  }
  return s;
}

sagas::Result<std::unique_ptr<PostgresServer>> PostgresServer::attach(int port) {
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  s->bin_ = find_bin();
  if (s->bin_.empty()) {
    return sagas::Error{"no PostgreSQL under /usr/lib/postgresql: scripts/setup.sh installs Debian's postgresql"};
  }
  s->port_ = port;  // not running_: this object does not own it
  return s;
}

ProcessResult PostgresServer::as_server(std::vector<std::string> argv) const {
  if (as_nobody_) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", kServerUser, "--"});
  return run_process(argv);
}

bool PostgresServer::pg_ctl_start() {
  return as_server({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "60", "-o",
                    "-p " + std::to_string(port_) + " -k " + dir_ +
                        // fsync off: the tests kill orchestrators, never this server.
                        " -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"})
             .exit_code == 0;
}

sagas::Result<bool> PostgresServer::stop() {
  auto r = as_server({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"});
  if (r.exit_code != 0) return sagas::Error{"pg_ctl stop failed: " + r.out + r.err};
  running_ = false;
  return true;
}

sagas::Result<bool> PostgresServer::start_again() {
  running_ = pg_ctl_start();
  if (!running_) return sagas::Error{"PostgreSQL did not start again on port " + std::to_string(port_)};
  return true;
}

PostgresServer::~PostgresServer() {
  if (running_) (void)stop();  // nothing to do about a failure here
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgresql://" + std::string(kUser) + "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

sagas::Result<std::string> PostgresServer::create_database(const std::string& name) {
  auto r = run_process({bin_ + "/createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", kUser, name});
  if (r.exit_code != 0) return sagas::Error{"createdb " + name + " failed: " + r.err};
  return url(name);
}

}  // namespace testing_support
