// Shared pieces of the attribution tests: EAL start-up, the libmaxminddb reference lookup,
// address sampling and temporary files.
#pragma once

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "darkscope/country.hpp"
#include "darkscope/geo_source.hpp"
#include "darkscope/packet.hpp"

namespace darkscope::test {

// EAL without hugepages or devices, its own prefix so parallel tests do not meet.
inline void ensure_eal() {
    static const bool started = [] {
        const std::string prefix = "--file-prefix=ds_attr_" + std::to_string(getpid());
        std::vector<std::string> args = {"attribution_test",
                                         "--no-huge",
                                         "-m",
                                         "1536",
                                         "--no-pci",
                                         prefix,
                                         "-l",
                                         "0",
                                         "--log-level=lib.eal:error",
                                         "--no-telemetry"};
        // DARKSCOPE_TEST_HUGE=MB: hugepages instead of --no-huge (to measure lookups the way
        // the appliance runs them; needs that much free hugepage memory).
        if (const char* huge = std::getenv("DARKSCOPE_TEST_HUGE")) {
            args = {"attribution_test",          "--in-memory",   "-m", huge, "--no-pci", "-l", "0",
                    "--log-level=lib.eal:error", "--no-telemetry"};
        }
        // Extra EAL options for experiments, e.g. "--force-max-simd-bitwidth=512".
        if (const char* extra = std::getenv("DARKSCOPE_TEST_EAL_ARGS")) {
            std::istringstream words(extra);
            for (std::string word; words >> word;) {
                args.push_back(word);
            }
        }
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
            return false;
        }
        // --no-huge cannot run --in-memory: remove the runtime directory at exit.
        static const std::string runtime_dir = rte_eal_get_runtime_dir();
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(runtime_dir, ignored);
        });
        return true;
    }();
    if (!started) {
        std::abort();
    }
}

inline std::string corpus_geo() {
    return std::string(CORPUS_DIR) + "/geo";
}

inline bool exists(const std::string& path) {
    return std::filesystem::exists(path);
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "ds-attr-XXXXXX").string();
        path = mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// Builds the random test databases with MaxMind's Perl writer; "" when the writer is missing.
inline std::string build_writer_databases(const TempDir& dir, unsigned seed) {
    const std::string command = std::string("perl ") + MAKE_TEST_MMDB + " " + dir.path.string() +
                                " " + std::to_string(seed) + " 2>" + dir.file("writer.err");
    if (std::system(command.c_str()) != 0) {
        return "";
    }
    return dir.path.string();
}

// ---- reference: libmaxminddb's own lookup ----
class Reference {
  public:
    explicit Reference(const std::string& path) {
        ok_ = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_) == MMDB_SUCCESS;
    }
    ~Reference() {
        if (ok_) {
            MMDB_close(&db_);
        }
    }
    bool ok() const { return ok_; }

    uint16_t country(const PacketFacts& f) {
        MMDB_entry_s entry;
        if (!lookup(f, &entry)) {
            return 0;
        }
        for (const auto& path :
             {std::vector<const char*>{"country", "iso_code", nullptr},
              std::vector<const char*>{"registered_country", "iso_code", nullptr},
              std::vector<const char*>{"country_code", nullptr}}) {
            MMDB_entry_data_s data;
            if (MMDB_aget_value(&entry, &data, path.data()) == MMDB_SUCCESS && data.has_data &&
                data.type == MMDB_DATA_TYPE_UTF8_STRING) {
                const uint16_t index =
                    country_index(std::string_view(data.utf8_string, data.data_size));
                if (index != 0) {
                    return index;
                }
            }
        }
        return 0;
    }

    uint32_t asn(const PacketFacts& f) {
        MMDB_entry_s entry;
        if (!lookup(f, &entry)) {
            return 0;
        }
        MMDB_entry_data_s data;
        if (MMDB_get_value(&entry, &data, "autonomous_system_number", nullptr) == MMDB_SUCCESS &&
            data.has_data) {
            if (data.type == MMDB_DATA_TYPE_UINT32) {
                return data.uint32;
            }
            if (data.type == MMDB_DATA_TYPE_UINT16) {
                return data.uint16;
            }
        }
        return 0;
    }

  private:
    bool lookup(const PacketFacts& f, MMDB_entry_s* entry) {
        sockaddr_storage storage{};
        if (f.ip_version == 4) {
            auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
            sin->sin_family = AF_INET;
            sin->sin_addr.s_addr = htonl(f.src.v4);
        } else if (f.ip_version == 6) {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
            sin6->sin6_family = AF_INET6;
            std::memcpy(&sin6->sin6_addr, f.src.v6, 16);
        } else {
            return false;
        }
        int mmdb_error = 0;
        const MMDB_lookup_result_s result =
            MMDB_lookup_sockaddr(&db_, reinterpret_cast<sockaddr*>(&storage), &mmdb_error);
        if (mmdb_error != MMDB_SUCCESS || !result.found_entry) {
            return false;
        }
        *entry = result.entry;
        return true;
    }

    MMDB_s db_{};
    bool ok_ = false;
};

// ---- address sampling ----
struct Network {
    int family;
    geo::uint128 addr;  // v4 in the low 32 bits
    unsigned depth;
};

// Reads "addr/len" networks from a text list or from the keys of a MaxMind JSON source.
inline std::vector<Network> read_networks(const std::string& path) {
    std::vector<Network> networks;
    std::ifstream in(path);
    const std::regex key(R"re(^\s*"?([0-9A-Fa-f:.]+)/([0-9]+)"?)re");
    std::string line;
    std::smatch match;
    while (std::getline(in, line)) {
        if (!std::regex_search(line, match, key)) {
            continue;
        }
        const std::string text = match[1];
        Network n{};
        n.depth = static_cast<unsigned>(std::stoul(match[2]));
        if (text.find(':') != std::string::npos) {
            uint8_t bytes[16];
            if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) {
                continue;
            }
            n.family = 6;
            n.addr = geo::from_bytes(bytes);
        } else {
            in_addr a{};
            if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
                continue;
            }
            n.family = 4;
            n.addr = ntohl(a.s_addr);
        }
        networks.push_back(n);
    }
    return networks;
}

inline PacketFacts facts_v4(uint32_t addr) {
    PacketFacts f;
    clear(f);
    f.ip_version = 4;
    f.src.v4 = addr;
    return f;
}

inline PacketFacts facts_v6(geo::uint128 addr) {
    PacketFacts f;
    clear(f);
    f.ip_version = 6;
    const auto bytes = geo::to_bytes(addr);
    std::memcpy(f.src.v6, bytes.data(), 16);
    return f;
}

// Half uniform random addresses, half random hosts inside listed networks; IPv6 also gets
// IPv4 hosts written in the three IPv6 forms that reach the IPv4 tree (::a.b.c.d,
// ::ffff:a.b.c.d, 2002:aabb:ccdd::).
class Sampler {
  public:
    Sampler(std::vector<Network> networks, uint64_t seed) : random_(seed) {
        for (const auto& n : networks) {
            (n.family == 4 ? v4_ : v6_).push_back(n);
        }
    }

    uint32_t ipv4() {
        if (v4_.empty() || coin()) {
            return static_cast<uint32_t>(random_());
        }
        return host_in(v4_[random_() % v4_.size()]);
    }

    geo::uint128 ipv6() {
        const uint64_t pick = random_() % 16;
        if (pick < 6 || (v6_.empty() && pick < 12)) {
            return (geo::uint128{random_()} << 64) | random_();
        }
        if (pick < 12) {
            const Network& n = v6_[random_() % v6_.size()];
            const geo::uint128 host = (geo::uint128{random_()} << 64) | random_();
            const geo::uint128 mask =
                n.depth == 0 ? ~geo::uint128{0} : (geo::uint128{1} << (128 - n.depth)) - 1;
            return n.addr | (host & mask);
        }
        const uint32_t v4 = ipv4();
        if (pick == 12) {
            return geo::uint128{v4};  // ::a.b.c.d
        }
        if (pick == 13) {
            return (geo::uint128{0xffff} << 32) | v4;  // ::ffff:a.b.c.d
        }
        const geo::uint128 low = (geo::uint128{random_()} << 64 | random_()) >> 48;
        return (geo::uint128{0x2002} << 112) | (geo::uint128{v4} << 80) | low;  // 6to4
    }

  private:
    bool coin() { return (random_() & 1) != 0; }
    uint32_t host_in(const Network& n) {
        const uint32_t mask = n.depth >= 32 ? 0 : (n.depth == 0 ? ~0u : (~0u >> n.depth));
        return static_cast<uint32_t>(n.addr) | (static_cast<uint32_t>(random_()) & mask);
    }

    std::mt19937_64 random_;
    std::vector<Network> v4_, v6_;
};

inline size_t dpdk_heap_bytes() {
    rte_malloc_socket_stats stats{};
    size_t total = 0;
    for (unsigned i = 0; i < rte_socket_count(); ++i) {
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &stats) == 0) {
            total += stats.heap_allocsz_bytes;
        }
    }
    return total;
}

}  // namespace darkscope::test
