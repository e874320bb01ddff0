// Reading the shared corpus (../shared/corpus/pcaps) for the conformance and replay tests and
// the fuzz seeds: the MANIFEST rows and every record of a capture through libpcap.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "darkscope/decode.hpp"

namespace darkscope::test {

struct ManifestRow {
    std::string path;  // under pcaps/
    long packets = -1;
    std::string linktype;
};

inline std::vector<ManifestRow> read_manifest(const std::string& pcaps_dir) {
    std::vector<ManifestRow> rows;
    std::ifstream in(pcaps_dir + "/MANIFEST.tsv");
    std::string line;
    std::vector<std::string> header;
    while (std::getline(in, line)) {
        std::vector<std::string> cols;
        std::stringstream ss(line);
        std::string c;
        while (std::getline(ss, c, '\t'))
            cols.push_back(c);
        if (header.empty()) {
            header = cols;
            continue;
        }
        ManifestRow r;
        for (size_t i = 0; i < cols.size() && i < header.size(); ++i) {
            if (header[i] == "local_path")
                r.path = cols[i];
            if (header[i] == "packets")
                r.packets = std::stol(cols[i]);
            if (header[i] == "linktype")
                r.linktype = cols[i];
        }
        if (!r.path.empty())
            rows.push_back(r);
    }
    return rows;
}

using PacketFn =
    std::function<void(const uint8_t* data, uint32_t caplen, uint32_t wire_len, LinkType link)>;

// Calls fn for every record; returns the number of records, or -1 (and *error) when libpcap
// cannot open the file. Link types the decoder does not read are passed as kUnsupportedLink.
inline long for_each_packet(const std::string& file, const PacketFn& fn,
                            std::string* error = nullptr) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(file.c_str(), errbuf);
    if (!p) {
        if (error)
            *error = errbuf;
        return -1;
    }
    LinkType link;
    link_type_from_dlt(pcap_datalink(p), &link);
    long n = 0;
    pcap_pkthdr* h;
    const u_char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        fn(data, h->caplen, h->len, link);
        ++n;
    }
    if (rc == PCAP_ERROR && error)
        *error = pcap_geterr(p);
    pcap_close(p);
    return n;
}

}  // namespace darkscope::test
