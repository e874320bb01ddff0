// The pcapng writer against libpcap's reader (an independent implementation of the format):
// packets, timestamps, lengths and link types come back as written, compressed files
// decompress to the same blocks, a failed commit leaves the file at its last complete block,
// and names and the quota follow docs/recording.md.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "darkscope/pcapng_writer.hpp"
#include "darkscope/record_files.hpp"

namespace ds = darkscope;

namespace {

struct Read {
    uint64_t ts_ns;
    uint32_t caplen, len;
    int dlt;
    std::vector<uint8_t> bytes;
};

std::vector<Read> read_back(const std::string& path) {
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* pc =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    EXPECT_NE(pc, nullptr) << errbuf;
    std::vector<Read> out;
    if (pc == nullptr)
        return out;
    pcap_pkthdr* h;
    const u_char* b;
    while (pcap_next_ex(pc, &h, &b) == 1)
        out.push_back({uint64_t(h->ts.tv_sec) * 1'000'000'000ull + uint64_t(h->ts.tv_usec),
                       h->caplen, h->len, pcap_datalink(pc),
                       std::vector<uint8_t>(b, b + h->caplen)});
    pcap_close(pc);
    return out;
}

std::string temp_dir() {
    char tmpl[] = "/tmp/record-test-XXXXXX";
    return mkdtemp(tmpl);
}

std::vector<uint8_t> frame(unsigned n, uint8_t seed) {
    std::vector<uint8_t> f(n);
    for (unsigned i = 0; i < n; ++i)
        f[i] = static_cast<uint8_t>(seed + i * 7);
    return f;
}

}  // namespace

TEST(PcapngWriter, PacketsComeBackThroughLibpcap) {
    const std::string dir = temp_dir();
    const std::string path = dir + "/a.pcapng";
    ds::PcapngWriter w(path, ds::RecordCompression::none, true);
    int error = 0;
    ASSERT_TRUE(w.open(&error));
    const auto f1 = frame(60, 1), f2 = frame(1514, 2), f3 = frame(61, 3);
    w.add(ds::LinkType::ethernet, 1363046400'123456789ull, 60, f1.data(), 60);
    w.add(ds::LinkType::ethernet, 1363046401'000000001ull, 1514, f2.data(), 64);  // snapped
    w.commit();
    w.add(ds::LinkType::ethernet, 1363046402'5ull, 61, f3.data(), 61);  // odd length: padded
    EXPECT_TRUE(std::filesystem::exists(path + ".part"));
    EXPECT_FALSE(std::filesystem::exists(path));
    ASSERT_TRUE(w.close().ok);
    EXPECT_FALSE(std::filesystem::exists(path + ".part"));
    const auto got = read_back(path);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].ts_ns, 1363046400'123456789ull);
    EXPECT_EQ(got[0].bytes, f1);
    EXPECT_EQ(got[1].ts_ns, 1363046401'000000001ull);
    EXPECT_EQ(got[1].caplen, 64u);
    EXPECT_EQ(got[1].len, 1514u);
    EXPECT_EQ(got[1].bytes, std::vector<uint8_t>(f2.begin(), f2.begin() + 64));
    EXPECT_EQ(got[2].bytes, f3);
    EXPECT_EQ(got[0].dlt, DLT_EN10MB);
    std::filesystem::remove_all(dir);
}

TEST(PcapngWriter, MicrosecondResolution) {
    const std::string dir = temp_dir();
    ds::PcapngWriter w(dir + "/u.pcapng", ds::RecordCompression::none, false);
    int error = 0;
    ASSERT_TRUE(w.open(&error));
    const auto f = frame(60, 9);
    w.add(ds::LinkType::raw_ip, 1363046400'123456789ull, 60, f.data(), 60);
    ASSERT_TRUE(w.close().ok);
    const auto got = read_back(dir + "/u.pcapng");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ts_ns, 1363046400'123456000ull);
    EXPECT_EQ(got[0].dlt, DLT_RAW);
    std::filesystem::remove_all(dir);
}

TEST(PcapngWriter, GzipMembersDecompressToAReadableCapture) {
    const std::string dir = temp_dir();
    const std::string path = dir + "/g.pcapng.gz";
    ds::PcapngWriter w(path, ds::RecordCompression::gzip, true);
    int error = 0;
    ASSERT_TRUE(w.open(&error));
    std::vector<std::vector<uint8_t>> frames;
    for (unsigned i = 0; i < 100; ++i) {
        frames.push_back(frame(60 + i, static_cast<uint8_t>(i)));
        w.add(ds::LinkType::ethernet, 1'000'000'000ull * (1000 + i), 60 + i, frames.back().data(),
              60 + i);
        if (i % 30 == 29) {
            ASSERT_TRUE(w.commit().ok);  // several gzip members in one file
        }
    }
    ASSERT_TRUE(w.close().ok);
    // zlib's gzread reads concatenated members, as gzip -d does.
    gzFile gz = gzopen(path.c_str(), "rb");
    ASSERT_NE(gz, nullptr);
    std::ofstream plain(dir + "/g.pcapng", std::ios::binary);
    char buf[4096];
    int n;
    while ((n = gzread(gz, buf, sizeof buf)) > 0)
        plain.write(buf, n);
    gzclose(gz);
    plain.close();
    const auto got = read_back(dir + "/g.pcapng");
    ASSERT_EQ(got.size(), 100u);
    for (unsigned i = 0; i < 100; ++i)
        EXPECT_EQ(got[i].bytes, frames[i]);
    std::filesystem::remove_all(dir);
}

TEST(PcapngWriter, SeveralLinkTypesGetTheirOwnInterfaces) {
    const std::string dir = temp_dir();
    ds::PcapngWriter w(dir + "/l.pcapng", ds::RecordCompression::none, true);
    int error = 0;
    ASSERT_TRUE(w.open(&error));
    const auto f = frame(60, 4);
    w.add(ds::LinkType::ethernet, 1'000'000'000ull, 60, f.data(), 60);
    w.add(ds::LinkType::raw_ip, 2'000'000'000ull, 60, f.data(), 60);
    ASSERT_TRUE(w.close().ok);
    // libpcap reads a section whose interfaces have different link types only up to the first
    // packet of another type; it must at least read the first without error.
    const auto got = read_back(dir + "/l.pcapng");
    ASSERT_GE(got.size(), 1u);
    EXPECT_EQ(got[0].dlt, DLT_EN10MB);
    std::filesystem::remove_all(dir);
}

TEST(RecordFiles, NamesAndRotation) {
    EXPECT_EQ(ds::record_file_name("lab1", 1363046400, ds::RecordCompression::zstd),
              "lab1-20130312T000000Z.pcapng.zst");
    EXPECT_EQ(ds::record_file_name("lab1", 1363046400, ds::RecordCompression::none, 2),
              "lab1-20130312T000000Z-2.pcapng");
    EXPECT_EQ(ds::rotation_start(1363046459, 60), 1363046400);
    EXPECT_EQ(ds::rotation_start(1363046460, 60), 1363046460);
    EXPECT_TRUE(ds::is_record_file("lab1", "lab1-20130312T000000Z.pcapng.part"));
    EXPECT_FALSE(ds::is_record_file("lab1", "lab10-20130312T000000Z.pcapng"));
}

TEST(RecordFiles, QuotaDeletesTheOldestFirst) {
    const std::string dir = temp_dir();
    for (const char* name : {"a-20130312T000200Z.pcapng", "a-20130312T000000Z.pcapng",
                             "a-20130312T000100Z.pcapng", "other.pcapng"}) {
        std::ofstream(dir + "/" + name) << std::string(1000, 'x');
    }
    ds::RecordQuota quota(dir, "a", 2500);
    quota.scan();
    EXPECT_EQ(quota.used_bytes(), 3000u);
    std::vector<std::string> deleted;
    EXPECT_TRUE(
        quota.make_room(400, [&](const std::string& n, uint64_t) { deleted.push_back(n); }));
    ASSERT_EQ(deleted, std::vector<std::string>{"a-20130312T000000Z.pcapng"});
    EXPECT_FALSE(std::filesystem::exists(dir + "/a-20130312T000000Z.pcapng"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/other.pcapng"));
    EXPECT_FALSE(
        quota.make_room(5000, [&](const std::string& n, uint64_t) { deleted.push_back(n); }));
    EXPECT_EQ(deleted.size(), 3u);
    std::filesystem::remove_all(dir);
}
