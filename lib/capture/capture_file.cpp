#include "darkscope/capture_file.hpp"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "darkscope/pcapng_blocks.hpp"

namespace darkscope {

namespace {

// One decompressor behind a stdio stream: read() fills buf with up to n decompressed bytes and
// returns how many (0 at the end), or -1 on a read or format error (errno set).
class Decompressor {
  public:
    virtual ~Decompressor() = default;
    virtual ssize_t read(char* buf, size_t n) = 0;
};

class GzipReader : public Decompressor {
  public:
    explicit GzipReader(const std::string& path) : gz_(gzopen(path.c_str(), "rb")) {}
    ~GzipReader() override {
        if (gz_ != nullptr)
            gzclose(gz_);
    }
    bool ok() const { return gz_ != nullptr; }
    ssize_t read(char* buf, size_t n) override {
        // gzread reads concatenated members; it takes an unsigned count.
        const int got = gzread(gz_, buf, static_cast<unsigned>(std::min<size_t>(n, 1u << 30)));
        if (got < 0)
            errno = EIO;
        return got;
    }

  private:
    gzFile gz_;
};

// The compressed file read in pieces, for the stream decoders below.
class CompressedInput {
  public:
    explicit CompressedInput(const std::string& path, size_t piece)
        : file_(std::fopen(path.c_str(), "rb")), buf_(piece) {}
    ~CompressedInput() {
        if (file_ != nullptr)
            std::fclose(file_);
    }
    bool ok() const { return file_ != nullptr; }
    // Refills the piece once it is used up; false at the end of the file (or on an error).
    bool refill() {
        if (pos_ < size_)
            return true;
        size_ = std::fread(buf_.data(), 1, buf_.size(), file_);
        pos_ = 0;
        return size_ > 0;
    }
    bool failed() const { return std::ferror(file_) != 0; }
    const uint8_t* data() const { return buf_.data() + pos_; }
    size_t size() const { return size_ - pos_; }
    void consumed(size_t n) { pos_ += n; }

  private:
    FILE* file_;
    std::vector<uint8_t> buf_;
    size_t pos_ = 0, size_ = 0;
};

class ZstdReader : public Decompressor {
  public:
    explicit ZstdReader(const std::string& path)
        : in_(path, ZSTD_DStreamInSize()), dctx_(ZSTD_createDCtx()) {}
    ~ZstdReader() override { ZSTD_freeDCtx(dctx_); }
    bool ok() const { return in_.ok() && dctx_ != nullptr; }
    ssize_t read(char* buf, size_t n) override {
        ZSTD_outBuffer out{buf, n, 0};
        while (out.pos < out.size) {
            if (!in_.refill()) {
                if (in_.failed() || last_ != 0) {  // a read error, or the file ends mid-frame
                    errno = EIO;
                    return out.pos > 0 ? static_cast<ssize_t>(out.pos) : -1;
                }
                break;
            }
            ZSTD_inBuffer in{in_.data(), in_.size(), 0};
            last_ = ZSTD_decompressStream(dctx_, &out, &in);
            in_.consumed(in.pos);
            if (ZSTD_isError(last_)) {
                errno = EIO;
                return -1;
            }
        }
        return static_cast<ssize_t>(out.pos);
    }

  private:
    CompressedInput in_;
    ZSTD_DCtx* dctx_;
    size_t last_ = 0;  // 0 once a frame is complete
};

class XzReader : public Decompressor {
  public:
    explicit XzReader(const std::string& path) : in_(path, 1u << 16) {
        ok_ = in_.ok() && lzma_stream_decoder(&strm_, UINT64_MAX, LZMA_CONCATENATED) == LZMA_OK;
    }
    ~XzReader() override { lzma_end(&strm_); }
    bool ok() const { return ok_; }
    ssize_t read(char* buf, size_t n) override {
        strm_.next_out = reinterpret_cast<uint8_t*>(buf);
        strm_.avail_out = n;
        while (strm_.avail_out > 0 && !done_) {
            lzma_action action = LZMA_RUN;
            if (strm_.avail_in == 0) {
                if (in_.refill()) {
                    strm_.next_in = in_.data();
                    strm_.avail_in = in_.size();
                    in_.consumed(in_.size());
                } else if (in_.failed()) {
                    errno = EIO;
                    return -1;
                } else {
                    action = LZMA_FINISH;
                }
            }
            const lzma_ret ret = lzma_code(&strm_, action);
            if (ret == LZMA_STREAM_END) {
                done_ = true;
            } else if (ret != LZMA_OK) {
                errno = EIO;
                return -1;
            }
        }
        return static_cast<ssize_t>(n - strm_.avail_out);
    }

  private:
    CompressedInput in_;
    lzma_stream strm_ = LZMA_STREAM_INIT;
    bool ok_ = false;
    bool done_ = false;
};

class Bzip2Reader : public Decompressor {
  public:
    explicit Bzip2Reader(const std::string& path) : in_(path, 1u << 16) {
        ok_ = in_.ok() && BZ2_bzDecompressInit(&strm_, 0, 0) == BZ_OK;
    }
    ~Bzip2Reader() override {
        if (ok_)
            BZ2_bzDecompressEnd(&strm_);
    }
    bool ok() const { return ok_; }
    ssize_t read(char* buf, size_t n) override {
        strm_.next_out = buf;
        strm_.avail_out = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
        const unsigned asked = strm_.avail_out;
        while (strm_.avail_out > 0) {
            if (strm_.avail_in == 0) {
                if (!in_.refill()) {
                    if (in_.failed() || in_stream_) {  // a read error, or the file ends mid-stream
                        errno = EIO;
                        return asked - strm_.avail_out > 0 ? asked - strm_.avail_out : -1;
                    }
                    break;
                }
                strm_.next_in = reinterpret_cast<char*>(const_cast<uint8_t*>(in_.data()));
                strm_.avail_in = static_cast<unsigned>(in_.size());
                in_.consumed(in_.size());
            }
            in_stream_ = true;
            const int ret = BZ2_bzDecompress(&strm_);
            if (ret == BZ_STREAM_END) {
                // bzip2 FILE... concatenates streams: start the next one on what is left.
                char* rest = strm_.next_in;
                const unsigned rest_n = strm_.avail_in;
                const unsigned produced = asked - strm_.avail_out;
                BZ2_bzDecompressEnd(&strm_);
                strm_ = bz_stream{};
                if (BZ2_bzDecompressInit(&strm_, 0, 0) != BZ_OK) {
                    ok_ = false;
                    errno = EIO;
                    return -1;
                }
                strm_.next_in = rest;
                strm_.avail_in = rest_n;
                strm_.next_out = buf + produced;
                strm_.avail_out = asked - produced;
                in_stream_ = false;
                continue;
            }
            if (ret != BZ_OK) {
                errno = EIO;
                return -1;
            }
        }
        return asked - strm_.avail_out;
    }

  private:
    CompressedInput in_;
    bz_stream strm_{};
    bool ok_ = false;
    bool in_stream_ = false;  // inside a stream that has not ended
};

ssize_t cookie_read(void* cookie, char* buf, size_t n) {
    return static_cast<Decompressor*>(cookie)->read(buf, n);
}

int cookie_close(void* cookie) {
    delete static_cast<Decompressor*>(cookie);
    return 0;
}

template <typename Reader>
FILE* open_stream(const std::string& path) {
    auto reader = std::make_unique<Reader>(path);
    if (!reader->ok())
        return nullptr;
    cookie_io_functions_t io{};
    io.read = cookie_read;
    io.close = cookie_close;
    FILE* f = fopencookie(reader.get(), "r", io);
    if (f != nullptr)
        reader.release();  // closed (and deleted) by fclose, which pcap_close calls
    return f;
}

}  // namespace

CaptureCompression capture_compression(const std::string& path) {
    unsigned char m[4] = {};
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
        return CaptureCompression::none;
    const size_t got = std::fread(m, 1, sizeof m, f);
    std::fclose(f);
    if (got < 3)
        return CaptureCompression::none;
    if (m[0] == 0x1f && m[1] == 0x8b)
        return CaptureCompression::gzip;
    if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && got == 4 && m[3] == 0xfd)
        return CaptureCompression::zstd;
    if (m[0] == 0xfd && m[1] == '7' && m[2] == 'z')
        return CaptureCompression::xz;
    if (m[0] == 'B' && m[1] == 'Z' && m[2] == 'h')
        return CaptureCompression::bzip2;
    return CaptureCompression::none;
}

const char* compression_name(CaptureCompression c) {
    switch (c) {
        case CaptureCompression::gzip:
            return "gzip";
        case CaptureCompression::zstd:
            return "zstd";
        case CaptureCompression::xz:
            return "xz";
        case CaptureCompression::bzip2:
            return "bzip2";
        case CaptureCompression::none:
            break;
    }
    return "none";
}

FILE* open_capture_stream(const std::string& path) {
    switch (capture_compression(path)) {
        case CaptureCompression::none:
            return std::fopen(path.c_str(), "rb");
        case CaptureCompression::gzip:
            return open_stream<GzipReader>(path);
        case CaptureCompression::zstd:
            return open_stream<ZstdReader>(path);
        case CaptureCompression::xz:
            return open_stream<XzReader>(path);
        case CaptureCompression::bzip2:
            return open_stream<Bzip2Reader>(path);
    }
    return nullptr;
}

namespace {

constexpr uint32_t kObsoletePacketBlock = 2;
constexpr uint32_t kSimplePacketBlock = 3;
constexpr uint32_t kMaxBlockBytes = 16u << 20;  // libpcap's own bound on a block

}  // namespace

PcapngReader::PcapngReader(FILE* stream) : stream_(stream) {}

PcapngReader::~PcapngReader() {
    if (stream_ != nullptr)
        std::fclose(stream_);
}

bool PcapngReader::read_exact(void* dst, size_t n) {
    return std::fread(dst, 1, n, stream_) == n;
}

uint32_t PcapngReader::u32(const uint8_t* p) const {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return swapped_ ? __builtin_bswap32(v) : v;
}

uint16_t PcapngReader::u16(const uint8_t* p) const {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return swapped_ ? __builtin_bswap16(v) : v;
}

int PcapngReader::fail(const std::string& why) {
    error_ = why;
    return -1;
}

bool PcapngReader::add_interface(const uint8_t* body, size_t len) {
    if (len < 8)
        return false;
    Interface i{u16(body), 1000000, 0};
    // Options: code, length, value padded to 4, up to opt_endofopt (0).
    for (size_t at = 8; at + 4 <= len;) {
        const uint16_t code = u16(body + at), olen = u16(body + at + 2);
        if (code == 0 || at + 4 + olen > len)
            break;
        const uint8_t* v = body + at + 4;
        if (code == 9 && olen >= 1) {  // if_tsresol: 10^-n, or 2^-n with the top bit set
            const unsigned n = v[0] & 0x7f;
            if (n > 63 || ((v[0] & 0x80) == 0 && n > 19))
                return false;
            uint64_t units = 1;
            for (unsigned k = 0; k < n; ++k)
                units *= (v[0] & 0x80) != 0 ? 2 : 10;
            i.units_per_s = units;
        } else if (code == 14 && olen >= 8) {  // if_tsoffset: seconds added to every time
            uint64_t off;
            std::memcpy(&off, v, sizeof off);
            i.offset_s = static_cast<int64_t>(swapped_ ? __builtin_bswap64(off) : off);
        }
        at += 4 + ((olen + 3u) & ~3u);
    }
    interfaces_.push_back(i);
    return true;
}

int PcapngReader::next(PcapngPacket* p) {
    if (stream_ == nullptr)
        return fail(std::string("cannot open: ") + std::strerror(errno != 0 ? errno : EIO));
    for (;;) {
        uint8_t head[8];
        const size_t got = std::fread(head, 1, sizeof head, stream_);
        if (got == 0 && !std::ferror(stream_))
            return 0;
        if (got != sizeof head)
            return fail("truncated block header");
        uint32_t type;
        std::memcpy(&type, head, sizeof type);  // the section header's type reads alike both ways
        if (type == pcapng::kSectionHeaderBlock) {
            uint8_t bom[4];
            if (!read_exact(bom, sizeof bom))
                return fail("truncated section header");
            uint32_t magic;
            std::memcpy(&magic, bom, sizeof magic);
            if (magic != pcapng::kByteOrderMagic &&
                magic != __builtin_bswap32(pcapng::kByteOrderMagic))
                return fail("section header with a bad byte-order magic");
            swapped_ = magic != pcapng::kByteOrderMagic;
            in_section_ = true;
            interfaces_.clear();  // interface numbers start again in each section
            const uint32_t total = u32(head + 4);
            if (total < 28 || total % 4 != 0 || total > kMaxBlockBytes)
                return fail("section header of a bad length");
            block_.resize(total - 12);
            if (!read_exact(block_.data(), block_.size()))
                return fail("truncated section header");
            continue;
        }
        if (!in_section_)
            return fail("not a pcapng file (no section header first)");
        type = u32(head);
        const uint32_t total = u32(head + 4);
        if (total < 12 || total % 4 != 0 || total > kMaxBlockBytes)
            return fail("block of type " + std::to_string(type) + " with a bad length " +
                        std::to_string(total));
        block_.resize(total - 8);  // the body and the trailing length
        if (!read_exact(block_.data(), block_.size()))
            return fail("truncated block of type " + std::to_string(type));
        if (u32(block_.data() + block_.size() - 4) != total)
            return fail("block of type " + std::to_string(type) + " whose lengths differ");
        const uint8_t* body = block_.data();
        const size_t len = block_.size() - 4;
        if (type == pcapng::kInterfaceDescriptionBlock) {
            if (!add_interface(body, len))
                return fail("interface description block with a bad option");
            continue;
        }
        uint32_t iface = 0, caplen = 0, wire = 0;
        uint64_t ts = 0;
        size_t data_at = 0;
        if (type == pcapng::kEnhancedPacketBlock || type == kObsoletePacketBlock) {
            if (len < 20)
                return fail("packet block too short");
            iface = type == pcapng::kEnhancedPacketBlock ? u32(body) : u16(body);
            ts = uint64_t{u32(body + 4)} << 32 | u32(body + 8);
            caplen = u32(body + 12);
            wire = u32(body + 16);
            data_at = 20;
        } else if (type == kSimplePacketBlock) {
            if (len < 4)
                return fail("simple packet block too short");
            wire = u32(body);
            caplen = static_cast<uint32_t>(std::min<size_t>(wire, len - 4));
            data_at = 4;
        } else {
            continue;  // name resolution, statistics, custom blocks...
        }
        if (iface >= interfaces_.size())
            return fail("packet of interface " + std::to_string(iface) +
                        ", which is not described");
        if (data_at + caplen > len)
            return fail("packet block shorter than its captured length");
        const Interface& i = interfaces_[iface];
        if (type != kSimplePacketBlock) {
            const uint64_t s = ts / i.units_per_s, rest = ts % i.units_per_s;
            // rest * 10^9 overflows 64 bits past nanosecond resolution.
            __extension__ using Wide = unsigned __int128;
            const Wide ns = static_cast<Wide>(rest) * 1000000000u / i.units_per_s;
            last_ts_ns_ =
                (s + static_cast<uint64_t>(i.offset_s)) * 1000000000ull + static_cast<uint64_t>(ns);
        }
        p->ts_ns = last_ts_ns_;  // a simple packet block has no time: the previous packet's
        p->caplen = caplen;
        p->wire_len = std::max(wire, caplen);
        p->data = body + data_at;
        p->dlt = i.dlt;
        return 1;
    }
}

pcap_t* open_capture(const std::string& path, char* errbuf, bool nanoseconds) {
    const u_int precision = nanoseconds ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO;
    const CaptureCompression c = capture_compression(path);
    FILE* stream = nullptr;
    switch (c) {
        case CaptureCompression::none:
            return pcap_open_offline_with_tstamp_precision(path.c_str(), precision, errbuf);
        case CaptureCompression::gzip:
            stream = open_stream<GzipReader>(path);
            break;
        case CaptureCompression::zstd:
            stream = open_stream<ZstdReader>(path);
            break;
        case CaptureCompression::xz:
            stream = open_stream<XzReader>(path);
            break;
        case CaptureCompression::bzip2:
            stream = open_stream<Bzip2Reader>(path);
            break;
    }
    if (stream == nullptr) {
        std::snprintf(errbuf, PCAP_ERRBUF_SIZE, "cannot open the %s-compressed file: %s",
                      compression_name(c), std::strerror(errno != 0 ? errno : EIO));
        return nullptr;
    }
    pcap_t* pc = pcap_fopen_offline_with_tstamp_precision(stream, precision, errbuf);
    if (pc == nullptr) {
        std::fclose(stream);
        const std::string why = errbuf;
        std::snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s (decompressed from %s)", why.c_str(),
                      compression_name(c));
    }
    return pc;
}

}  // namespace darkscope
