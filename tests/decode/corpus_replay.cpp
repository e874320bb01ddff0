// decode_corpus_replay: every packet of every corpus capture through decode() and classify(),
// checking the counting invariants of docs/classify.md on each one, and each capture's packet
// count against the manifest's. Built with
// -Db_sanitize=address,undefined this is the sanitizer replay of the whole corpus.
#include <cstdio>
#include <filesystem>
#include <string>

#include "corpus.hpp"
#include "darkscope/classify.hpp"

using namespace darkscope;

int main(int argc, char** argv) {
    std::string dir = argc > 1 ? argv[1] : "../shared/corpus/pcaps";
    if (!std::filesystem::exists(dir + "/MANIFEST.tsv")) {
        std::printf("SKIP: no corpus at %s\n", dir.c_str());
        return 77;
    }
    SensorTable sensors;
    std::string err;
    sensors.add("all4", *parse_prefix("0.0.0.0/0"), &err);
    sensors.add("all6", *parse_prefix("::/0"), &err);
    sensors.finalize();
    Classifier classifier(ClassifyConfig::defaults(), &sensors);

    long failures = 0, total = 0, files = 0;
    for (const auto& row : test::read_manifest(dir)) {
        std::string file = dir + "/" + row.path;
        long bad = 0;
        long n = test::for_each_packet(
            file,
            [&](const uint8_t* data, uint32_t caplen, uint32_t wire, LinkType link) {
                // Copy into an exactly sized buffer so ASan sees any read past the data.
                std::vector<uint8_t> copy(data, data + caplen);
                PacketFacts f;
                decode(copy.data(), caplen, wire, link, f);
                classifier.classify(f);
                bool ok = f.frame_len == wire;
                if (f.error == DecodeError::none) {
                    ok = ok && f.ip_version != 0 && f.proto != Proto::none;
                    ok = ok && f.cls != TrafficClass::malformed && f.cls != TrafficClass::non_ip;
                    ok = ok && (f.fragment ? f.cls == TrafficClass::fragment && !f.l4_valid : true);
                    ok = ok && f.sensor != kSensorUnmatched;
                } else if (f.error == DecodeError::non_ip ||
                           f.error == DecodeError::unsupported_link) {
                    ok = ok && f.cls == TrafficClass::non_ip && f.ip_version == 0;
                } else {
                    ok = ok && f.cls == TrafficClass::malformed;
                    ok = ok && (f.ip_version == 0) == (f.proto == Proto::none);
                    if (f.error == DecodeError::truncated_l4 ||
                        f.error == DecodeError::bad_l4_header)
                        ok = ok && f.ip_version != 0;
                }
                if (!ok)
                    ++bad;
            },
            &err);
        if (n < 0) {
            // Every corpus capture opens (the manifest counted its packets with tcpdump): one
            // that does not is missing or damaged, and would otherwise test nothing.
            std::printf("%-70s unreadable by libpcap: %s\n", row.path.c_str(), err.c_str());
            ++failures;
            continue;
        }
        ++files;
        total += n;
        if (row.packets >= 0 && n != row.packets) {
            std::printf("%-70s %ld packets read, the manifest counts %ld\n", row.path.c_str(), n,
                        row.packets);
            ++failures;
        }
        if (bad)
            std::printf("%-70s %ld packets, %ld violate the invariants\n", row.path.c_str(), n,
                        bad);
        failures += bad;
    }
    std::printf(
        "%ld files, %ld packets, %ld failures (invariant violations, unreadable files, "
        "packet counts other than the manifest's)\n",
        files, total, failures);
    return failures == 0 ? 0 : 1;
}
