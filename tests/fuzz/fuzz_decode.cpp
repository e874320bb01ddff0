// libFuzzer target: decode() and classify() on arbitrary bytes. The first input byte picks the
// link type (so every link path is fuzzed); the next two give how much longer than the held
// bytes the frame claims to have been on the wire. The rest is the frame, copied into an
// exactly sized heap buffer so AddressSanitizer catches any read past it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "darkscope/classify.hpp"
#include "darkscope/decode.hpp"

using namespace darkscope;

namespace {

const Classifier& classifier() {
    static SensorTable* sensors = [] {
        auto* t = new SensorTable;
        std::string err;
        t->add("a", *parse_prefix("10.0.0.0/8"), &err);
        t->add("b", *parse_prefix("10.1.2.0/24"), &err);
        t->add("c", *parse_prefix("2001:db8::/32"), &err);
        t->finalize();
        return t;
    }();
    static Classifier c(ClassifyConfig::defaults(), sensors);
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3)
        return 0;
    static constexpr LinkType links[] = {
        LinkType::ethernet,  LinkType::raw_ip,     LinkType::ipv4,          LinkType::ipv6,
        LinkType::linux_sll, LinkType::linux_sll2, LinkType::null_loopback, kUnsupportedLink};
    LinkType link = links[data[0] % 8];
    uint32_t extra = (uint32_t{data[1]} << 8) | data[2];
    size_t n = size - 3;
    std::unique_ptr<uint8_t[]> frame(new uint8_t[n ? n : 1]);
    if (n)
        std::memcpy(frame.get(), data + 3, n);
    PacketFacts f;
    decode(frame.get(), static_cast<uint32_t>(n), static_cast<uint32_t>(n) + extra, link, f);
    classifier().classify(f);
    // The counting contract must hold for every input.
    if (f.error == DecodeError::none && f.ip_version == 0)
        __builtin_trap();
    if (f.error != DecodeError::none && f.cls != TrafficClass::malformed &&
        f.cls != TrafficClass::non_ip)
        __builtin_trap();
    if (f.ip_version == 0 && f.proto != Proto::none)
        __builtin_trap();
    if (f.fragment && f.l4_valid)
        __builtin_trap();
    return 0;
}
