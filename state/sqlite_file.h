// The state file's identity (internal to state/): who may write it, whether it is still the
// file that was opened, and opening it for reading so that nothing of it can change.
//
// - The single-writer lock is an flock on the database file itself: the inode, through any
//   path, symlink or hard link (a lock beside a path would let `ln -s` start a second
//   writer). The holder's pid is written to "<real path>.lock" for the refusal message.
// - While it runs, the writer checks that the path still names the inode it locked and that
//   the file still starts with SQLite's header (not truncated, replaced or overwritten):
//   before every commit and whenever the owner asks (Store::check).
// - Before SQLite opens a file, an empty or foreign file is refused, and so is an empty file
//   beside a non-empty write-ahead log: SQLite would delete that log on opening (it treats a
//   zero-length database as new), destroying the last commits of a truncated file.
// - Readers open through a VFS that cannot delete files and never checkpoint on close: a
//   `sagactl status` can never remove or rewrite the running orchestrator's -wal.
//
// Threading: a FileLock's checks read only what open() fixed, and may run on any thread.
#pragma once

#include <sys/types.h>

#include <string>

#include "sagas/result.h"
#include "state/store.h"

namespace state::sqlite {

// The lock, held for the lifetime of the object. Never closed early: closing any descriptor
// of the database file would drop the POSIX locks SQLite holds on it in this process.
class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& o) noexcept;
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  // Creates `path` when missing and locks its inode; `wait`: until the holder lets go.
  static sagas::Result<FileLock, Status> take(const std::string& path, bool wait);

  // Whether `path` is still the locked, intact database file; the error says what happened
  // and what to do.
  Status check() const;

 private:
  int fd_ = -1;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

// Refuses, before SQLite touches it, a file SQLite would misread or damage: empty beside a
// write-ahead log with content (truncated), or not a SQLite database. An empty file alone is
// fine for a writer (a new database); `reader` refuses it too (it holds no state).
Status check_before_open(const std::string& path, bool reader);

// The fix for a --state that names the wrong file, appended to the messages that say so.
inline constexpr const char* kStateFileHint =
    ": point --state (or state: in sagactl.yaml) at the file `sagactl run` writes (./sagactl.db by default)";

// The name of the VFS readers open with (registered on first use): the default one, except
// that it deletes nothing.
const char* read_only_vfs();

}  // namespace state::sqlite
