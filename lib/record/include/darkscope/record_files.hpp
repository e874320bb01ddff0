// Where recording puts its files and how much of the disk they may take: one continuous file per
// rotation period, `<appliance>-<YYYYmmddTHHMMSSZ>.pcapng[.gz|.zst]` named for the period's start
// (UTC), periods aligned to the epoch like the intervals; one file per event capture,
// `events/<event id>.pcapng[.gz|.zst]`; and the quota (--record-quota-mb), which covers both and
// deletes the oldest complete files first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <string>

#include "darkscope/pcapng_writer.hpp"

namespace darkscope {

// The start of the rotation period holding second `sec`.
inline int64_t rotation_start(int64_t sec, int64_t rotate_s) {
    const int64_t q = sec / rotate_s;
    return (sec % rotate_s < 0 ? q - 1 : q) * rotate_s;
}

// "<appliance>-YYYYmmddTHHMMSSZ<extension>"; `duplicate` > 0 adds "-N" before the extension
// (a period written again by a later run over the same time keeps the earlier file).
std::string record_file_name(const std::string& appliance, int64_t period_start_s,
                             RecordCompression compression, unsigned duplicate = 0);

// Is `name` one of the files this appliance's recording writes (complete or `.part`)?
bool is_record_file(const std::string& appliance, const std::string& name);

// An event capture's file name: the event id with the characters a file name should not hold
// ('/', '|', spaces, ...) as '_', then `-N` for a name already taken and the extension.
std::string event_capture_file_name(const std::string& event_id, RecordCompression compression,
                                    unsigned duplicate = 0);

// The time a record file's data starts, from its name: a continuous file's period, an event
// capture's start (the id's last field; `events/` names); INT64_MIN when the name tells none.
int64_t record_file_time(const std::string& appliance, const std::string& name);

// The files the quota covers, oldest (by the time their data starts) first, with their sizes.
// Event captures are named `events/<file>`.
class RecordQuota {
  public:
    // limit_bytes 0: no quota (sizes are still kept, for telemetry).
    RecordQuota(std::string dir, std::string appliance, uint64_t limit_bytes);
    // The appliance's files already in the directory and the event captures in its events/
    // directory (an earlier run's) count from the start.
    void scan();
    void add(const std::string& name, uint64_t bytes);   // a complete file
    void grow(uint64_t bytes) { open_bytes_ += bytes; }  // bytes added to files in progress
    void closed(uint64_t open_bytes) { open_bytes_ -= open_bytes; }
    // Deletes the oldest complete files until `bytes` more fit; `deleted` hears of each. False
    // when they cannot fit even with every complete file gone.
    bool make_room(uint64_t bytes,
                   const std::function<void(const std::string&, uint64_t)>& deleted);
    uint64_t used_bytes() const { return complete_bytes_ + open_bytes_; }
    uint64_t limit_bytes() const { return limit_; }

  private:
    std::string dir_, appliance_;
    uint64_t limit_;
    std::map<std::pair<int64_t, std::string>, uint64_t> complete_;  // (time, name) -> bytes
    uint64_t complete_bytes_ = 0;
    uint64_t open_bytes_ = 0;
};

}  // namespace darkscope
