// link_type_from_dlt(), the one map from a capture's link type to the decoder's LinkType: the
// DLT_ numbers of libpcap's own headers, and capture files written byte by byte with each
// LINKTYPE_ in their header, read back through libpcap (pcap_datalink()) as darkscope's offline
// path reads them, then decoded. A link type the decoder does not read maps to
// kUnsupportedLink, whose frames decode() counts as unsupported_link.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "darkscope/decode.hpp"
#include "packet_builder.hpp"

using namespace darkscope;
using namespace darkscope::test;

namespace {

struct DltCase {
    int dlt;
    LinkType link;
    const char* name;
};

// libpcap's DLT_ values (pcap/dlt.h for this platform) and the link type each is read as.
const DltCase kPcapDlts[] = {
    {DLT_EN10MB, LinkType::ethernet, "DLT_EN10MB"},
    {DLT_RAW, LinkType::raw_ip, "DLT_RAW"},
#ifdef DLT_RAW_ALT
    {DLT_RAW_ALT, LinkType::raw_ip, "DLT_RAW_ALT"},
#endif
    {DLT_IPV4, LinkType::ipv4, "DLT_IPV4"},
    {DLT_IPV6, LinkType::ipv6, "DLT_IPV6"},
    {DLT_LINUX_SLL, LinkType::linux_sll, "DLT_LINUX_SLL"},
    {DLT_LINUX_SLL2, LinkType::linux_sll2, "DLT_LINUX_SLL2"},
    {DLT_NULL, LinkType::null_loopback, "DLT_NULL"},
    {DLT_LOOP, LinkType::null_loopback, "DLT_LOOP"},
};

TEST(LinkType, EveryPcapDltTheDecoderReads) {
    for (const DltCase& c : kPcapDlts) {
        LinkType link = kUnsupportedLink;
        EXPECT_TRUE(link_type_from_dlt(c.dlt, &link)) << c.name;
        EXPECT_EQ(link, c.link) << c.name;
    }
    // The numbers libpcap uses on other platforms for raw IP (OpenBSD's DLT_RAW, 14) and the
    // file format's LINKTYPE_RAW (101), which a DLT_ value may equal where nothing remaps it.
    for (int raw : {14, 101}) {
        LinkType link = kUnsupportedLink;
        EXPECT_TRUE(link_type_from_dlt(raw, &link)) << raw;
        EXPECT_EQ(link, LinkType::raw_ip) << raw;
    }
}

TEST(LinkType, OtherDltsAreUnsupported) {
    for (int dlt : {DLT_IEEE802_11, DLT_IEEE802_11_RADIO, DLT_PPP, DLT_USER0, DLT_NFLOG,
                    DLT_USB_LINUX, -1, 100000}) {
        LinkType link = LinkType::ethernet;
        EXPECT_FALSE(link_type_from_dlt(dlt, &link)) << dlt;
        EXPECT_EQ(link, kUnsupportedLink) << dlt;
        PacketFacts f;
        const uint8_t frame[64] = {};
        decode(frame, sizeof frame, sizeof frame, link, f);
        EXPECT_EQ(f.error, DecodeError::unsupported_link) << dlt;
    }
}

// An IPv4 TCP SYN without a link header.
Frame ipv4_syn() {
    Frame body;
    const size_t ip = body.ipv4(6, ip4(198, 51, 100, 7), ip4(192, 0, 2, 9));
    body.tcp(40000, 23, 1, 0, tcp_syn, 1024);
    body.finish_ipv4(ip);
    return body;
}

// An IPv6 UDP datagram without a link header.
Frame ipv6_udp() {
    static const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    Frame body;
    const size_t ip = body.ipv6(17, src, dst);
    body.udp(40000, 53, 0);
    body.finish_ipv6(ip);
    return body;
}

// `header` then the IPv4 SYN (or the IPv6 datagram).
Frame with_link_header(std::vector<uint8_t> header, bool v6 = false) {
    Frame fr;
    fr.bytes = std::move(header);
    const Frame body = v6 ? ipv6_udp() : ipv4_syn();
    fr.bytes.insert(fr.bytes.end(), body.bytes.begin(), body.bytes.end());
    return fr;
}

void put32le(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A classic little-endian pcap file (magic a1b2c3d4, version 2.4) holding one record.
std::string write_capture(uint32_t linktype, const Frame& frame) {
    std::vector<uint8_t> file;
    put32le(file, 0xa1b2c3d4u);
    put32le(file, 2u | (4u << 16));  // version 2.4
    put32le(file, 0);                // thiszone
    put32le(file, 0);                // sigfigs
    put32le(file, 65535);            // snaplen
    put32le(file, linktype);
    put32le(file, 1363046400);  // seconds
    put32le(file, 0);           // microseconds
    put32le(file, static_cast<uint32_t>(frame.size()));
    put32le(file, static_cast<uint32_t>(frame.size()));
    file.insert(file.end(), frame.bytes.begin(), frame.bytes.end());
    std::string path = testing::TempDir() + "link_type_XXXXXX";
    const int fd = mkstemp(path.data());
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, file.data(), file.size()), static_cast<ssize_t>(file.size()));
    close(fd);
    return path;
}

struct FileCase {
    uint32_t linktype;  // as the file's header says (LINKTYPE_ value)
    std::vector<uint8_t> header;
    const char* name;
    bool v6 = false;  // the frame carries IPv6 UDP to port 53, not IPv4 TCP to port 23
};

TEST(LinkType, CaptureFilesDecodeThroughLibpcap) {
    const std::vector<uint8_t> ethernet = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00};
    std::vector<uint8_t> sll(14, 0);
    sll.insert(sll.end(), {0x08, 0x00});
    std::vector<uint8_t> sll2 = {0x08, 0x00};
    sll2.resize(20, 0);
    const FileCase supported[] = {
        {1, ethernet, "LINKTYPE_ETHERNET"},
        {101, {}, "LINKTYPE_RAW"},
        {228, {}, "LINKTYPE_IPV4"},
        {229, {}, "LINKTYPE_IPV6", true},
        {101, {}, "LINKTYPE_RAW (IPv6)", true},
        {113, sll, "LINKTYPE_LINUX_SLL"},
        {276, sll2, "LINKTYPE_LINUX_SLL2"},
        {0, {2, 0, 0, 0}, "LINKTYPE_NULL (little-endian host)"},
        {108, {0, 0, 0, 2}, "LINKTYPE_LOOP"},
        {108, {0, 0, 0, 10}, "LINKTYPE_LOOP (IPv6)", true},
    };
    for (const FileCase& c : supported) {
        const std::string path = write_capture(c.linktype, with_link_header(c.header, c.v6));
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
        ASSERT_NE(p, nullptr) << c.name << ": " << errbuf;
        LinkType link = kUnsupportedLink;
        EXPECT_TRUE(link_type_from_dlt(pcap_datalink(p), &link))
            << c.name << " read as DLT " << pcap_datalink(p);
        pcap_pkthdr* h = nullptr;
        const u_char* bytes = nullptr;
        ASSERT_EQ(pcap_next_ex(p, &h, &bytes), 1) << c.name;
        PacketFacts f;
        decode(bytes, h->caplen, h->len, link, f);
        EXPECT_EQ(f.error, DecodeError::none) << c.name;
        EXPECT_EQ(f.ip_version, c.v6 ? 6 : 4) << c.name;
        EXPECT_EQ(f.proto, c.v6 ? Proto::udp : Proto::tcp) << c.name;
        EXPECT_EQ(f.dst_port, c.v6 ? 53 : 23) << c.name;
        pcap_close(p);
        std::remove(path.c_str());
    }
    // 802.11, radiotap and USB captures open, and every frame counts as unsupported_link.
    for (uint32_t linktype : {105u, 127u, 189u}) {
        const std::string path = write_capture(linktype, with_link_header(ethernet));
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
        ASSERT_NE(p, nullptr) << linktype << ": " << errbuf;
        LinkType link = LinkType::ethernet;
        EXPECT_FALSE(link_type_from_dlt(pcap_datalink(p), &link)) << linktype;
        pcap_pkthdr* h = nullptr;
        const u_char* bytes = nullptr;
        ASSERT_EQ(pcap_next_ex(p, &h, &bytes), 1) << linktype;
        PacketFacts f;
        decode(bytes, h->caplen, h->len, link, f);
        EXPECT_EQ(f.error, DecodeError::unsupported_link) << linktype;
        pcap_close(p);
        std::remove(path.c_str());
    }
}

}  // namespace
