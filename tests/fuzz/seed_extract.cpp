// fuzz_seed_extract CORPUS_PCAPS_DIR OUT_DIR [MAX_PER_FILE]: one seed file per corpus packet
// (at most MAX_PER_FILE, default 50, from each capture, so big captures do not drown the small
// odd ones) in the input format of fuzz_decode (link-type byte, 2 bytes of wire-minus-held
// length, frame bytes).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "corpus.hpp"

using namespace darkscope;

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s CORPUS_PCAPS_DIR OUT_DIR [MAX_PER_FILE]\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1], out = argv[2];
    long max_per_file = argc == 4 ? std::stol(argv[3]) : 50;
    if (!std::filesystem::exists(dir + "/MANIFEST.tsv")) {
        std::printf("SKIP: no corpus at %s\n", dir.c_str());
        return 77;
    }
    std::filesystem::create_directories(out);
    static constexpr LinkType order[] = {
        LinkType::ethernet,  LinkType::raw_ip,     LinkType::ipv4,          LinkType::ipv6,
        LinkType::linux_sll, LinkType::linux_sll2, LinkType::null_loopback, kUnsupportedLink};
    long seeds = 0;
    for (const auto& row : test::read_manifest(dir)) {
        long taken = 0;
        test::for_each_packet(dir + "/" + row.path, [&](const uint8_t* d, uint32_t cap,
                                                        uint32_t wire, LinkType link) {
            if (taken++ >= max_per_file)
                return;
            uint8_t sel = 7;
            for (uint8_t i = 0; i < 8; ++i)
                if (order[i] == link)
                    sel = i;
            uint32_t extra = wire > cap ? wire - cap : 0;
            if (extra > 0xffff)
                extra = 0xffff;
            std::ofstream f(out + "/seed-" + std::to_string(seeds++), std::ios::binary);
            char hdr[3] = {static_cast<char>(sel), static_cast<char>(extra >> 8),
                           static_cast<char>(extra)};
            f.write(hdr, 3);
            f.write(reinterpret_cast<const char*>(d), cap);
        });
    }
    std::printf("%ld seeds in %s\n", seeds, out.c_str());
    return 0;
}
