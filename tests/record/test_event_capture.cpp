// Event captures: a key matches exactly the packets that count under it (probe classes for
// services, backscatter for a DoS victim, the quoted victim of an ICMP error, the source for a
// scanner), and the writer's pre-trigger keeps each worker's chunks of the last
// --record-pretrigger seconds, bounded by --record-pretrigger-mb: an event's file holds the
// key's packets from detection - pre-trigger to end + tail, read back by libpcap.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/event_capture_key.hpp"
#include "darkscope/record_files.hpp"
#include "darkscope/recorder.hpp"

namespace ds = darkscope;
using Kind = ds::EventCaptureKey::Kind;

namespace {

constexpr uint64_t kBase = 1'700'000'000;

// A header as the worker writes it for an IPv4 packet (record_tap.cpp).
struct Header {
    ds::RecordedPacket p{};
    ds::IpAddress quoted{};
};

Header packet(uint32_t src, int32_t service, uint16_t sensor, uint16_t country, uint8_t marks) {
    Header h;
    h.p.marks = static_cast<uint8_t>(marks | ds::kMarkIp);
    h.p.service = service;
    h.p.sensor = sensor;
    h.p.country = country;
    h.p.source.v4 = src;
    return h;
}

int32_t tcp(uint16_t port) {
    return static_cast<int32_t>(ds::service_slot(ds::ServiceFamily::tcp, port));
}

ds::EventCaptureKey key(Kind kind) {
    ds::EventCaptureKey k;
    k.kind = kind;
    k.service = tcp(23);
    k.sensor = 1;
    k.country = ds::country_index("JP");
    return k;
}

}  // namespace

TEST(EventCaptureKey, SurgeKeysMatchTheirCountersPackets) {
    const uint16_t jp = ds::country_index("JP");
    const Header probe = packet(1, tcp(23), 1, jp, ds::kMarkProbe);
    const Header backscatter = packet(1, tcp(23), 1, jp, ds::kMarkBackscatter);
    const Header other_port = packet(1, tcp(2323), 1, jp, ds::kMarkProbe);
    const Header other_sensor = packet(1, tcp(23), 2, jp, ds::kMarkProbe);
    const Header other_country = packet(1, tcp(23), 1, ds::country_index("CN"), ds::kMarkProbe);
    Header not_ip = probe;
    not_ip.p.marks = ds::kMarkProbe;

    EXPECT_TRUE(key(Kind::service).matches(probe.p));
    EXPECT_FALSE(key(Kind::service).matches(backscatter.p));  // services count probes only
    EXPECT_FALSE(key(Kind::service).matches(other_port.p));
    EXPECT_FALSE(key(Kind::service).matches(not_ip.p));
    EXPECT_TRUE(key(Kind::sensor).matches(backscatter.p));  // a sensor counts every IP packet
    EXPECT_FALSE(key(Kind::sensor).matches(other_sensor.p));
    EXPECT_TRUE(key(Kind::country).matches(backscatter.p));
    EXPECT_FALSE(key(Kind::country).matches(other_country.p));
    EXPECT_TRUE(key(Kind::sensor_service).matches(probe.p));
    EXPECT_FALSE(key(Kind::sensor_service).matches(other_sensor.p));
    EXPECT_FALSE(key(Kind::sensor_service).matches(backscatter.p));
    EXPECT_TRUE(key(Kind::country_service).matches(probe.p));
    EXPECT_FALSE(key(Kind::country_service).matches(other_country.p));
    EXPECT_TRUE(key(Kind::sensor_country).matches(backscatter.p));
    EXPECT_FALSE(key(Kind::sensor_country).matches(other_country.p));

    // ICMP is one service per family, whatever the type and code.
    ds::EventCaptureKey icmp;
    icmp.kind = Kind::service;
    icmp.service = static_cast<int32_t>(ds::service_slot(ds::ServiceFamily::icmp, 0));
    icmp.service_family_only = true;
    EXPECT_TRUE(icmp.matches(
        packet(1, static_cast<int32_t>(ds::service_slot(ds::ServiceFamily::icmp, 0x0800)), 1, jp,
               ds::kMarkProbe)
            .p));
    EXPECT_FALSE(icmp.matches(probe.p));
}

TEST(EventCaptureKey, VictimsAndSources) {
    ds::EventCaptureKey victim;
    victim.kind = Kind::victim;
    victim.address.v4 = 0x0a000001;
    victim.family = 4;
    ds::EventCaptureKey source = victim;
    source.kind = Kind::source;

    const Header synack = packet(0x0a000001, tcp(80), 1, 0, ds::kMarkBackscatter);
    const Header scan = packet(0x0a000001, tcp(80), 1, 0, ds::kMarkProbe);
    EXPECT_TRUE(victim.matches(synack.p));
    EXPECT_FALSE(victim.matches(scan.p));  // the victim's own probes are not its backscatter
    EXPECT_TRUE(source.matches(scan.p));
    EXPECT_TRUE(source.matches(synack.p));

    // An ICMP error from a router quoting the attack: the victim is the quoted destination.
    Header quoted = packet(0x0b000001, -1, 1, 0, ds::kMarkBackscatter | ds::kMarkQuotedVictim);
    quoted.quoted.v4 = 0x0a000001;
    EXPECT_TRUE(victim.matches(quoted.p));
    EXPECT_FALSE(source.matches(quoted.p));

    // Families never mix: ::a00:1 is not 10.0.0.1.
    Header v6 = packet(0, tcp(80), 1, 0, ds::kMarkBackscatter | ds::kMarkIpv6);
    v6.p.source.v6[12] = 0x0a;
    v6.p.source.v6[15] = 0x01;
    EXPECT_FALSE(victim.matches(v6.p));
}

namespace {

void ensure_eal() {
    static const bool started = [] {
        const std::string prefix = "--file-prefix=ds_rec_" + std::to_string(getpid());
        std::vector<std::string> args = {"record_test",
                                         "--no-huge",
                                         "-m",
                                         "256",
                                         "--no-pci",
                                         prefix,
                                         "-l",
                                         "0",
                                         "--log-level=lib.eal:error",
                                         "--no-telemetry"};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        return rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0;
    }();
    ASSERT_TRUE(started);
}

std::string temp_dir() {
    char tmpl[] = "/tmp/record-events-test-XXXXXX";
    return mkdtemp(tmpl);
}

// One chunk as a worker fills it: a packet a second from `first_s` for `seconds`, alternately
// from source 1 (even seconds) and source 2 (odd seconds), 60-byte frames whose first byte is the
// second.
void hand_over_seconds(ds::RecordTap& tap, uint64_t first_s, unsigned seconds) {
    void* next = nullptr;
    while (rte_ring_sc_dequeue(tap.empty, &next) != 0)
        rte_pause();
    auto* chunk = static_cast<ds::RecordChunk*>(next);
    chunk->used = 0;
    chunk->packets = 0;
    for (unsigned i = 0; i < seconds; ++i) {
        const uint64_t t = first_s + i;
        auto* rec = reinterpret_cast<ds::RecordedPacket*>(chunk->data + chunk->used);
        std::memset(rec, 0, sizeof *rec);
        rec->ts_ns = (kBase + t) * 1'000'000'000ull + 5;
        rec->wire_len = 60;
        rec->cap_len = 60;
        rec->marks = ds::kMarkIp | ds::kMarkProbe;  // not selected: event captures only
        rec->service = tcp(23);
        rec->source.v4 = t % 2 == 0 ? 1 : 2;
        auto* data = const_cast<uint8_t*>(rec->data());
        std::memset(data, 0, 64);
        data[0] = static_cast<uint8_t>(t);
        chunk->used += rec->stride();
        ++chunk->packets;
    }
    rte_ring_sp_enqueue(tap.filled, chunk);
}

// Seconds (since kBase) of the packets in an event capture, in file order.
std::vector<uint64_t> seconds_in(const std::string& path) {
    std::vector<uint64_t> out;
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* pc =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    EXPECT_NE(pc, nullptr) << path << ": " << errbuf;
    if (pc == nullptr)
        return out;
    pcap_pkthdr* h;
    const u_char* b;
    while (pcap_next_ex(pc, &h, &b) == 1) {
        EXPECT_EQ(h->ts.tv_usec, 5);  // nanoseconds
        EXPECT_EQ(b[0], static_cast<uint8_t>(h->ts.tv_sec - kBase));
        out.push_back(static_cast<uint64_t>(h->ts.tv_sec) - kBase);
    }
    pcap_close(pc);
    return out;
}

ds::RecordOptions options(const std::string& dir, unsigned pretrigger_s, unsigned pretrigger_mb) {
    ds::RecordOptions o;
    o.dir = dir;
    o.appliance = "lab";
    o.offline = true;
    o.chunks_per_worker = 4;
    o.events = true;
    o.pretrigger_s = pretrigger_s;
    o.pretrigger_mb = pretrigger_mb;
    o.event_tail_s = 5;
    return o;
}

ds::EventCaptureKey scanner(uint32_t address) {
    ds::EventCaptureKey k;
    k.kind = Kind::source;
    k.address.v4 = address;
    return k;
}

}  // namespace

TEST(EventCapture, HoldsTheKeyFromDetectionMinusPretriggerToEndPlusTail) {
    ensure_eal();
    const std::string dir = temp_dir();
    std::string path;
    {
        ds::Recorder recorder(options(dir, 10, 4), {}, 1);  // 10 s, 16 chunks
        ds::RecordTap& tap = *recorder.tap(0);
        for (uint64_t s = 0; s < 60; s += 10)
            hand_over_seconds(tap, s, 10);
        recorder.interval_closed(kBase + 60);
        path = recorder.event_started("scanner:0.0.0.1:0", scanner(1), kBase + 60);
        EXPECT_EQ(path, dir + "/events/scanner:0.0.0.1:0.pcapng");
        EXPECT_EQ(recorder.event_capture_path("scanner:0.0.0.1:0"), path);
        for (uint64_t s = 60; s < 100; s += 10) {
            hand_over_seconds(tap, s, 10);
            if (s == 70) {
                recorder.interval_closed(kBase + 80);
                recorder.event_ended("scanner:0.0.0.1:0", kBase + 80);  // until 85
            }
        }
        recorder.interval_closed(kBase + 100);
        recorder.finish();
        const ds::RecordStatus s = recorder.status();
        EXPECT_EQ(s.event_captures_written, 1u);
        EXPECT_EQ(s.packets_recorded, 0u);  // none selected for the continuous files
        EXPECT_EQ(s.pretrigger_cut_chunks, 0u);
    }
    // Source 1 sends at the even seconds: those of [60 - 10, 80 + 5).
    std::vector<uint64_t> want;
    for (uint64_t t = 50; t < 85; t += 2)
        want.push_back(t);
    EXPECT_EQ(seconds_in(path), want);
    EXPECT_FALSE(std::filesystem::exists(path + ".part"));
    std::filesystem::remove_all(dir);
}

TEST(EventCapture, PretriggerMegabytesBoundCutsTheOldestChunks) {
    ensure_eal();
    const std::string dir = temp_dir();
    std::string path;
    {
        ds::Recorder recorder(options(dir, 1000, 1), {}, 1);  // 1000 s but 4 chunks
        ds::RecordTap& tap = *recorder.tap(0);
        for (uint64_t s = 0; s < 100; s += 10)
            hand_over_seconds(tap, s, 10);
        recorder.interval_closed(kBase + 100);
        path = recorder.event_started("scanner:0.0.0.2:0", scanner(2), kBase + 100);
        recorder.finish();
        const ds::RecordStatus s = recorder.status();
        EXPECT_EQ(s.pretrigger_cut_chunks, 6u);
        EXPECT_EQ(s.event_packets_recorded, 20u);
    }
    // Source 2's (odd seconds) of the last 4 chunks only.
    std::vector<uint64_t> want;
    for (uint64_t t = 61; t < 100; t += 2)
        want.push_back(t);
    EXPECT_EQ(seconds_in(path), want);
    std::filesystem::remove_all(dir);
}

TEST(EventCapture, OffRecordsNoEventAndReturnsChunksAtOnce) {
    ensure_eal();
    const std::string dir = temp_dir();
    {
        ds::RecordOptions o = options(dir, 10, 4);
        o.events = false;
        ds::Recorder recorder(o, {}, 1);
        // 4 chunks in all: 10 handed over only if the writer hands each back.
        for (uint64_t s = 0; s < 100; s += 10)
            hand_over_seconds(*recorder.tap(0), s, 10);
        EXPECT_EQ(recorder.event_started("scanner:0.0.0.1:0", scanner(1), kBase + 60), "");
        recorder.finish();
    }
    EXPECT_FALSE(std::filesystem::exists(dir + "/events"));
    std::filesystem::remove_all(dir);
}

TEST(EventCaptureFiles, NamesKeepTheIdReadable) {
    EXPECT_EQ(ds::event_capture_file_name("surge:service:21318/tcp:1363055040",
                                          ds::RecordCompression::none),
              "surge:service:21318_tcp:1363055040.pcapng");
    EXPECT_EQ(ds::event_capture_file_name("surge:sensor_service:tokyo-b|23/tcp:1",
                                          ds::RecordCompression::zstd, 2),
              "surge:sensor_service:tokyo-b_23_tcp:1-2.pcapng.zst");
    EXPECT_EQ(
        ds::event_capture_file_name("scanner:2001:db8::1:1700000000", ds::RecordCompression::gzip),
        "scanner:2001:db8::1:1700000000.pcapng.gz");
    EXPECT_EQ(ds::event_capture_file_name("../x", ds::RecordCompression::none), "_.._x.pcapng");
    EXPECT_EQ(ds::record_file_time("lab", "events/dos:192.0.2.1:1363050741.pcapng"), 1363050741);
    EXPECT_EQ(ds::record_file_time("lab", "events/dos:192.0.2.1:1363050741-3.pcapng.part"),
              1363050741);
    EXPECT_EQ(ds::record_file_time("lab", "lab-20130312T000100Z.pcapng"), 1363046460);
    EXPECT_EQ(ds::record_file_time("lab", "other.pcapng"), INT64_MIN);
}

TEST(EventCaptureFiles, QuotaDeletesTheOldestOfBothKindsFirst) {
    const std::string dir = temp_dir();
    std::filesystem::create_directories(dir + "/events");
    // By time: the scanner capture (00:00:30), the period file (00:01:00), the surge (00:02:00).
    for (const char* name :
         {"lab-20130312T000100Z.pcapng", "events/scanner:1.2.3.4:1363046430.pcapng",
          "events/surge:sensor:tokyo:1363046520.pcapng"})
        std::ofstream(dir + "/" + name) << std::string(1000, 'x');
    ds::RecordQuota quota(dir, "lab", 2500);
    quota.scan();
    EXPECT_EQ(quota.used_bytes(), 3000u);
    std::vector<std::string> deleted;
    auto note = [&](const std::string& n, uint64_t) { deleted.push_back(n); };
    EXPECT_TRUE(quota.make_room(400, note));
    EXPECT_TRUE(quota.make_room(1400, note));
    EXPECT_EQ(deleted, (std::vector<std::string>{"events/scanner:1.2.3.4:1363046430.pcapng",
                                                 "lab-20130312T000100Z.pcapng"}));
    EXPECT_FALSE(std::filesystem::exists(dir + "/events/scanner:1.2.3.4:1363046430.pcapng"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/events/surge:sensor:tokyo:1363046520.pcapng"));
    std::filesystem::remove_all(dir);
}
