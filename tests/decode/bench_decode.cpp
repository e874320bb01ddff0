// decode + classify per packet on a burst mix shaped like darknet traffic: mostly 60-78 byte
// TCP SYNs (scanners), SYN-ACK/RST backscatter, UDP probes and reflection, ICMP, a VLAN tag on
// some, a few IPv6 and fragments. Reports ns per packet (items_per_second inverted).
#include <benchmark/benchmark.h>

#include <array>
#include <random>
#include <string>

#include "darkscope/classify.hpp"
#include "darkscope/decode.hpp"
#include "packet_builder.hpp"

using namespace darkscope;
using namespace darkscope::test;

namespace {

std::vector<Frame> make_mix(size_t n) {
    std::mt19937 rng(42);
    std::vector<Frame> frames;
    const uint8_t src6[16] = {0x24, 0x00, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    for (size_t i = 0; i < n; ++i) {
        uint32_t src = rng() | 0x01000000u;
        uint32_t dst = ip4(192, 0, 2, 0) | (rng() & 0xff);
        if (i % 3 == 0)
            dst = ip4(198, 18, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()));
        uint16_t dport = static_cast<uint16_t>(rng());
        unsigned r = rng() % 100;
        Frame f;
        if (r < 45) {  // scanner SYN, some with an MSS option
            if (r < 25)
                f = eth_ipv4_tcp(src, dst, 61000, dport, tcp_syn, rng(), 1024, 250, 54321);
            else
                f = eth_ipv4_tcp(src, dst, 40000, dport, tcp_syn, rng(), 1024, 52, 7,
                                 {2, 4, 5, 0xb4});
        } else if (r < 65) {  // backscatter
            f = eth_ipv4_tcp(src, dst, 80, dport, r < 58 ? tcp_syn | tcp_ack : tcp_rst, rng(), 0,
                             50);
        } else if (r < 80) {
            f = eth_ipv4_udp(src, dst, r < 72 ? 53 : 40000, dport, 20);
        } else if (r < 88) {
            f = eth_ipv4_icmp(src, dst, r < 84 ? 8 : 3);
        } else if (r < 94) {  // VLAN-tagged SYN
            f.eth(0x8100).tag(943, 0x0800);
            size_t ip = f.ipv4(6, src, dst, 64, 1);
            f.tcp(1234, dport, 1, 0, tcp_syn, 1024);
            f.finish_ipv4(ip);
        } else if (r < 98) {
            dst6[15] = static_cast<uint8_t>(rng());
            f.eth(0x86dd);
            size_t ip = f.ipv6(6, src6, dst6);
            f.tcp(1234, dport, 1, 0, tcp_syn, 1024);
            f.finish_ipv6(ip);
        } else {
            f.eth(0x0800);
            size_t ip = f.ipv4(17, src, dst, 64, 3, 185);
            f.zeros(30);
            f.finish_ipv4(ip);
        }
        while (f.size() < 60)
            f.u8(0);  // Ethernet minimum frame (FCS excluded)
        frames.push_back(std::move(f));
    }
    return frames;
}

void BM_DecodeClassify(benchmark::State& state) {
    std::vector<Frame> frames = make_mix(4096);
    SensorTable sensors;
    std::string err;
    sensors.add("telescope-a", *parse_prefix("192.0.2.0/24"), &err);
    sensors.add("telescope-b", *parse_prefix("198.18.0.0/15"), &err);
    sensors.add("telescope-b", *parse_prefix("198.18.128.0/25"), &err);
    sensors.add("telescope-6", *parse_prefix("2001:db9::/32"), &err);
    sensors.finalize();
    Classifier classifier(ClassifyConfig::defaults(), &sensors);
    PacketFacts burst[32];
    size_t next = 0;
    for (auto _ : state) {
        for (unsigned i = 0; i < 32; ++i) {
            const Frame& fr = frames[(next + i) & 4095];
            decode(fr.bytes.data(), static_cast<uint32_t>(fr.size()),
                   static_cast<uint32_t>(fr.size()), LinkType::ethernet, burst[i]);
        }
        classifier.classify_burst(burst, 32);
        benchmark::DoNotOptimize(burst);
        next += 32;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 32);
}
BENCHMARK(BM_DecodeClassify);

void BM_SensorMatch4(benchmark::State& state) {
    SensorTable sensors;
    std::string err;
    std::mt19937 rng(7);
    for (int i = 0; i < state.range(0); ++i) {
        IpPrefix p;
        p.family = 4;
        p.length = static_cast<uint8_t>(8 + rng() % 25);
        p.addr.v4 = rng() & (p.length == 0 ? 0 : ~0u << (32 - p.length));
        sensors.add("s" + std::to_string(i % 16), p, &err);
    }
    sensors.finalize();
    std::vector<uint32_t> addrs(4096);
    for (auto& a : addrs)
        a = rng();
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(sensors.match4(addrs[i++ & 4095]));
    }
}
BENCHMARK(BM_SensorMatch4)->Arg(4)->Arg(4000);

void BM_SensorMatch6(benchmark::State& state) {
    SensorTable sensors;
    std::string err;
    std::mt19937 rng(9);
    for (int i = 0; i < state.range(0); ++i) {
        IpPrefix p;
        p.family = 6;
        p.length = static_cast<uint8_t>(32 + 16 * (rng() % 3));
        for (auto& b : p.addr.v6)
            b = static_cast<uint8_t>(rng());
        p.addr.v6[0] = 0x20;
        for (unsigned b = p.length / 8; b < 16; ++b)
            p.addr.v6[b] = 0;
        sensors.add("s" + std::to_string(i % 16), p, &err);
    }
    sensors.finalize();
    std::vector<std::array<uint8_t, 16>> addrs(1024);
    for (auto& a : addrs)
        for (auto& b : a)
            b = static_cast<uint8_t>(rng());
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(sensors.match6(addrs[i++ & 1023].data()));
    }
}
BENCHMARK(BM_SensorMatch6)->Arg(4)->Arg(4000);

}  // namespace

BENCHMARK_MAIN();
