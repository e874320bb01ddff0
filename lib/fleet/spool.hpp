// The spool: a directory of closed intervals waiting for ClickHouse, one file each, named by
// interval start and export id so that the directory's order is delivery order. Not installed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace darkscope {

class Spool {
  public:
    // Reads what an earlier run left in `dir` (its temporary files are removed: they were never
    // complete).
    Spool(std::string dir, uint64_t quota_bytes);

    struct Entry {
        std::string name;  // file name in the directory
        int64_t start = 0;
        uint64_t bytes = 0;
    };
    // Writes an interval's file (temporary name, fsync, rename). Then, while the spool is over
    // its quota and holds more than this file, drops the oldest: their starts go to `dropped`.
    // Throws std::runtime_error when the file cannot be written.
    void write(int64_t start, uint64_t export_id, const std::string& content,
               std::vector<int64_t>& dropped);
    // The oldest interval, or nullptr.
    const Entry* oldest() const { return entries_.empty() ? nullptr : &entries_.front(); }
    std::string path_of(const Entry& e) const { return dir_ + "/" + e.name; }
    void remove_oldest();
    uint64_t bytes() const { return bytes_; }
    uint64_t intervals() const { return entries_.size(); }

  private:
    std::string dir_;
    uint64_t quota_;
    std::vector<Entry> entries_;  // oldest first
    uint64_t bytes_ = 0;
};

}  // namespace darkscope
