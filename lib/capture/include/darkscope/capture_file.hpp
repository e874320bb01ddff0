// Opening a --read capture for libpcap, compressed or not. libpcap reads pcap and pcapng from a
// stdio stream; a gzip, zstd, xz or bzip2 file is handed to it as a stream that decompresses as
// libpcap reads (fopencookie), so a compressed capture is read directly, twice if need be (the
// time-order pre-scan), without a decompressed copy on disk.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace darkscope {

enum class CaptureCompression { none, gzip, zstd, xz, bzip2 };

// From the file's first bytes (none when it cannot be read: libpcap then says why).
CaptureCompression capture_compression(const std::string& path);
const char* compression_name(CaptureCompression c);

// libpcap's handle on the capture at `path`, decompressed as it is read, with nanosecond
// timestamps when asked; nullptr with the reason in errbuf (PCAP_ERRBUF_SIZE bytes).
pcap_t* open_capture(const std::string& path, char* errbuf, bool nanoseconds = false);

// The capture at `path` as a stdio stream, decompressed as it is read; nullptr with errno set.
FILE* open_capture_stream(const std::string& path);

// libpcap refuses a pcapng section whose interfaces differ in link type or snap length (it
// fails at the second interface's block, after the first's packets); tshark reads such files,
// and so does this reader of the project's own: section headers of either byte order,
// interfaces with their link type and time resolution (if_tsresol, if_tsoffset), enhanced,
// simple and obsolete packet blocks; other blocks are skipped. The offline reader falls back to
// it where libpcap gives up, skipping the packets libpcap already handed over.
struct PcapngPacket {
    uint64_t ts_ns;
    uint32_t caplen, wire_len;
    const uint8_t* data;  // valid until the next call
    int dlt;              // the interface's link type (a pcap LINKTYPE_ value)
};

class PcapngReader {
  public:
    explicit PcapngReader(FILE* stream);  // takes the stream (closed with the reader)
    ~PcapngReader();
    PcapngReader(const PcapngReader&) = delete;
    PcapngReader& operator=(const PcapngReader&) = delete;
    // 1: a packet in *p; 0: the end of the file; -1: a damaged file (error() says how).
    int next(PcapngPacket* p);
    const std::string& error() const { return error_; }

  private:
    struct Interface {
        int dlt;
        uint64_t units_per_s;  // if_tsresol
        int64_t offset_s;      // if_tsoffset
    };
    bool read_exact(void* dst, size_t n);
    uint32_t u32(const uint8_t* p) const;
    uint16_t u16(const uint8_t* p) const;
    int fail(const std::string& why);
    bool add_interface(const uint8_t* body, size_t len);

    FILE* stream_;
    bool swapped_ = false;  // the section's byte order differs from this machine's
    bool in_section_ = false;
    std::vector<Interface> interfaces_;
    std::vector<uint8_t> block_;
    uint64_t last_ts_ns_ = 0;
    std::string error_;
};

}  // namespace darkscope
