// flood_pcap: writes a spoofed-source flood as a pcap, fast (millions of packets a second), for
// the bounded-memory test: every packet has a new random IPv4 source, a random destination
// port and a random dark destination; one in ten is a SYN-ACK (backscatter from a random
// "victim"), so every bounded table is pushed past its capacity.
//
//   flood_pcap OUT.pcap PACKETS [SEED] [DURATION_S]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "darkscope/hash.hpp"

namespace {

struct Rng {
    uint64_t s;
    uint64_t next() { return darkscope::mix64(s += 0x9e3779b97f4a7c15ULL); }  // splitmix64
};

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
    put16(p, static_cast<uint16_t>(v >> 16));
    put16(p + 2, static_cast<uint16_t>(v));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: flood_pcap OUT.pcap PACKETS [SEED] [DURATION_S]\n");
        return 2;
    }
    const uint64_t packets = std::strtoull(argv[2], nullptr, 10);
    Rng rng{argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1};
    const uint64_t duration_us = (argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 600) * 1000000;
    FILE* out = std::fopen(argv[1], "wb");
    if (out == nullptr) {
        std::perror(argv[1]);
        return 1;
    }
    std::vector<char> buffer(1 << 20);
    std::setvbuf(out, buffer.data(), _IOFBF, buffer.size());
    const uint32_t header[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};  // pcap, Ethernet
    std::fwrite(header, sizeof header, 1, out);
    const uint32_t start = 1363046400;
    uint8_t frame[60];
    for (uint64_t i = 0; i < packets; ++i) {
        std::memset(frame, 0, sizeof frame);
        uint64_t r = rng.next();
        const bool synack = (r & 0xf) < 2;  // about one in eight
        frame[0] = 0x02;
        frame[6] = 0x02;
        put16(frame + 12, 0x0800);
        uint8_t* ip = frame + 14;
        ip[0] = 0x45;
        put16(ip + 2, 40);
        ip[8] = 64;
        ip[9] = 6;
        uint32_t src = static_cast<uint32_t>(r >> 32);
        if ((src >> 24) == 0 || (src >> 24) >= 224)
            src ^= 0x40000000;
        put32(ip + 12, src);
        put32(ip + 16, 0xcb007100u | static_cast<uint32_t>((r >> 8) & 0xff));  // 203.0.113.x
        uint8_t* tcp = ip + 20;
        uint64_t r2 = rng.next();
        put16(tcp, synack ? 80 : static_cast<uint16_t>(r2 >> 48));
        put16(tcp + 2, static_cast<uint16_t>(r2 >> 32));
        put32(tcp + 4, static_cast<uint32_t>(r2));
        tcp[12] = 0x50;
        tcp[13] = synack ? 0x12 : 0x02;
        put16(tcp + 14, 65535);
        const uint64_t t = duration_us * i / (packets ? packets : 1);
        const uint32_t record[4] = {start + static_cast<uint32_t>(t / 1000000),
                                    static_cast<uint32_t>(t % 1000000), 60, 60};
        std::fwrite(record, sizeof record, 1, out);
        std::fwrite(frame, sizeof frame, 1, out);
    }
    if (std::fclose(out) != 0) {
        std::perror(argv[1]);
        return 1;
    }
    return 0;
}
