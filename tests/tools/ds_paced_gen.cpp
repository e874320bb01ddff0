// ds_paced_gen: a paced DPDK packet generator for the "no loss at the offered rate" test. It is
// its own DPDK primary process (own --file-prefix, --no-pci, ordinary memory unless --huge) with
// one net_memif vdev in role=server; darkscope connects to it as the memif client
// (--port net_memif0,role=client,socket=PATH,socket-abstract=no).
//
// It reads a capture with libpcap into memory, waits (bounded) for the memif link, then sends
// every packet once (or --loops times) in bursts, one burst per 1/RATE * BURST seconds on the
// TSC. memif is back-pressured: a full ring makes rte_eth_tx_burst return short, and the rest
// of the burst is retried, so "offered" is exactly what the memif ring accepted. A burst is given
// up (and counted in tx_failed) only when the ring has not moved for --stall-timeout seconds, or
// at once with --drop (a full ring then drops the rest, as a NIC's full rx ring would: a way to
// measure loss at a rate rather than to slow the sender down). When the sender falls more than a
// few bursts behind its schedule (descheduled, or held back by the ring) the schedule restarts
// from now rather than catching up in one long burst; "late" counts those restarts.
//
// Output: one JSON line on stdout,
//   {"offered": N, "tx_failed": F, "seconds": S, "rate_pps": R, ...}
// then it lingers (--linger seconds, or until SIGINT/SIGTERM or the peer disconnects) so the
// receiver can drain the ring before the server closes the shared memory. Progress and errors go
// to stderr; "ds_paced_gen: ready" is printed once the memif socket accepts a client.
//
// Exit status: 0 every packet offered (--drop: offered + tx_failed), 1 runtime failure (EAL,
// capture, link never up, peer gone, a burst given up, interrupted), 2 bad arguments, 3 no
// net_memif driver in this DPDK.
#include <getopt.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

constexpr unsigned kMaxBurst = 512;
constexpr uint32_t kMaxFrame = RTE_MBUF_DEFAULT_DATAROOM;  // memif's default bsize is the same

struct Options {
    std::string pcap;
    std::string socket;
    double rate = 0;
    uint64_t loops = 1;
    unsigned burst = 32;
    std::string file_prefix;
    unsigned lcore = 0;
    unsigned id = 0;
    double link_timeout = 30;
    double stall_timeout = 5;
    double linger = 1;
    double delay = 0;
    bool drop = false;
    bool abstract = false;
    bool huge = false;
    unsigned memory_mb = 256;
    std::string log_level = "warning";
};

void usage(FILE* out) {
    std::fprintf(
        out,
        "usage: ds_paced_gen --pcap FILE --socket PATH --rate PPS [OPTIONS]\n"
        "\n"
        "Sends every packet of FILE (pcap/pcapng, Ethernet) over a net_memif vdev in role=server\n"
        "on PATH, paced to PPS packets per second (suffix k or M allowed: 250k, 1.5M), and prints\n"
        "{\"offered\": N, \"tx_failed\": F, \"seconds\": S, \"rate_pps\": R, ...} on stdout.\n"
        "\n"
        "  --pcap FILE            capture to send (frames up to %u bytes)\n"
        "  --socket PATH          memif control socket (the client: darkscope --port\n"
        "                         net_memif0,role=client,socket=PATH,socket-abstract=no)\n"
        "  --rate PPS             offered packets per second\n"
        "  --loops N              send the capture N times [1]\n"
        "  --burst N              packets per tx burst, 1..%u [32]\n"
        "  --drop                 no retry: a full ring drops the rest of the burst (tx_failed)\n"
        "  --stall-timeout S      give a burst up when the ring has not moved for S seconds [5]\n"
        "  --link-timeout S       wait at most S seconds for the client to connect and poll [30]\n"
        "  --delay S              wait S seconds after the link comes up before sending [0]\n"
        "  --linger S             keep the memif up S seconds after the last packet so the\n"
        "                         client drains the ring; SIGINT/SIGTERM end it early [1]\n"
        "  --file-prefix NAME     DPDK runtime prefix [ds_paced_gen<pid>]\n"
        "  --lcore N              CPU of the (only) lcore [0]\n"
        "  --id N                 memif interface id [0]\n"
        "  --abstract             abstract socket namespace (socket-abstract=yes, no file)\n"
        "  --huge                 hugepages (default: --no-huge)\n"
        "  --memory MB            EAL memory [256]\n"
        "  --log-level LEVEL      EAL log level: error, warning, notice, info, debug [warning]\n"
        "  -h, --help             this help\n",
        kMaxFrame, kMaxBurst);
}

[[noreturn]] void bad_argument(const std::string& message) {
    std::fprintf(stderr, "ds_paced_gen: %s (see --help)\n", message.c_str());
    std::exit(2);
}

double parse_double(const char* opt, const char* text, double min, double max) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text, &end);
    if (end == text || errno != 0)
        bad_argument(std::string("--") + opt + " " + text + ": not a number");
    if (*end == 'k' || *end == 'K') {
        v *= 1e3;
        ++end;
    } else if (*end == 'M' || *end == 'm') {
        v *= 1e6;
        ++end;
    }
    if (*end != '\0' || !(v >= min && v <= max))
        bad_argument(std::string("--") + opt + " " + text + ": want a number in [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
    return v;
}

uint64_t parse_uint(const char* opt, const char* text, uint64_t min, uint64_t max) {
    char* end = nullptr;
    errno = 0;
    if (*text == '-' || *text == '\0')
        bad_argument(std::string("--") + opt + " " + text + ": not a non-negative integer");
    unsigned long long v = std::strtoull(text, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        bad_argument(std::string("--") + opt + " " + text + ": want an integer in [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
    return v;
}

Options parse_options(int argc, char** argv) {
    enum {
        kPcap = 1000,
        kSocket,
        kRate,
        kLoops,
        kBurst,
        kDrop,
        kStall,
        kLinkTimeout,
        kLinger,
        kDelay,
        kPrefix,
        kLcore,
        kId,
        kAbstract,
        kHuge,
        kMemory,
        kLogLevel
    };
    static const option longopts[] = {{"pcap", required_argument, nullptr, kPcap},
                                      {"socket", required_argument, nullptr, kSocket},
                                      {"rate", required_argument, nullptr, kRate},
                                      {"loops", required_argument, nullptr, kLoops},
                                      {"burst", required_argument, nullptr, kBurst},
                                      {"drop", no_argument, nullptr, kDrop},
                                      {"stall-timeout", required_argument, nullptr, kStall},
                                      {"link-timeout", required_argument, nullptr, kLinkTimeout},
                                      {"linger", required_argument, nullptr, kLinger},
                                      {"delay", required_argument, nullptr, kDelay},
                                      {"file-prefix", required_argument, nullptr, kPrefix},
                                      {"lcore", required_argument, nullptr, kLcore},
                                      {"id", required_argument, nullptr, kId},
                                      {"abstract", no_argument, nullptr, kAbstract},
                                      {"huge", no_argument, nullptr, kHuge},
                                      {"memory", required_argument, nullptr, kMemory},
                                      {"log-level", required_argument, nullptr, kLogLevel},
                                      {"help", no_argument, nullptr, 'h'},
                                      {nullptr, 0, nullptr, 0}};
    Options o;
    opterr = 0;
    int c;
    int index = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, &index)) != -1) {
        switch (c) {
            case kPcap:
                o.pcap = optarg;
                break;
            case kSocket:
                o.socket = optarg;
                break;
            case kRate:
                o.rate = parse_double("rate", optarg, 1, 1e9);
                break;
            case kLoops:
                o.loops = parse_uint("loops", optarg, 1, 1000000000);
                break;
            case kBurst:
                o.burst = static_cast<unsigned>(parse_uint("burst", optarg, 1, kMaxBurst));
                break;
            case kDrop:
                o.drop = true;
                break;
            case kStall:
                o.stall_timeout = parse_double("stall-timeout", optarg, 0.001, 3600);
                break;
            case kLinkTimeout:
                o.link_timeout = parse_double("link-timeout", optarg, 0.001, 3600);
                break;
            case kLinger:
                o.linger = parse_double("linger", optarg, 0, 86400);
                break;
            case kDelay:
                o.delay = parse_double("delay", optarg, 0, 3600);
                break;
            case kPrefix:
                o.file_prefix = optarg;
                break;
            case kLcore:
                o.lcore = static_cast<unsigned>(parse_uint("lcore", optarg, 0, RTE_MAX_LCORE - 1));
                break;
            case kId:
                o.id = static_cast<unsigned>(parse_uint("id", optarg, 0, UINT32_MAX));
                break;
            case kAbstract:
                o.abstract = true;
                break;
            case kHuge:
                o.huge = true;
                break;
            case kMemory:
                o.memory_mb = static_cast<unsigned>(parse_uint("memory", optarg, 16, 1 << 20));
                break;
            case kLogLevel:
                o.log_level = optarg;
                if (o.log_level != "error" && o.log_level != "warning" && o.log_level != "notice" &&
                    o.log_level != "info" && o.log_level != "debug")
                    bad_argument("--log-level " + o.log_level +
                                 ": want error, warning, notice, info or debug");
                break;
            case 'h':
                usage(stdout);
                std::exit(0);
            case ':':
                bad_argument(std::string(argv[optind - 1]) + " needs a value");
            default:
                bad_argument(std::string("unknown option ") + argv[optind - 1]);
        }
    }
    if (optind < argc)
        bad_argument(std::string("unexpected argument ") + argv[optind]);
    if (o.pcap.empty())
        bad_argument("--pcap FILE is required");
    if (o.socket.empty())
        bad_argument("--socket PATH is required");
    if (o.rate <= 0)
        bad_argument("--rate PPS is required");
    if (o.socket.find(',') != std::string::npos)
        bad_argument("--socket " + o.socket + ": a comma would end the vdev argument");
    if (o.socket.size() >= sizeof(sockaddr_un::sun_path))
        bad_argument("--socket " + o.socket + ": longer than a unix socket path may be");
    if (o.file_prefix.empty())
        o.file_prefix = "ds_paced_gen" + std::to_string(getpid());
    return o;
}

// The whole capture in one buffer: frames back to back, offsets and lengths beside it.
struct Capture {
    std::vector<uint8_t> data;
    std::vector<uint64_t> offset;
    std::vector<uint32_t> length;
    uint64_t bytes = 0;
};

bool load_capture(const std::string& path, Capture& cap, std::string& error) {
    char errbuf[PCAP_ERRBUF_SIZE] = {0};
    pcap_t* pc = pcap_open_offline(path.c_str(), errbuf);
    if (pc == nullptr) {
        error = errbuf;  // names the file
        return false;
    }
    if (pcap_datalink(pc) != DLT_EN10MB) {
        error = path + ": link type " + std::to_string(pcap_datalink(pc)) +
                ", memif carries Ethernet frames only";
        pcap_close(pc);
        return false;
    }
    pcap_pkthdr* hdr = nullptr;
    const u_char* bytes = nullptr;
    int rc;
    while ((rc = pcap_next_ex(pc, &hdr, &bytes)) == 1) {
        if (hdr->caplen > kMaxFrame) {
            error = path + ": packet " + std::to_string(cap.length.size() + 1) + " has " +
                    std::to_string(hdr->caplen) + " bytes; frames over " +
                    std::to_string(kMaxFrame) + " bytes need multi-segment mbufs (not done)";
            pcap_close(pc);
            return false;
        }
        cap.offset.push_back(cap.data.size());
        cap.length.push_back(hdr->caplen);
        cap.data.insert(cap.data.end(), bytes, bytes + hdr->caplen);
        cap.bytes += hdr->caplen;
    }
    if (rc == -1) {
        error = path + ": " + pcap_geterr(pc);
        pcap_close(pc);
        return false;
    }
    pcap_close(pc);
    if (cap.length.empty()) {
        error = path + ": no packets";
        return false;
    }
    return true;
}

// A stale socket file (left by a killed server) would make the memif bind fail: remove it, but
// never one that somebody still listens on.
bool clear_stale_socket(const std::string& path, std::string& error) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0)
        return true;
    if (!S_ISSOCK(st.st_mode)) {
        error = path + ": exists and is not a socket";
        return false;
    }
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path.c_str());
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
    int err = errno;
    ::close(fd);
    if (rc == 0) {
        error = path + ": another memif server is listening there";
        return false;
    }
    if (err != ECONNREFUSED && err != ENOTSOCK && err != EPROTOTYPE) {
        error = path + ": exists and cannot be checked (" + std::strerror(err) + ")";
        return false;
    }
    if (unlink(path.c_str()) != 0) {
        error = path + ": stale socket file cannot be removed (" + std::strerror(errno) + ")";
        return false;
    }
    std::fprintf(stderr, "ds_paced_gen: removed stale socket file %s\n", path.c_str());
    return true;
}

bool link_up(uint16_t port) {
    rte_eth_link link{};
    return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

// Sleeps through most of a wait (the CPU is usually shared with the receiver's stats core) and
// spins the last stretch on the TSC.
void wait_until(uint64_t deadline, uint64_t hz) {
    const uint64_t spin = hz / 20000;  // 50 us
    for (;;) {
        uint64_t now = rte_rdtsc();
        if (now >= deadline || g_stop)
            return;
        uint64_t left = deadline - now;
        if (left > 2 * spin)
            rte_delay_us_sleep(static_cast<unsigned>((left - spin) * 1000000 / hz));
        else
            rte_pause();
    }
}

struct Result {
    uint64_t offered = 0;
    uint64_t offered_bytes = 0;
    uint64_t tx_failed = 0;
    uint64_t late = 0;
    uint64_t retries = 0;
    double seconds = 0;
    std::string error;
};

Result send_all(const Options& o, const Capture& cap, uint16_t port, rte_mempool* pool,
                uint64_t link_deadline) {
    Result r;
    const uint64_t hz = rte_get_tsc_hz();
    const double cycles_per_packet = static_cast<double>(hz) / o.rate;
    const uint64_t stall_cycles = static_cast<uint64_t>(o.stall_timeout * static_cast<double>(hz));
    // Further behind than this and the schedule restarts from now (no catch-up burst).
    const double max_lag = 8.0 * o.burst * cycles_per_packet;
    const uint64_t total = cap.length.size() * o.loops;
    rte_mbuf* mbufs[kMaxBurst];
    uint32_t lengths[kMaxBurst];  // sent mbufs are freed by the PMD: keep the lengths here
    uint64_t next_index = 0;
    double schedule = 0;  // TSC of the next burst
    uint64_t first_tsc = 0, last_tsc = 0;
    bool started = false;
    while (next_index < total && !g_stop) {
        const unsigned n = static_cast<unsigned>(std::min<uint64_t>(o.burst, total - next_index));
        if (rte_pktmbuf_alloc_bulk(pool, mbufs, n) != 0) {
            r.error = "mbuf pool exhausted";
            break;
        }
        for (unsigned i = 0; i < n; ++i) {
            const uint64_t k = (next_index + i) % cap.length.size();
            lengths[i] = cap.length[k];
            char* dst = rte_pktmbuf_append(mbufs[i], static_cast<uint16_t>(cap.length[k]));
            std::memcpy(dst, cap.data.data() + cap.offset[k], cap.length[k]);
        }
        if (started) {
            wait_until(static_cast<uint64_t>(schedule), hz);
            double now = static_cast<double>(rte_rdtsc());
            if (now - schedule > max_lag) {
                schedule = now;
                ++r.late;
            }
        }
        unsigned sent = 0;
        unsigned idle = 0;
        uint64_t last_progress = rte_rdtsc();
        for (;;) {
            unsigned k = rte_eth_tx_burst(port, 0, mbufs + sent, static_cast<uint16_t>(n - sent));
            uint64_t now = rte_rdtsc();
            if (k > 0) {
                if (!started) {
                    // The clock starts when the client first polls (its first refill of the
                    // ring): before that, tx_burst takes nothing and the link wait applies.
                    started = true;
                    first_tsc = now;
                    schedule = static_cast<double>(now);
                }
                for (unsigned i = sent; i < sent + k; ++i)
                    r.offered_bytes += lengths[i];
                sent += k;
                last_progress = now;
            }
            if (sent == n)
                break;
            if (o.drop && started)
                break;
            if (g_stop)
                break;
            if (!started ? now >= link_deadline + stall_cycles
                         : now - last_progress >= stall_cycles) {
                if (!started)
                    r.error = "the memif client connected but never polled the ring";
                else
                    std::fprintf(stderr,
                                 "ds_paced_gen: the ring did not move for %.1f s, %u packets "
                                 "given up\n",
                                 o.stall_timeout, n - sent);
                break;
            }
            if (!link_up(port)) {
                r.error = "the memif peer disconnected";
                break;
            }
            if (started)
                ++r.retries;
            // A full ring: spin a little, then let the CPU go (it may be the receiver's).
            if (++idle % 256 == 0)
                rte_delay_us_sleep(10);
            else
                rte_pause();
        }
        if (sent < n) {
            rte_pktmbuf_free_bulk(mbufs + sent, n - sent);
            r.tx_failed += n - sent;
        }
        r.offered += sent;
        next_index += n;
        if (sent > 0)
            last_tsc = rte_rdtsc();
        if (!r.error.empty())
            break;
        schedule += n * cycles_per_packet;
    }
    if (g_stop && next_index < total && r.error.empty())
        r.error = "interrupted";
    if (started && last_tsc > first_tsc)
        r.seconds = static_cast<double>(last_tsc - first_tsc) / static_cast<double>(hz);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_options(argc, argv);

    Capture cap;
    std::string error;
    if (!load_capture(o.pcap, cap, error)) {
        std::fprintf(stderr, "ds_paced_gen: %s\n", error.c_str());
        return 1;
    }
    if (!o.abstract && !clear_stale_socket(o.socket, error)) {
        std::fprintf(stderr, "ds_paced_gen: %s\n", error.c_str());
        return 1;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    const std::string vdev = "net_memif0,role=server,id=" + std::to_string(o.id) +
                             ",socket=" + o.socket +
                             ",socket-abstract=" + (o.abstract ? "yes" : "no");
    std::vector<std::string> eal = {"ds_paced_gen", "-l", std::to_string(o.lcore)};
    for (const char* a : {"--file-prefix", o.file_prefix.c_str(), "--no-pci", "--no-telemetry",
                          "--vdev", vdev.c_str()})
        eal.emplace_back(a);
    eal.push_back("-m");
    eal.push_back(std::to_string(o.memory_mb));
    eal.push_back("--log-level=" + o.log_level);
    if (!o.huge)
        eal.push_back("--no-huge");
    std::vector<char*> eal_argv;
    for (auto& a : eal)
        eal_argv.push_back(a.data());
    eal_argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(eal.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "ds_paced_gen: EAL initialisation failed: %s\n",
                     rte_strerror(rte_errno));
        return 1;
    }

    int status = 0;
    uint16_t port = 0;
    bool have_port = false;
    bool port_started = false;
    rte_mempool* pool = nullptr;
    Result r;
    do {
        if (rte_eth_dev_get_port_by_name("net_memif0", &port) != 0) {
            std::fprintf(stderr,
                         "ds_paced_gen: net_memif0 was not probed (is librte_net_memif "
                         "installed?)\n");
            status = 3;
            break;
        }
        have_port = true;
        pool = rte_pktmbuf_pool_create("gen_mbufs", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       static_cast<int>(rte_socket_id()));
        if (pool == nullptr) {
            std::fprintf(stderr, "ds_paced_gen: cannot create the mbuf pool: %s\n",
                         rte_strerror(rte_errno));
            status = 1;
            break;
        }
        rte_eth_conf conf{};
        int rc = rte_eth_dev_configure(port, 0, 1, &conf);
        if (rc == 0)
            rc = rte_eth_tx_queue_setup(port, 0, 1024, static_cast<unsigned>(rte_socket_id()),
                                        nullptr);
        if (rc == 0)
            rc = rte_eth_dev_start(port);
        if (rc != 0) {
            std::fprintf(stderr, "ds_paced_gen: cannot set up net_memif0: %s\n", rte_strerror(-rc));
            status = 1;
            break;
        }
        port_started = true;
        rte_eth_stats_reset(port);
        std::fprintf(stderr,
                     "ds_paced_gen: ready: %zu packets, %" PRIu64
                     " bytes from %s; "
                     "waiting for a memif client on %s\n",
                     cap.length.size(), cap.bytes, o.pcap.c_str(), o.socket.c_str());
        std::fflush(stderr);

        const uint64_t hz = rte_get_tsc_hz();
        const uint64_t link_deadline =
            rte_rdtsc() + static_cast<uint64_t>(o.link_timeout * static_cast<double>(hz));
        while (!link_up(port) && rte_rdtsc() < link_deadline && !g_stop)
            rte_delay_us_sleep(10000);
        if (!link_up(port)) {
            std::fprintf(stderr,
                         "ds_paced_gen: %s: no memif client connected within %.1f s (start the "
                         "receiver with --port net_memif0,role=client,socket=%s,socket-abstract="
                         "%s)\n",
                         g_stop ? "interrupted" : "timeout", o.link_timeout, o.socket.c_str(),
                         o.abstract ? "yes" : "no");
            status = 1;
            break;
        }
        const uint64_t delay_end =
            rte_rdtsc() + static_cast<uint64_t>(o.delay * static_cast<double>(hz));
        while (rte_rdtsc() < delay_end && !g_stop)
            rte_delay_us_sleep(10000);
        std::fprintf(stderr, "ds_paced_gen: link up; sending %" PRIu64 " packets at %.0f pps\n",
                     cap.length.size() * o.loops, o.rate);
        std::fflush(stderr);

        r = send_all(o, cap, port, pool, link_deadline);
        rte_eth_stats st{};
        rte_eth_stats_get(port, &st);
        std::printf("{\"offered\": %" PRIu64 ", \"tx_failed\": %" PRIu64
                    ", \"seconds\": %.6f, \"rate_pps\": %.1f, \"target_pps\": %.1f, "
                    "\"bytes\": %" PRIu64 ", \"port_opackets\": %" PRIu64
                    ", \"packets_in_capture\": %zu, \"loops\": %" PRIu64 ", \"late\": %" PRIu64
                    ", \"retries\": %" PRIu64 ", \"mode\": \"%s\"}\n",
                    r.offered, r.tx_failed, r.seconds,
                    r.seconds > 0 ? static_cast<double>(r.offered) / r.seconds : 0.0, o.rate,
                    r.offered_bytes, st.opackets, cap.length.size(), o.loops, r.late, r.retries,
                    o.drop ? "drop" : "retry");
        std::fflush(stdout);
        if (!r.error.empty()) {
            std::fprintf(stderr, "ds_paced_gen: %s\n", r.error.c_str());
            status = 1;
        } else if (r.tx_failed != 0 && !o.drop) {
            status = 1;
        }

        // Let the client drain the ring before the shared memory goes away.
        const uint64_t linger_end =
            rte_rdtsc() + static_cast<uint64_t>(o.linger * static_cast<double>(hz));
        while (rte_rdtsc() < linger_end && !g_stop && link_up(port))
            rte_delay_us_sleep(10000);
        // The link reads down as soon as the peer leaves, while memif's interrupt thread is
        // still unmapping the peer's regions: closing the port under it crashed now and then
        // (more often with larger rings). Give it time to finish.
        if (!link_up(port))
            rte_delay_us_sleep(200000);
    } while (false);

    if (port_started)
        rte_eth_dev_stop(port);
    if (have_port)
        rte_eth_dev_close(port);
    if (pool != nullptr)
        rte_mempool_free(pool);
    rte_eal_cleanup();
    if (!o.abstract)
        unlink(o.socket.c_str());  // memif removes it on close; a no-op then
    return status;
}
