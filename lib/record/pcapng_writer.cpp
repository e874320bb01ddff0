// The pcapng writer (darkscope/pcapng_writer.hpp): block layout from the pcapng specification,
// little-endian as written by this host (the Section Header's byte-order magic says so).
#include "darkscope/pcapng_writer.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "darkscope/pcapng_blocks.hpp"

namespace darkscope {

namespace {

constexpr uint16_t kOptionEnd = 0;
constexpr uint16_t kOptionTsresol = 9;
constexpr int kGzipLevel = 1;  // the writer must keep up with line rate: speed over ratio
constexpr int kZstdLevel = 1;

void put(std::vector<uint8_t>& out, const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}
template <typename T>
void put(std::vector<uint8_t>& out, T value) {
    put(out, &value, sizeof value);
}
void pad4(std::vector<uint8_t>& out) {
    while (out.size() % 4 != 0)
        out.push_back(0);
}

}  // namespace

const char* pcapng_extension(RecordCompression compression) {
    switch (compression) {
        case RecordCompression::gzip:
            return ".pcapng.gz";
        case RecordCompression::zstd:
            return ".pcapng.zst";
        default:
            return ".pcapng";
    }
}

uint16_t pcapng_link_type(LinkType link) {
    switch (link) {
        case LinkType::ethernet:
            return 1;
        case LinkType::raw_ip:
            return 101;
        case LinkType::ipv4:
            return 228;
        case LinkType::ipv6:
            return 229;
        case LinkType::linux_sll:
            return 113;
        case LinkType::linux_sll2:
            return 276;
        case LinkType::null_loopback:
            return 0;
    }
    return 1;
}

PcapngWriter::PcapngWriter(std::string path, RecordCompression compression, bool nanoseconds)
    : path_(std::move(path)), compression_(compression), nanoseconds_(nanoseconds) {
    raw_.reserve(1u << 20);
}

PcapngWriter::~PcapngWriter() {
    abandon();
    if (zlib_ != nullptr) {
        deflateEnd(static_cast<z_stream*>(zlib_));
        delete static_cast<z_stream*>(zlib_);
    }
    if (zstd_ != nullptr)
        ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_));
}

bool PcapngWriter::open(int* error) {
    fd_ = ::open(part_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        *error = errno;
        return false;
    }
    return true;
}

void PcapngWriter::append_section_header() {
    // Block type, length, byte-order magic, version 1.0, section length unknown (-1), no
    // options, length again.
    const uint32_t length = 28;
    put(raw_, pcapng::kSectionHeaderBlock);
    put(raw_, length);
    put(raw_, pcapng::kByteOrderMagic);
    put(raw_, uint16_t{1});
    put(raw_, uint16_t{0});
    put(raw_, int64_t{-1});
    put(raw_, length);
    header_pending_ = true;
}

uint32_t PcapngWriter::interface_of(LinkType link) {
    for (size_t i = 0; i < links_on_disk_.size(); ++i)
        if (links_on_disk_[i] == link)
            return static_cast<uint32_t>(i);
    for (size_t i = 0; i < links_pending_.size(); ++i)
        if (links_pending_[i] == link)
            return static_cast<uint32_t>(links_on_disk_.size() + i);
    // Interface Description Block: link type, reserved, snap length 0 (no limit), the
    // if_tsresol option (10^-6 or 10^-9 s), end of options.
    const uint32_t length = 20 + 4 + 4 + 4;
    put(raw_, pcapng::kInterfaceDescriptionBlock);
    put(raw_, length);
    put(raw_, pcapng_link_type(link));
    put(raw_, uint16_t{0});
    put(raw_, uint32_t{0});
    put(raw_, kOptionTsresol);
    put(raw_, uint16_t{1});
    put(raw_, static_cast<uint8_t>(nanoseconds_ ? 9 : 6));
    put(raw_, uint8_t{0});
    put(raw_, uint16_t{0});
    put(raw_, kOptionEnd);
    put(raw_, uint16_t{0});
    put(raw_, length);
    links_pending_.push_back(link);
    return static_cast<uint32_t>(links_on_disk_.size() + links_pending_.size() - 1);
}

void PcapngWriter::add(LinkType link, uint64_t ts_ns, uint32_t wire_len, const uint8_t* data,
                       uint32_t cap_len) {
    if (!header_on_disk_ && !header_pending_)
        append_section_header();
    const uint32_t interface = interface_of(link);
    const uint64_t ts = nanoseconds_ ? ts_ns : ts_ns / 1000;
    const uint32_t padded = (cap_len + 3) & ~3u;
    const uint32_t length = 32 + padded;
    put(raw_, pcapng::kEnhancedPacketBlock);
    put(raw_, length);
    put(raw_, interface);
    put(raw_, static_cast<uint32_t>(ts >> 32));
    put(raw_, static_cast<uint32_t>(ts));
    put(raw_, cap_len);
    put(raw_, std::max(wire_len, cap_len));
    put(raw_, data, cap_len);
    pad4(raw_);
    put(raw_, length);
    ++pending_packets_;
    packed_valid_ = false;
}

void PcapngWriter::compress() {
    if (packed_valid_ || compression_ == RecordCompression::none)
        return;
    if (compression_ == RecordCompression::gzip) {
        if (zlib_ == nullptr) {
            auto* z = new z_stream{};
            // windowBits 15 + 16: a gzip header and trailer around the deflate stream.
            deflateInit2(z, kGzipLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
            zlib_ = z;
        }
        auto* z = static_cast<z_stream*>(zlib_);
        deflateReset(z);
        packed_.resize(deflateBound(z, raw_.size()) + 64);
        z->next_in = raw_.data();
        z->avail_in = static_cast<uInt>(raw_.size());
        z->next_out = packed_.data();
        z->avail_out = static_cast<uInt>(packed_.size());
        deflate(z, Z_FINISH);
        packed_.resize(packed_.size() - z->avail_out);
    } else {
        if (zstd_ == nullptr)
            zstd_ = ZSTD_createCCtx();
        packed_.resize(ZSTD_compressBound(raw_.size()));
        const size_t n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_), packed_.data(),
                                           packed_.size(), raw_.data(), raw_.size(), kZstdLevel);
        packed_.resize(ZSTD_isError(n) ? 0 : n);
    }
    packed_valid_ = true;
}

size_t PcapngWriter::pending_disk_bytes() {
    if (raw_.empty())
        return 0;
    if (compression_ == RecordCompression::none)
        return raw_.size();
    compress();
    return packed_.size();
}

PcapngWriter::CommitResult PcapngWriter::commit() {
    CommitResult result;
    result.packets = pending_packets_;
    if (raw_.empty() || fd_ < 0)
        return result;
    compress();
    const std::vector<uint8_t>& out = compression_ == RecordCompression::none ? raw_ : packed_;
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pwrite(fd_, out.data() + done, out.size() - done,
                                   static_cast<off_t>(disk_bytes_ + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            result.ok = false;
            result.error = n < 0 ? errno : ENOSPC;
            break;
        }
        done += static_cast<size_t>(n);
    }
    if (result.ok) {
        disk_bytes_ += out.size();
        result.bytes = out.size();
        header_on_disk_ = header_on_disk_ || header_pending_;
        links_on_disk_.insert(links_on_disk_.end(), links_pending_.begin(), links_pending_.end());
    } else if (done != 0 && ::ftruncate(fd_, static_cast<off_t>(disk_bytes_)) != 0) {
        // The file cannot even be cut back: leave it as `.part` (marked incomplete).
        ::close(fd_);
        fd_ = -1;
    }
    discard();
    return result;
}

uint64_t PcapngWriter::discard() {
    const uint64_t packets = pending_packets_;
    raw_.clear();
    packed_valid_ = false;
    header_pending_ = false;
    links_pending_.clear();
    pending_packets_ = 0;
    return packets;
}

PcapngWriter::CommitResult PcapngWriter::close() {
    CommitResult result = commit();
    if (fd_ < 0)
        return result;
    ::close(fd_);
    fd_ = -1;
    if (disk_bytes_ == 0) {
        // Nothing could be written (not even a header): no file, rather than an empty one.
        ::unlink(part_path().c_str());
        return result;
    }
    if (::rename(part_path().c_str(), path_.c_str()) != 0) {
        result.ok = false;
        result.error = errno;
    }
    return result;
}

void PcapngWriter::abandon() {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

}  // namespace darkscope
