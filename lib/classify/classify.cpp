// Traffic class, flags and sensor of a decoded packet. The definitions are written down in
// docs/classify.md; the comments here say where each one comes from.
#include "darkscope/classify.hpp"

#include <algorithm>
#include <cstring>

namespace darkscope {

namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIpv6InIp = 41;
constexpr uint8_t kProtoIcmpv6 = 58;

inline uint64_t load_be64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

inline uint64_t mix64(uint64_t hi, uint64_t lo) {
    uint64_t x = hi * 0x9e3779b97f4a7c15ull ^ (lo + 0x632be59bd9b4e019ull);
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return x;
}

inline void mask_for(unsigned length, uint64_t& hi, uint64_t& lo) {
    hi = length == 0 ? 0 : (length >= 64 ? ~0ull : ~0ull << (64 - length));
    lo = length <= 64 ? 0 : (length >= 128 ? ~0ull : ~0ull << (128 - length));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SensorTable

uint64_t SensorTable::key4(const IpPrefix& prefix) {
    return uint64_t{prefix.addr.v4} << 8 | prefix.length;
}

std::string SensorTable::key6(const IpPrefix& prefix) {
    std::string key(reinterpret_cast<const char*>(prefix.addr.v6), 16);
    key.push_back(static_cast<char>(prefix.length));
    return key;
}

bool SensorTable::add(const std::string& sensor_name, const IpPrefix& prefix, std::string* error) {
    uint16_t index;
    auto it = std::find(names_.begin(), names_.end(), sensor_name);
    if (it == names_.end()) {
        if (names_.size() >= kSensorUnmatched) {
            if (error)
                *error = "too many sensors";
            return false;
        }
        names_.push_back(sensor_name);
        prefixes_.emplace_back();
        index = static_cast<uint16_t>(names_.size() - 1);
    } else {
        index = static_cast<uint16_t>(it - names_.begin());
    }
    // One hash lookup per prefix: start-up stays linear in the number of prefixes (millions).
    uint16_t owner = index;
    bool added = false;
    if (prefix.family == 4) {
        auto [at, fresh] = seen4_.emplace(key4(prefix), index);
        owner = at->second;
        added = fresh;
    } else {
        auto [at, fresh] = seen6_.emplace(key6(prefix), index);
        owner = at->second;
        added = fresh;
    }
    if (!added) {
        if (owner == index)
            return true;  // listed twice in its own sensor: once is enough
        if (error)
            *error =
                "prefix " + prefix.to_string() + " is already in sensor '" + names_[owner] + "'";
        return false;
    }
    if (prefix.family == 4) {
        v4_.emplace_back(prefix, index);
    } else {
        Entry6 e{};
        std::memcpy(e.net, prefix.addr.v6, 16);
        e.length = prefix.length;
        e.sensor = index;
        v6_.push_back(e);
    }
    prefixes_[index].push_back(prefix);
    return true;
}

void SensorTable::finalize() {
    // IPv4 DIR-16-8-8: paint prefixes shortest first so longer ones overwrite them.
    dir16_.assign(65536, kSensorUnmatched);
    dir8_.clear();
    auto sorted = v4_;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.first.length < b.first.length; });
    auto new_chunk = [this](uint32_t fill) {
        uint32_t chunk = static_cast<uint32_t>(dir8_.size() / 256);
        dir8_.insert(dir8_.end(), 256, fill);
        return chunk;
    };
    for (const auto& [p, sensor] : sorted) {
        uint32_t addr = p.addr.v4;
        unsigned len = p.length;
        if (len <= 16) {
            uint32_t first = addr >> 16;
            uint32_t count = 1u << (16 - len);
            for (uint32_t i = 0; i < count; ++i)
                dir16_[first + i] = sensor;
            continue;
        }
        uint32_t& e1 = dir16_[addr >> 16];
        if (!(e1 & kPointer))
            e1 = kPointer | new_chunk(e1);
        uint32_t chunk2 = dir16_[addr >> 16] & ~kPointer;
        uint32_t b2 = (addr >> 8) & 0xff;
        if (len <= 24) {
            uint32_t count = 1u << (24 - len);
            for (uint32_t i = 0; i < count; ++i)
                dir8_[chunk2 * 256 + b2 + i] = sensor;
            continue;
        }
        uint32_t e2 = dir8_[chunk2 * 256 + b2];
        if (!(e2 & kPointer)) {
            uint32_t c = new_chunk(e2);  // may reallocate dir8_: index again below
            dir8_[chunk2 * 256 + b2] = kPointer | c;
        }
        uint32_t chunk3 = dir8_[chunk2 * 256 + b2] & ~kPointer;
        uint32_t b3 = addr & 0xff;
        uint32_t count = 1u << (32 - len);
        for (uint32_t i = 0; i < count; ++i)
            dir8_[chunk3 * 256 + b3 + i] = sensor;
    }

    // IPv6: a hash per distinct length, longest first.
    levels6_.clear();
    keys6_.clear();
    std::vector<uint8_t> lengths;
    for (const auto& e : v6_)
        lengths.push_back(e.length);
    std::sort(lengths.begin(), lengths.end(), std::greater<>());
    lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
    for (uint8_t len : lengths) {
        Level6 level;
        level.length = len;
        mask_for(len, level.mask_hi, level.mask_lo);
        size_t n = 0;
        for (const auto& e : v6_)
            n += e.length == len;
        size_t slots = 8;
        while (slots < n * 2)
            slots <<= 1;
        level.slots.assign(slots, 0);
        level.slot_mask = static_cast<uint32_t>(slots - 1);
        for (const auto& e : v6_) {
            if (e.length != len)
                continue;
            Key6 k{load_be64(e.net) & level.mask_hi, load_be64(e.net + 8) & level.mask_lo,
                   e.sensor};
            keys6_.push_back(k);
            uint32_t slot = static_cast<uint32_t>(mix64(k.hi, k.lo)) & level.slot_mask;
            while (level.slots[slot] != 0)
                slot = (slot + 1) & level.slot_mask;
            level.slots[slot] = static_cast<uint32_t>(keys6_.size());
        }
        levels6_.push_back(std::move(level));
    }
}

uint16_t SensorTable::match4(uint32_t dst) const {
    uint32_t e = dir16_[dst >> 16];
    if (!(e & kPointer)) [[likely]]
        return static_cast<uint16_t>(e);
    e = dir8_[(e & ~kPointer) * 256 + ((dst >> 8) & 0xff)];
    if (!(e & kPointer))
        return static_cast<uint16_t>(e);
    return static_cast<uint16_t>(dir8_[(e & ~kPointer) * 256 + (dst & 0xff)]);
}

uint16_t SensorTable::match6(const uint8_t dst[16]) const {
    uint64_t hi = load_be64(dst);
    uint64_t lo = load_be64(dst + 8);
    for (const Level6& level : levels6_) {
        uint64_t mh = hi & level.mask_hi;
        uint64_t ml = lo & level.mask_lo;
        uint32_t slot = static_cast<uint32_t>(mix64(mh, ml)) & level.slot_mask;
        for (;;) {
            uint32_t k = level.slots[slot];
            if (k == 0)
                break;
            const Key6& key = keys6_[k - 1];
            if (key.hi == mh && key.lo == ml)
                return key.sensor;
            slot = (slot + 1) & level.slot_mask;
        }
    }
    return kSensorUnmatched;
}

double SensorTable::ipv4_coverage() const {
    std::vector<IpPrefix> ps;
    for (const auto& [p, s] : v4_)
        ps.push_back(p);
    std::sort(ps.begin(), ps.end(), [](const IpPrefix& a, const IpPrefix& b) {
        return a.addr.v4 != b.addr.v4 ? a.addr.v4 < b.addr.v4 : a.length < b.length;
    });
    double total = 0;
    uint64_t covered_end = 0;  // one past the last address already counted
    for (const auto& p : ps) {
        uint64_t start = p.addr.v4;
        uint64_t end = start + (uint64_t{1} << (32 - p.length));
        if (end <= covered_end)
            continue;  // inside an earlier (shorter) prefix
        total += p.fraction_of_space();
        covered_end = end;
    }
    return total;
}

// ---------------------------------------------------------------------------------------------
// Config

ClassifyConfig ClassifyConfig::defaults() {
    ClassifyConfig c;
    for (uint16_t p : kDefaultUdpServicePorts)
        c.udp_service_ports.set(p);
    return c;
}

// ---------------------------------------------------------------------------------------------
// Flags

namespace {

// Per first octet: 0 routed, 1 non-routed, 2 look closer. One load instead of a switch whose
// jump mispredicts on a random source mix.
struct FirstOctetTable {
    uint8_t v[256];
    constexpr FirstOctetTable() : v{} {
        for (unsigned i = 224; i < 256; ++i)
            v[i] = 1;               // 224/4 multicast, 240/4 reserved
        v[0] = v[10] = v[127] = 1;  // this network, private, loopback
        v[100] = v[169] = v[172] = v[192] = v[198] = v[203] = 2;
    }
};
constexpr FirstOctetTable kFirstOctet;

// The first octets that kFirstOctet marks "look closer". Out of line: few sources need it.
[[gnu::noinline]] bool non_routed_v4_closer(uint32_t a) {
    switch (a >> 24) {
        case 100:
            return (a & 0xffc00000u) == 0x64400000u;  // 100.64.0.0/10 shared address space
        case 169:
            return (a & 0xffff0000u) == 0xa9fe0000u;  // 169.254.0.0/16 link local
        case 172:
            return (a & 0xfff00000u) == 0xac100000u;  // 172.16.0.0/12 private
        case 192:
            return (a & 0xffffff00u) == 0xc0000000u ||  // 192.0.0.0/24 IETF assignments
                   (a & 0xffffff00u) == 0xc0000200u ||  // 192.0.2.0/24 TEST-NET-1
                   (a & 0xffffff00u) == 0xc0586300u ||  // 192.88.99.0/24 6to4 relay anycast
                   (a & 0xffff0000u) == 0xc0a80000u;    // 192.168.0.0/16 private
        case 198:
            return (a & 0xfffe0000u) == 0xc6120000u ||  // 198.18.0.0/15 benchmarking
                   (a & 0xffffff00u) == 0xc6336400u;    // 198.51.100.0/24 TEST-NET-2
        default:
            return (a & 0xffffff00u) == 0xcb007100u;  // 203.0.113.0/24 TEST-NET-3
    }
}

// Inline so that the flag paths pay one table load for most sources; the rare closer look is
// a call.
inline bool non_routed_v4(uint32_t a) {
    const uint8_t kind = kFirstOctet.v[a >> 24];
    return kind == 2 ? non_routed_v4_closer(a) : kind != 0;
}

}  // namespace

bool is_non_routed_v4(uint32_t a) {
    // Corsaro's RFC 5735 list plus 100.64.0.0/10 (RFC 6598), i.e. the RFC 6890 registry entries
    // that are not globally reachable, multicast and the reserved 240/4 (incl. broadcast).
    return non_routed_v4(a);
}

bool is_non_routed_v6(const uint8_t a[16]) {
    // Everything outside global unicast 2000::/3 (::, ::1, IPv4-mapped, 100::/64 discard,
    // ULA fc00::/7, link local fe80::/10, multicast ff00::/8, unassigned space) plus the
    // non-global special-purpose blocks inside it.
    if ((a[0] & 0xe0) != 0x20)
        return true;
    uint16_t w0 = static_cast<uint16_t>((a[0] << 8) | a[1]);
    uint16_t w1 = static_cast<uint16_t>((a[2] << 8) | a[3]);
    if (w0 == 0x2001) {
        if (w1 == 0x0db8)
            return true;  // 2001:db8::/32 docs
        if (w1 == 0x0002 && a[4] == 0 && a[5] == 0)
            return true;  // 2001:2::/48 bench
        if ((w1 & 0xfff0) == 0x0010)
            return true;  // 2001:10::/28 ORCHID
    }
    if (w0 == 0x3fff && (w1 & 0xf000) == 0)
        return true;  // 3fff::/20 documentation
    return false;
}

namespace {

inline uint32_t when(bool c, uint32_t flag) {
    return static_cast<uint32_t>(c) * flag;  // flag is one bit: a shift, no branch
}

// The TCP flag combinations (FIN SYN RST PSH ACK URG) Corsaro's abnormal-protocol filter lets
// through, one bit per combination (compute_flags_generic's switch).
constexpr uint64_t kNormalTcpFlagSets =
    uint64_t{1} << tcp_syn | uint64_t{1} << tcp_ack | uint64_t{1} << tcp_rst |
    uint64_t{1} << tcp_fin | uint64_t{1} << (tcp_syn | tcp_fin) |
    uint64_t{1} << (tcp_syn | tcp_ack) | uint64_t{1} << (tcp_fin | tcp_ack) |
    uint64_t{1} << (tcp_ack | tcp_psh) | uint64_t{1} << (tcp_fin | tcp_ack | tcp_psh);

// What the FIN SYN RST PSH ACK URG bits alone say about a TCP packet, per combination, worked
// out at compile time from the rules compute_flags_generic and classify spell out: one load from
// a 128-byte table replaces a dozen bit tests per packet, and the class of a TCP packet comes
// without a branch that a mix of scans and backscatter mispredicts.
struct TcpFlagTable {
    static constexpr uint8_t kSynOnly = 1;    // SYN without ACK (nmap, no-options)
    static constexpr uint8_t kAbnormal = 2;   // not a combination kNormalTcpFlagSets lets through
    static constexpr uint8_t kReplyLike = 4;  // SYN-ACK or RST: Corsaro's backscatter (erratic)
    uint8_t bits[64];
    TrafficClass cls[64];
    constexpr TcpFlagTable() : bits{}, cls{} {
        for (unsigned tf = 0; tf < 64; ++tf) {
            const bool syn = tf & tcp_syn, ack = tf & tcp_ack, rst = tf & tcp_rst;
            bits[tf] = static_cast<uint8_t>((syn && !ack ? kSynOnly : 0) |
                                            (((kNormalTcpFlagSets >> tf) & 1) ? 0 : kAbnormal) |
                                            ((syn && ack) || rst ? kReplyLike : 0));
            cls[tf] = syn && !(ack || rst)  ? TrafficClass::tcp_scan
                      : rst || (syn && ack) ? TrafficClass::tcp_backscatter
                                            : TrafficClass::tcp_other;
        }
    }
};
constexpr TcpFlagTable kTcpFlags;

// The flags of a decoded IPv4 TCP packet (l4_valid, so ip_proto is 6): compute_flags_generic
// with every test that cannot hold for such a packet left out, and the rest combined with bit
// operations instead of branches. Most darknet packets take this path; the generic one stays the
// definition, and the tests check that both agree.
inline uint16_t tcp4_flags(const PacketFacts& f) {
    // First, while nothing else is live: the rare call in non_routed_v4 then costs no register
    // saves on the common path.
    const bool non_routed = non_routed_v4(f.src.v4);
    const uint8_t tf = f.tcp_flags;
    const uint16_t sp = f.src_port, dp = f.dst_port;
    const uint8_t by_flags = kTcpFlags.bits[tf & 0x3f];
    const bool syn_only = (by_flags & TcpFlagTable::kSynOnly) != 0;
    const bool no_options = syn_only & (f.tcp_options_len == 0);
    const bool high_ttl = f.ttl >= 200;
    // nmap's windows 1024, 2048, 3072 and 4096 are the multiples of 1024 in [1024, 4096].
    const bool nmap_window =
        ((f.tcp_window & 1023) == 0) & (static_cast<uint16_t>(f.tcp_window - 1024) <= 3072);
    const bool nmap = syn_only & (f.tcp_options_len == 4) & ((f.tcp_option_sig >> 24) == 2) &
                      (f.tcp_mss == 1460) & nmap_window;
    const uint8_t last = static_cast<uint8_t>(f.src.v4);
    const bool spoofed = ((by_flags & TcpFlagTable::kAbnormal) != 0) | high_ttl | f.fragment |
                         f.ip_reserved_bit | (static_cast<uint8_t>(last + 1) <= 1) |
                         (f.src.v4 == f.dst.v4) | (sp == 0) | (dp == 0);
    const bool erratic_port = (sp == 53) | (dp == 53) | (sp == 23) | (dp == 23) | (sp == 80) |
                              (dp == 80) | (sp == 5000) | (dp == 5000);
    const bool erratic = spoofed | erratic_port | ((by_flags & TcpFlagTable::kReplyLike) != 0);
    uint32_t flags =
        when(!f.fragment & (f.ip_id == 54321), flag_zmap) |
        when(f.ip_id == static_cast<uint16_t>(f.dst.v4 ^ dp ^ f.tcp_seq), flag_masscan) |
        when(f.tcp_seq == f.dst.v4, flag_mirai) | when(nmap, flag_nmap) |
        when(no_options, flag_no_tcp_options) | when(high_ttl, flag_high_ttl) |
        when(no_options & high_ttl & (f.tcp_window == 1024), flag_large_scale_scan) |
        when(spoofed, flag_spoofed) | when(erratic, flag_erratic) |
        when(non_routed, flag_non_routed);
    return static_cast<uint16_t>(flags);
}

// compute_flags, inlined into classify: as a call it cost ~17 instructions a packet in register
// saves and restores alone.
[[gnu::always_inline]] inline uint16_t flags_of(const PacketFacts& f) {
    if (f.ip_version == 4 && f.proto == Proto::tcp && f.l4_valid) [[likely]]
        return tcp4_flags(f);
    return compute_flags_generic(f);
}

}  // namespace

uint16_t compute_flags(const PacketFacts& f) {
    return flags_of(f);
}

uint16_t compute_flags_generic(const PacketFacts& f) {
    if (f.ip_version == 0)
        return 0;
    uint16_t flags = 0;
    const bool v4 = f.ip_version == 4;
    const bool tcp = f.proto == Proto::tcp && f.l4_valid;
    const bool udp = f.proto == Proto::udp && f.l4_valid;
    const uint8_t tf = f.tcp_flags;
    const bool syn_only = tcp && (tf & tcp_syn) && !(tf & tcp_ack);

    // Scanner fingerprints.
    if (v4 && !f.fragment && f.ip_id == 54321)
        flags |= flag_zmap;
    if (v4 && tcp) {
        if (f.ip_id == static_cast<uint16_t>(f.dst.v4 ^ f.dst_port ^ f.tcp_seq))
            flags |= flag_masscan;
        if (f.tcp_seq == f.dst.v4)
            flags |= flag_mirai;
    }
    // nmap's raw SYN scan: one MSS 1460 option and a window of 1024, 2048, 3072 or 4096
    // (ndpi/synscan.pcap shows all four).
    if (syn_only && f.tcp_options_len == 4 && (f.tcp_option_sig >> 24) == 2 && f.tcp_mss == 1460 &&
        (f.tcp_window == 1024 || f.tcp_window == 2048 || f.tcp_window == 3072 ||
         f.tcp_window == 4096))
        flags |= flag_nmap;
    // Corsaro: "a TCP SYN with no options".
    const bool no_options = syn_only && f.tcp_options_len == 0;
    if (no_options)
        flags |= flag_no_tcp_options;
    if (f.ttl >= 200)
        flags |= flag_high_ttl;
    // Corsaro's large-scale (masscan-like) scan: SYN, no options, TTL >= 200, window 1024.
    if (no_options && f.ttl >= 200 && f.tcp_window == 1024)
        flags |= flag_large_scale_scan;

    // Corsaro's "spoofed": any of its sub-filters.
    bool spoofed = false;
    // abnormal protocol: not ICMP/UDP/TCP/IPv6-in-IPv4, or TCP with an unusual flag mix.
    const uint8_t icmp_proto = v4 ? kProtoIcmp : kProtoIcmpv6;
    if (f.ip_proto != icmp_proto && f.ip_proto != kProtoUdp && f.ip_proto != kProtoIpv6InIp &&
        f.ip_proto != kProtoTcp) {
        spoofed = true;
    } else if (tcp) {
        switch (tf & 0x3f) {  // FIN SYN RST PSH ACK URG; ECE/CWR are not looked at
            case tcp_syn:
            case tcp_ack:
            case tcp_rst:
            case tcp_fin:
            case tcp_syn | tcp_fin:
            case tcp_syn | tcp_ack:
            case tcp_fin | tcp_ack:
            case tcp_ack | tcp_psh:
            case tcp_fin | tcp_ack | tcp_psh:
                break;
            default:
                spoofed = true;
        }
    }
    if (f.ttl >= 200 && f.ip_proto != icmp_proto)
        spoofed = true;  // ttl-200 (not ICMP)
    if (f.fragment || f.ip_reserved_bit)
        spoofed = true;  // later fragment / evil bit
    if (v4) {
        uint8_t last = static_cast<uint8_t>(f.src.v4);
        if (last == 0 || last == 255)
            spoofed = true;  // last-byte-src-0 / -255
        if (f.src.v4 == f.dst.v4)
            spoofed = true;  // same-src-dst
    } else if (std::memcmp(f.src.v6, f.dst.v6, 16) == 0) {
        spoofed = true;
    }
    if ((tcp || udp) && (f.src_port == 0 || f.dst_port == 0))
        spoofed = true;  // port 0
    if (spoofed)
        flags |= flag_spoofed;

    // Corsaro's "erratic": spoofed, or traffic known to come in bursts.
    bool erratic = spoofed;
    if (udp && (f.payload_marks != 0 || f.ip_len == 96))
        erratic = true;
    if ((tcp || udp) && (f.src_port == 53 || f.dst_port == 53))
        erratic = true;
    if (tcp && (f.src_port == 23 || f.dst_port == 23 || f.src_port == 80 || f.dst_port == 80 ||
                f.src_port == 5000 || f.dst_port == 5000))
        erratic = true;
    // Corsaro's backscatter sub-filter: DNS replies, ICMP replies/errors, SYN-ACK and RST.
    if (udp && f.src_port == 53)
        erratic = true;
    if (f.proto == Proto::icmp && f.l4_valid) {
        switch (f.icmp_type) {
            case 0:
            case 3:
            case 4:
            case 5:
            case 11:
            case 12:
            case 14:
            case 16:
            case 18:
                erratic = true;
                break;
            default:
                break;
        }
    }
    if (tcp && (((tf & tcp_syn) && (tf & tcp_ack)) || (tf & tcp_rst)))
        erratic = true;
    if (erratic)
        flags |= flag_erratic;

    if (v4 ? is_non_routed_v4(f.src.v4) : is_non_routed_v6(f.src.v6))
        flags |= flag_non_routed;
    return flags;
}

// ---------------------------------------------------------------------------------------------
// Classifier

Classifier::Classifier(ClassifyConfig config, const SensorTable* sensors)
    : config_(std::move(config)), sensors_(sensors) {}

namespace {

inline bool icmp_is_backscatter(uint8_t type) {
    switch (type) {
        case 0:   // echo reply
        case 3:   // destination unreachable
        case 4:   // source quench
        case 5:   // redirect
        case 11:  // time exceeded
        case 12:  // parameter problem
        case 14:  // timestamp reply
        case 16:  // information reply
        case 18:  // address mask reply
            return true;
        default:
            return false;
    }
}

inline bool icmpv6_is_backscatter(uint8_t type) {
    // 1 unreachable, 2 packet too big, 3 time exceeded, 4 parameter problem, 129 echo reply.
    return (type >= 1 && type <= 4) || type == 129;
}

}  // namespace

// Inlined into classify_burst's loop (the worker's call) and into classify: a call per packet
// cost another ~17 instructions of register saves.
[[gnu::always_inline]] inline void Classifier::classify_one(PacketFacts& f) const {
    f.sensor = kSensorUnmatched;
    if (f.ip_version != 0 && sensors_ != nullptr) [[likely]]
        f.sensor = f.ip_version == 4 ? sensors_->match4(f.dst.v4) : sensors_->match6(f.dst.v6);
    // IP-level flags hold even for a malformed packet, when its IP header decoded.
    f.flags = flags_of(f);
    if (f.error != DecodeError::none) [[unlikely]] {
        f.cls = (f.error == DecodeError::non_ip || f.error == DecodeError::unsupported_link)
                    ? TrafficClass::non_ip
                    : TrafficClass::malformed;
        return;
    }
    if (f.fragment) {
        f.cls = TrafficClass::fragment;
        return;
    }
    switch (f.proto) {
        case Proto::tcp:
            // SYN without ACK or RST: a scan; SYN-ACK or RST: backscatter; anything else: other.
            f.cls = kTcpFlags.cls[f.tcp_flags & 0x3f];
            return;
        case Proto::udp:
            f.cls = (config_.udp_service_ports.test(f.src_port) && f.dst_port >= 1024)
                        ? TrafficClass::udp_backscatter
                        : TrafficClass::udp_probe;
            return;
        case Proto::icmp:
            f.cls = icmp_is_backscatter(f.icmp_type) ? TrafficClass::icmp_backscatter
                                                     : TrafficClass::icmp_probe;
            return;
        case Proto::icmpv6:
            f.cls = icmpv6_is_backscatter(f.icmp_type) ? TrafficClass::icmp_backscatter
                                                       : TrafficClass::icmp_probe;
            return;
        default:
            f.cls = TrafficClass::other_ip;
            return;
    }
}

void Classifier::classify(PacketFacts& f) const {
    classify_one(f);
}

void Classifier::classify_burst(PacketFacts* facts, unsigned n) const {
    for (unsigned i = 0; i < n; ++i)
        classify_one(facts[i]);
}

}  // namespace darkscope
