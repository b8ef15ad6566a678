#include "state/sqlite_file.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>

namespace state::sqlite {

namespace {

// The first 16 bytes of every SQLite database (https://www.sqlite.org/fileformat.html).
constexpr std::string_view kHeader{"SQLite format 3\0", 16};
constexpr const char* kReadOnlyVfs = "sagactl-read-only";

std::string error_text() { return std::strerror(errno); }

std::string pid_file_of(const std::string& path, std::string& real) {
  std::error_code ec;
  auto canonical = std::filesystem::canonical(path, ec);
  real = ec ? path : canonical.string();
  return real + ".lock";
}

std::string read_pid(const std::string& pid_path) {
  int fd = ::open(pid_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "unknown";
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

int refuse_delete(sqlite3_vfs*, const char*, int) { return SQLITE_IOERR_DELETE; }

// The first of the database's files made immutable or append-only (chattr +i, +a), by path:
// no descriptor is opened (closing one would drop SQLite's POSIX locks). SQLite maps the -shm
// file: writing to that mapping once the file is immutable is a SIGBUS, not an error.
std::optional<std::string> unwritable_file(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string p = path + suffix;
    struct statx sx {};
    if (::statx(AT_FDCWD, p.c_str(), 0, STATX_BASIC_STATS, &sx) != 0) continue;
    const auto locked = STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND;
    if ((sx.stx_attributes_mask & locked) != 0 && (sx.stx_attributes & locked) != 0) return p;
  }
  return std::nullopt;
}

}  // namespace

FileLock::FileLock(FileLock&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)), dev_(o.dev_), ino_(o.ino_) {}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  std::swap(fd_, o.fd_);
  std::swap(path_, o.path_);
  std::swap(dev_, o.dev_);
  std::swap(ino_, o.ino_);
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

sagas::Result<FileLock, Status> FileLock::take(const std::string& path, bool wait) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status{Errc::io, "cannot open state file " + path + ": " + error_text() +
                                "; check that its directory exists and is writable"};
  }
  FileLock lock;
  lock.fd_ = fd;
  lock.path_ = path;
  std::string real;
  std::string pid_path = pid_file_of(path, real);
  if (::flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
    std::string through = real == path ? "" : ", as " + real;
    return Status{Errc::locked, path + " is in use by another orchestrator (pid " + read_pid(pid_path) + through +
                                    "); stop it, or give this one another state file"};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status{Errc::io, "cannot stat state file " + path + ": " + error_text()};
  lock.dev_ = st.st_dev;
  lock.ino_ = st.st_ino;
  std::string me = std::to_string(::getpid()) + "\n";
  int pid_fd = ::open(pid_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool written = pid_fd >= 0 && ::write(pid_fd, me.data(), me.size()) == static_cast<ssize_t>(me.size());
  if (pid_fd >= 0) ::close(pid_fd);
  if (!written) return Status{Errc::io, "cannot write " + pid_path + ": " + error_text()};
  return lock;
}

Status FileLock::check() const {
  struct stat now {};
  if (::stat(path_.c_str(), &now) != 0) {
    return {Errc::io, "the state file " + path_ + " is gone (" + error_text() +
                          "): it was removed or renamed while this orchestrator used it, so nothing more is "
                          "committed; put it back, or stop the orchestrator and restore it from a backup"};
  }
  if (now.st_dev != dev_ || now.st_ino != ino_) {
    return {Errc::io, "the state file " + path_ +
                          " was replaced by another file while this orchestrator used it, so nothing more is "
                          "committed; stop the orchestrator, and restart it on the file you mean"};
  }
  if (auto file = unwritable_file(path_)) {
    return {Errc::io, *file + " was made immutable or append-only (chattr) while this orchestrator used it, so "
                      "nothing more is committed; make it writable again (chattr -i -a " + *file + ")"};
  }
  char header[kHeader.size()] = {};
  ssize_t n = ::pread(fd_, header, sizeof header, 0);
  if (n != static_cast<ssize_t>(kHeader.size()) || std::string_view(header, sizeof header) != kHeader) {
    return {Errc::io, "the state file " + path_ +
                          " was truncated or overwritten while this orchestrator used it (it no longer starts "
                          "with SQLite's header), so nothing more is committed; stop the orchestrator, keep " +
                          path_ + "-wal, and restore the file from a backup"};
  }
  return Status::success();
}

Status check_before_open(const std::string& path, bool reader) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::success();  // a reader's open reports it; a writer creates it
    return {Errc::io, "cannot stat state file " + path + ": " + error_text()};
  }
  if (!S_ISREG(st.st_mode)) return {Errc::io, path + " is not a regular file; state: names a SQLite file"};
  if (st.st_size > 0) return Status::success();  // SQLite reports a file that is not a database
  struct stat wal {};
  std::string wal_path = path + "-wal";
  if (::stat(wal_path.c_str(), &wal) == 0 && wal.st_size > 0) {
    return {Errc::corrupt, path + " is empty but its write-ahead log " + wal_path + " holds " +
                               std::to_string(wal.st_size) +
                               " bytes: the state file was truncated. Nothing opened it (SQLite would delete the "
                               "log of an empty database); keep both files, and restore " + path +
                               " from a backup"};
  }
  if (reader) return {Errc::not_found, path + " is empty: no orchestrator has written to it yet" + kStateFileHint};
  return Status::success();
}

const char* read_only_vfs() {
  static const bool registered = [] {
    static sqlite3_vfs vfs = *sqlite3_vfs_find(nullptr);
    vfs.zName = kReadOnlyVfs;
    vfs.pNext = nullptr;
    vfs.xDelete = refuse_delete;
    return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
  }();
  return registered ? kReadOnlyVfs : nullptr;
}

}  // namespace state::sqlite
