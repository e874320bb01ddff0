// A pcapng file written in whole pieces: a Section Header Block, one Interface Description Block
// per link type (with if_tsresol: microseconds or nanoseconds) and Enhanced Packet Blocks, per
// the pcapng specification (IETF draft-ietf-opsawg-pcapng). Blocks gather in memory and go to
// disk together (commit): as they are, or as one gzip member or one zstd frame per commit (a
// file of concatenated members or frames is a valid .gz or .zst). A commit that cannot be written
// whole (full disk, I/O error) is cut off again, so the file on disk always ends at the end of a
// complete commit. The file is written under `<name>.part` and renamed to its name when closed:
// a reader never mistakes a file in progress (or one left by kill -9) for a complete one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "darkscope/config.hpp"
#include "darkscope/packet.hpp"

namespace darkscope {

// ".pcapng", ".pcapng.gz" or ".pcapng.zst".
const char* pcapng_extension(RecordCompression compression);

// The pcapng LINKTYPE_ of a link type.
uint16_t pcapng_link_type(LinkType link);

class PcapngWriter {
  public:
    struct CommitResult {
        bool ok = true;
        int error = 0;         // errno of the failed write
        uint64_t packets = 0;  // packets the commit held (written, or lost when !ok)
        uint64_t bytes = 0;    // bytes added to the file
    };

    // `path` is the final name; nothing is created before open().
    PcapngWriter(std::string path, RecordCompression compression, bool nanoseconds);
    ~PcapngWriter();
    PcapngWriter(const PcapngWriter&) = delete;
    PcapngWriter& operator=(const PcapngWriter&) = delete;

    // Creates `<path>.part`; false (errno in *error) when it cannot.
    bool open(int* error);
    // Appends one packet to the pending commit.
    void add(LinkType link, uint64_t ts_ns, uint32_t wire_len, const uint8_t* data,
             uint32_t cap_len);
    size_t pending_bytes() const { return raw_.size(); }
    uint64_t pending_packets() const { return pending_packets_; }
    // Bytes the pending commit will add to the file (compressed when compressing): for the quota.
    size_t pending_disk_bytes();
    // Writes the pending blocks; on failure the file is cut back to its last complete commit and
    // the pending packets are lost (CommitResult says how many).
    CommitResult commit();
    // Drops the pending blocks without writing them (the quota refused them).
    uint64_t discard();
    // Commits what is pending and renames the file to its name. Returns the last commit's result.
    CommitResult close();
    // Closes without renaming (the file stays `.part`).
    void abandon();

    const std::string& path() const { return path_; }
    std::string part_path() const { return path_ + ".part"; }
    uint64_t disk_bytes() const { return disk_bytes_; }
    bool is_open() const { return fd_ >= 0; }

  private:
    void append_section_header();
    uint32_t interface_of(LinkType link);
    void compress();

    std::string path_;
    RecordCompression compression_;
    bool nanoseconds_;
    int fd_ = -1;
    uint64_t disk_bytes_ = 0;
    std::vector<uint8_t> raw_;     // pending blocks
    std::vector<uint8_t> packed_;  // raw_ compressed (gzip, zstd)
    bool packed_valid_ = false;
    uint64_t pending_packets_ = 0;
    bool header_on_disk_ = false;
    bool header_pending_ = false;
    std::vector<LinkType> links_on_disk_;  // interface id = index
    std::vector<LinkType> links_pending_;  // after links_on_disk_
    void* zlib_ = nullptr;                 // z_stream
    void* zstd_ = nullptr;                 // ZSTD_CCtx
};

}  // namespace darkscope
