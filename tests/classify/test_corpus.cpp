// Conformance on real captures: for each file, the per-class and per-protocol counts of
// decode()+classify() must equal the counts derived from tshark's own dissection of the same
// file (run here, per packet), and the flag counts must equal tshark display-filter counts.
// Skips when the corpus or tshark is absent.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "corpus.hpp"
#include "darkscope/classify.hpp"

using namespace darkscope;

namespace {

std::string corpus_dir() {
    const char* env = std::getenv("DARKSCOPE_CORPUS");
    return env ? env : "../shared/corpus/pcaps";
}

bool have_tshark() {
    return std::system("tshark -v >/dev/null 2>&1") == 0;
}

std::string run(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p)
        return out;
    std::array<char, 65536> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    pclose(p);
    return out;
}

// Number of packets of `file` matching the tshark display filter `filter`.
long tshark_count(const std::string& file, const std::string& filter) {
    std::string out =
        run("tshark -n -r '" + file + "' -o ip.defragment:FALSE -o ipv6.defragment:FALSE -Y '" +
            filter + "' -T fields -e frame.number 2>/dev/null | wc -l");
    return std::stol(out);
}

struct Counts {
    std::map<std::string, long> cls, proto, flags;
    long packets = 0;
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> v;
    std::string cur;
    std::stringstream ss(s);
    while (std::getline(ss, cur, sep))
        v.push_back(cur);
    if (!s.empty() && s.back() == sep)
        v.emplace_back();
    return v;
}

long num(const std::string& s) {
    return s.empty() ? -1 : std::strtol(s.c_str(), nullptr, 0);
}

// The same classification rules (docs/classify.md) applied to tshark's per-packet dissection,
// with reassembly off so each fragment is seen as captured. Outer IP layer only (occurrence=f).
Counts tshark_counts(const std::string& file) {
    static const char* fields[] = {"frame.protocols",
                                   "ip.proto",
                                   "ip.frag_offset",
                                   "ipv6.fraghdr.offset",
                                   "tcp.flags",
                                   "udp.srcport",
                                   "udp.dstport",
                                   "icmp.type",
                                   "icmpv6.type",
                                   "ipv6.fraghdr.nxt",
                                   "ip.ttl",
                                   "ipv6.hlim",
                                   "ip.id",
                                   "tcp.hdr_len",
                                   "tcp.window_size_value",
                                   "tcp.options.mss_val"};
    std::string cmd = "tshark -n -r '" + file +
                      "' -o ip.defragment:FALSE -o ipv6.defragment:FALSE -T fields -E "
                      "occurrence=f -E separator=/t";
    for (const char* f : fields)
        cmd += std::string(" -e ") + f;
    cmd += " 2>/dev/null";
    std::string out = run(cmd);
    ClassifyConfig config = ClassifyConfig::defaults();
    Counts c;
    std::stringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        auto col = split(line, '\t');
        col.resize(16);
        ++c.packets;
        auto layers = split(col[0], ':');
        size_t i = 0;
        while (i < layers.size() && layers[i] != "ip" && layers[i] != "ipv6")
            ++i;
        if (i == layers.size()) {
            c.cls["non_ip"]++;
            continue;
        }
        bool v6 = layers[i] == "ipv6";
        std::string upper;
        size_t j = i + 1;
        while (j < layers.size() && layers[j].rfind("ipv6.", 0) == 0)
            ++j;  // extension headers
        if (j < layers.size())
            upper = layers[j];
        long ipproto = num(col[1]);
        bool fragment = v6 ? num(col[3]) > 0 : num(col[2]) > 0;
        std::string proto;
        if (!v6) {
            proto = ipproto == 6 ? "tcp" : ipproto == 17 ? "udp" : ipproto == 1 ? "icmp" : "other";
        } else if (fragment) {
            long nxt = num(col[9]);
            proto = nxt == 6 ? "tcp" : nxt == 17 ? "udp" : nxt == 58 ? "icmpv6" : "other";
        } else {
            proto = upper == "tcp"      ? "tcp"
                    : upper == "udp"    ? "udp"
                    : upper == "icmpv6" ? "icmpv6"
                                        : "other";
        }
        c.proto[proto]++;
        // Flags from the outer headers (first occurrences), by their definitions.
        long ttl = v6 ? num(col[11]) : num(col[10]);
        if (ttl >= 200)
            c.flags["high_ttl"]++;
        if (!v6 && !fragment && num(col[12]) == 54321)
            c.flags["zmap"]++;
        if (proto == "tcp" && !fragment) {
            long fl = num(col[4]), hdr = num(col[13]), win = num(col[14]), mss = num(col[15]);
            bool syn_only = (fl & tcp_syn) && !(fl & tcp_ack);
            if (syn_only && hdr == 20)
                c.flags["no_tcp_options"]++;
            if (syn_only && hdr == 20 && ttl >= 200 && win == 1024)
                c.flags["large_scale_scan"]++;
            if (syn_only && hdr == 24 && mss == 1460 &&
                (win == 1024 || win == 2048 || win == 3072 || win == 4096))
                c.flags["nmap"]++;
        }
        if (fragment) {
            c.cls["fragment"]++;
            continue;
        }
        if (proto == "tcp") {
            long fl = num(col[4]);
            bool syn = fl & tcp_syn, ack = fl & tcp_ack, rst = fl & tcp_rst;
            c.cls[syn && !ack && !rst     ? "tcp_scan"
                  : (rst || (syn && ack)) ? "tcp_backscatter"
                                          : "tcp_other"]++;
        } else if (proto == "udp") {
            long sport = num(col[5]), dport = num(col[6]);
            c.cls[config.udp_service_ports.test(static_cast<size_t>(sport)) && dport >= 1024
                      ? "udp_backscatter"
                      : "udp_probe"]++;
        } else if (proto == "icmp") {
            long t = num(col[7]);
            bool back = t == 0 || t == 3 || t == 4 || t == 5 || t == 11 || t == 12 || t == 14 ||
                        t == 16 || t == 18;
            c.cls[back ? "icmp_backscatter" : "icmp_probe"]++;
        } else if (proto == "icmpv6") {
            long t = num(col[8]);
            c.cls[(t >= 1 && t <= 4) || t == 129 ? "icmp_backscatter" : "icmp_probe"]++;
        } else {
            c.cls["other_ip"]++;
        }
    }
    return c;
}

struct Ours {
    Counts counts;
    std::map<std::string, long> errors;
    std::map<std::string, long> flags;
    long syn = 0, syn_masscan = 0;
};

Ours our_counts(const std::string& file) {
    Ours o;
    Classifier classifier(ClassifyConfig::defaults(), nullptr);
    test::for_each_packet(file, [&](const uint8_t* d, uint32_t cap, uint32_t wire, LinkType l) {
        PacketFacts f;
        decode(d, cap, wire, l, f);
        classifier.classify(f);
        ++o.counts.packets;
        o.counts.cls[traffic_class_name(f.cls)]++;
        if (f.proto != Proto::none)
            o.counts.proto[proto_name(f.proto)]++;
        if (f.error != DecodeError::none)
            o.errors[decode_error_name(f.error)]++;
        for (unsigned b = 0; b < kFlagCount; ++b)
            if (f.flags & (1u << b))
                o.flags[flag_name(b)]++;
        if (f.proto == Proto::tcp && f.l4_valid && f.tcp_flags == tcp_syn) {
            ++o.syn;
            if (f.flags & flag_masscan)
                ++o.syn_masscan;
        }
    });
    return o;
}

std::string show(const std::map<std::string, long>& m) {
    std::string s;
    for (const auto& [k, v] : m)
        s += k + "=" + std::to_string(v) + " ";
    return s;
}

class Corpus : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!std::filesystem::exists(corpus_dir() + "/MANIFEST.tsv"))
            GTEST_SKIP() << "no corpus at " << corpus_dir();
        if (!have_tshark())
            GTEST_SKIP() << "tshark not installed";
    }
    std::string path(const std::string& rel) { return corpus_dir() + "/" + rel; }

    // Per-class and per-protocol counts equal tshark's reading; no decode errors.
    Ours expect_agrees_with_tshark(const std::string& rel) {
        std::string file = path(rel);
        Ours ours = our_counts(file);
        Counts theirs = tshark_counts(file);
        EXPECT_EQ(ours.counts.packets, theirs.packets) << rel;
        EXPECT_EQ(show(ours.counts.cls), show(theirs.cls)) << rel;
        EXPECT_EQ(show(ours.counts.proto), show(theirs.proto)) << rel;
        auto broken = ours.errors;
        broken.erase("non_ip");  // ARP and friends: tshark's non-IP count above covers them
        EXPECT_TRUE(broken.empty()) << rel << ": " << show(ours.errors);
        for (const char* flag : {"high_ttl", "zmap", "no_tcp_options", "large_scale_scan", "nmap"})
            EXPECT_EQ(ours.flags[flag], theirs.flags[flag]) << rel << " flag " << flag;
        return ours;
    }
};

// The files the issue names, plus VLAN, QinQ, MPLS, IPv6, ICMPv6 and fragment captures.
TEST_F(Corpus, CleanCapturesAgreeWithTshark) {
    for (const char* rel : {
             "stopddos/amp.TCP.reflection.SYNACK.pcap",
             "ncsa-bro-simple-scan/backscatter.trace",
             "ncsa-bro-simple-scan/445_scan.pcap",
             "ndpi/synscan.pcap",
             "esnet-curated/attacks/scanners/masscan/tcp_0_1000_20190821.pcap",
             "esnet-curated/attacks/scanners/masscan/udp_0_1000_20190821.pcap",
             "esnet-curated/tcp/control/one_way_all_flags.pcap",
             "stopddos/amp.UDP.isakmp.pcap",
             "stopddos/amp.UDP.snmp.src161.pcapng",
             "stopddos/amp.dns.RRSIG.fragmented.pcap",
             "tcpdump-tests/802.1ad_QinQ.pcap",
             "zeek-traces/http-qinq-0.pcap",
             "zeek-traces/icmp_dot1q.pcap",
             "zeek-traces/mpls-in-vlan.pcap",
             "zeek-traces/mixed-vlan-mpls.pcap",
             "zeek-traces/communityid_ipv6.pcap",
             "zeek-traces/communityid_icmp6.pcap",
             "zeek-traces/ipv6-fragmented-dns.pcap",
             "zeek-traces/ipv4_fragmented-3.pcap",
             "zeek-traces/ipv4_fragmented-syn.pcap",
             "chrissanders-packets/ipv6_fragments.pcapng",
             "chrissanders-packets/ip_frag_source.pcapng",
             "suricata-verify/detect-vlan-id__input.pcap",
             "tcpdump-tests/LINKTYPE_RAW_ipv4.pcap",
             "tcpdump-tests/LINKTYPE_IPV6.pcap",
             "zeek-traces/linux_dlt_sll2.pcap",
             "zeek-traces/tunnels_6in4.pcap",
         }) {
        SCOPED_TRACE(rel);
        expect_agrees_with_tshark(rel);
    }
}

TEST_F(Corpus, ReflectionBackscatterMatchesTheIssueAndTshark) {
    std::string file = path("stopddos/amp.TCP.reflection.SYNACK.pcap");
    Ours ours = expect_agrees_with_tshark("stopddos/amp.TCP.reflection.SYNACK.pcap");
    long synack = tshark_count(file, "tcp.flags.syn==1 && tcp.flags.ack==1");
    long rst = tshark_count(file, "tcp.flags.reset==1 && tcp.flags.ack==0");
    long rstack = tshark_count(file, "tcp.flags.reset==1 && tcp.flags.ack==1");
    long unreach = tshark_count(file, "icmp.type==3");
    // The issue's reading of the same file (6651 / 813 / 205 / 153).
    EXPECT_EQ(synack, 6651);
    EXPECT_EQ(rst, 813);
    EXPECT_EQ(rstack, 205);
    EXPECT_EQ(unreach, 153);
    EXPECT_EQ(ours.counts.cls["tcp_backscatter"], synack + rst + rstack);
    EXPECT_EQ(ours.counts.cls["icmp_backscatter"], unreach);  // the file's only ICMP type
}

TEST_F(Corpus, BroBackscatterMatchesTheIssueAndTshark) {
    std::string file = path("ncsa-bro-simple-scan/backscatter.trace");
    Ours ours = expect_agrees_with_tshark("ncsa-bro-simple-scan/backscatter.trace");
    // The issue's figures (3459 / 1273 / 37 / 28) match tshark's filters, which also see the
    // TCP headers quoted inside the 28 ICMP errors; the packets themselves are `!icmp`.
    EXPECT_EQ(tshark_count(file, "tcp.flags.syn==1 && tcp.flags.ack==1"), 3459);
    EXPECT_EQ(tshark_count(file, "tcp.flags.reset==1 && tcp.flags.ack==0"), 1273);
    EXPECT_EQ(tshark_count(file, "tcp.flags.reset==1 && tcp.flags.ack==1"), 37);
    EXPECT_EQ(tshark_count(file, "icmp.type==3"), 28);
    EXPECT_EQ(ours.counts.cls["tcp_backscatter"],
              tshark_count(file,
                           "!icmp && ((tcp.flags.syn==1 && tcp.flags.ack==1) || "
                           "tcp.flags.reset==1)"));
    EXPECT_EQ(ours.counts.cls["icmp_backscatter"], 28);
}

TEST_F(Corpus, MasscanEverySynFlagged) {
    std::string rel = "esnet-curated/attacks/scanners/masscan/tcp_0_1000_20190821.pcap";
    Ours ours = our_counts(path(rel));
    long syn = tshark_count(path(rel), "tcp.flags==0x002");
    EXPECT_GT(syn, 0);
    EXPECT_EQ(ours.syn, syn);
    EXPECT_EQ(ours.syn_masscan, syn);
    // Masscan's SYNs: no options, TTL >= 200, window 1024 -> Corsaro's large-scale scan.
    EXPECT_EQ(ours.flags["large_scale_scan"],
              tshark_count(path(rel),
                           "tcp.flags==0x002 && tcp.hdr_len==20 && ip.ttl>=200 && "
                           "tcp.window_size_value==1024"));
}

TEST_F(Corpus, NmapSynScanFlagged) {
    std::string file = path("ndpi/synscan.pcap");
    Ours ours = our_counts(file);
    long nmap = tshark_count(file,
                             "tcp.flags==0x002 && tcp.hdr_len==24 && tcp.options.mss_val==1460 "
                             "&& (tcp.window_size_value==1024 || tcp.window_size_value==2048 || "
                             "tcp.window_size_value==3072 || tcp.window_size_value==4096)");
    EXPECT_GT(nmap, 1900);
    EXPECT_EQ(ours.flags["nmap"], nmap);
    // The connect() scans of nmap (a Linux stack's SYN) are not flagged.
    EXPECT_EQ(
        our_counts(path("esnet-curated/attacks/scanners/nmap/nmap_80_vanilla.pcap")).flags["nmap"],
        0);
}

TEST_F(Corpus, FlagCountsAgreeWithTshark) {
    // Whole-file flag counts against tshark's per-packet outer headers (inside
    // expect_agrees_with_tshark); these files exercise high TTLs, zmap-free floods, SYN floods.
    for (const char* rel :
         {"stopddos/pkt.TCP.synflood.spoofed.pcap", "stopddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng",
          "stopddos/amp.TCP.syn.optionallyACK.optionallysamePort.pcapng"}) {
        SCOPED_TRACE(rel);
        expect_agrees_with_tshark(rel);
    }
}

// Broken packets: the error each file holds, checked against tshark's own complaint about the
// same packet (the filter in the comment is what tshark says).
TEST_F(Corpus, MalformedFilesGiveTheirErrors) {
    struct Case {
        const char* rel;
        const char* error;
        const char* tshark_filter;  // tshark flags the same packets
    };
    for (const Case& c : {
             Case{"tcpdump-tests/ipv4_invalid_hdr_length.pcap", "bad_ihl",
                  "_ws.expert.message contains \"Bogus IP header length\""},
             Case{"tcpdump-tests/ipv4_invalid_total_length.pcap", "bad_total_length",
                  "_ws.expert.message contains \"exceeds packet length\""},
             Case{"tcpdump-tests/ipv6-bad-version.pcap", "bad_ip_version",
                  "_ws.expert.message contains \"Bogus IP version\" || _ws.malformed || "
                  "ipv6.version != 6"},
         }) {
        SCOPED_TRACE(c.rel);
        std::string file = path(c.rel);
        Ours ours = our_counts(file);
        long tshark_flagged = tshark_count(file, c.tshark_filter);
        EXPECT_GT(tshark_flagged, 0) << "tshark sees nothing wrong";
        EXPECT_EQ(ours.errors[c.error], tshark_flagged) << show(ours.errors);
        EXPECT_EQ(ours.counts.cls["malformed"], ours.errors[c.error]);
    }
    // IPv4 with a bad version inside IPv6: only the outer IPv6 is decoded (no tunnel recursion),
    // so it is other_ip, protocol 4; tshark's complaint is about the inner header.
    Ours tunnel = our_counts(path("suricata-verify/bug-7964-01__wrong-version-ipv4-ipv6.pcap"));
    EXPECT_EQ(tunnel.counts.cls["other_ip"], 1);
    EXPECT_TRUE(tunnel.errors.empty());
}

}  // namespace
