// Files darkscope writes (the --summary file, the --db database), created so that a path planted
// by another user cannot redirect them and so that they do not expose data to other users.
#pragma once

#include <sys/types.h>

#include <string>

namespace darkscope {

// Mode of a file darkscope creates: owner read/write, group read (docs/configuration.md).
inline constexpr mode_t kOutputFileMode = 0640;

// Empty when `path` does not exist or is a regular file; otherwise why darkscope will not write
// it (a symbolic link, a device, a FIFO, a socket, a directory).
std::string output_target_problem(const std::string& path);

// Replaces `path` with `content` atomically: a temporary of a unique name in path's directory,
// created with O_EXCL and O_NOFOLLOW and `mode`, written, synced and renamed over path. A path
// that exists and is not a regular file is refused. Throws std::runtime_error naming the path.
void replace_file(const std::string& path, const std::string& content,
                  mode_t mode = kOutputFileMode);

// Creates `path` empty with `mode` (O_EXCL, O_NOFOLLOW) when it does not exist, for a file that
// another library then opens by name (SQLite); refuses a path that is not a regular file.
void prepare_output_file(const std::string& path, mode_t mode = kOutputFileMode);

}  // namespace darkscope
