// The offline reader (--read): pcap and pcapng records copied into mbufs, stamped with their
// capture time, wire length and link type, and dealt in bursts over the workers' rings; the
// interval being counted closes when packet time passes its end (OfflineIntervals).
#include <pcap/pcap.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <optional>

#include "darkscope/capture_file.hpp"
#include "darkscope/decode.hpp"
#include "darkscope/engine.hpp"
#include "darkscope/offline_intervals.hpp"
#include "darkscope/process_clock.hpp"
#include "darkscope/window.hpp"
#include "worker.hpp"

namespace darkscope {

std::vector<std::string> read_order(
    const std::vector<std::string>& files,
    const std::function<std::optional<int64_t>(const std::string&)>& first_packet_s) {
    std::vector<std::pair<int64_t, std::string>> timed;
    for (const auto& file : files) {
        const int64_t previous = timed.empty() ? INT64_MIN : timed.back().first;
        timed.emplace_back(first_packet_s(file).value_or(previous), file);
    }
    std::stable_sort(timed.begin(), timed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> ordered;
    for (auto& [first, file] : timed)
        ordered.push_back(std::move(file));
    return ordered;
}

std::optional<OfflineIntervals::Closed> OfflineIntervals::place(int64_t sec) {
    if (!started_) {
        start_s_ = window_start(sec, length_s_);
        started_ = true;
    }
    if (sec < start_s_) [[unlikely]] {
        ++late_.packets;
        late_.latest_lag_s = std::max(late_.latest_lag_s, start_s_ - sec);
    }
    if (sec < start_s_ + length_s_)
        return std::nullopt;
    const Closed closed{start_s_, start_s_ + length_s_};
    start_s_ = window_start(sec, length_s_);
    return closed;
}

namespace {

// A packet's seconds as the file holds them. A pcap file's are unsigned 32 bits (to 2106), but
// libpcap hands them over through a signed 32-bit field, so those after 2038-01-19 arrive
// negative; no capture holds times before 1970, so a negative value is read as unsigned.
// pcapng's 64-bit times come through whole.
int64_t packet_seconds(const pcap_pkthdr& hdr) {
    const int64_t s = static_cast<int64_t>(hdr.ts.tv_sec);
    return s < 0 && s >= INT32_MIN ? s + (int64_t{1} << 32) : s;
}

std::optional<int64_t> first_packet_s(const std::string& file) {
    char errbuf[PCAP_ERRBUF_SIZE];
    std::optional<int64_t> first;
    if (pcap_t* pc = open_capture(file, errbuf)) {
        pcap_pkthdr* hdr = nullptr;
        const u_char* bytes = nullptr;
        if (pcap_next_ex(pc, &hdr, &bytes) == 1)
            first = packet_seconds(*hdr);
        pcap_close(pc);
    }
    return first;
}

}  // namespace

int Engine::run_offline() {
    launch_workers();
    int status = 0;
    OfflineIntervals intervals(config_.interval_s);
    std::vector<uint64_t> enqueued(workers_.size(), 0);
    auto wait_counted = [&] {
        for (size_t i = 0; i < workers_.size(); ++i)
            for (unsigned spins = 0;
                 workers_[i]->dequeued.load(std::memory_order_acquire) != enqueued[i]; ++spins)
                spin_wait(spins);
    };
    // Packets go to workers in chunks of a burst, round robin.
    std::vector<rte_mbuf*> chunk;
    chunk.reserve(kMaxBurst);
    size_t next_worker = 0;
    auto flush_chunk = [&] {
        if (chunk.empty())
            return;
        WorkerContext* w = workers_[next_worker];
        unsigned done = 0;
        for (unsigned spins = 0; done < chunk.size(); ++spins) {
            if (spins)
                spin_wait(spins);
            done +=
                rte_ring_sp_enqueue_burst(w->ring, reinterpret_cast<void**>(chunk.data() + done),
                                          static_cast<unsigned>(chunk.size() - done), nullptr);
            wake_worker(*w);
        }
        enqueued[next_worker] += chunk.size();
        chunk.clear();
        next_worker = (next_worker + 1) % workers_.size();
    };

    const std::vector<std::string> files = read_order(config_.read_files, first_packet_s);
    if (files != config_.read_files)
        RTE_LOG(NOTICE, USER1, "--read: files read in the time order of their first packets\n");
    char errbuf[PCAP_ERRBUF_SIZE];
    bool first_packet_logged = false;
    // One packet of a file to a worker; false once a stop is requested.
    uint64_t file_packets = 0;
    // An interval ends with a marker in each worker's ring (the workers' epoch flip) and is
    // closed at the next interval's end, after that interval's marker: the workers count an
    // interval while the one before it closes, and a long sparse capture does not wait for a
    // worker to wake for every interval. Two epochs: the next interval's packets go to the slot
    // of the one closing, so none is enqueued before that close. With recording, the close
    // comes before the marker, as live: the writer takes an interval's packets at the marker
    // and must know the earlier interval closed first.
    std::optional<OfflineIntervals::Closed> pending;
    auto close_pending = [&] {
        if (pending)
            close_interval(pending->start_s, pending->end_s, false);
        pending.reset();
    };
    auto send_markers = [&] {
        for (auto* w : workers_) {
            for (unsigned spins = 0;
                 rte_ring_sp_enqueue(w->ring, reinterpret_cast<void*>(epoch_marker())) != 0;
                 ++spins)
                spin_wait(spins);
            wake_worker(*w);
        }
    };
    auto deal = [&](int64_t seconds, uint64_t ts_ns, const u_char* bytes, uint32_t caplen,
                    uint32_t wire_len, uint8_t link) {
        if (auto closed = intervals.place(seconds)) {
            flush_chunk();
            if (recorder_) {
                close_pending();
                send_markers();
            } else {
                send_markers();
                close_pending();
            }
            pending = closed;
        }
        rte_mbuf* m = rte_pktmbuf_alloc(offline_pool_);
        while (m == nullptr) {
            // Every mbuf is in flight: hand over what we hold and wait for the workers.
            flush_chunk();
            wait_counted();
            m = rte_pktmbuf_alloc(offline_pool_);
        }
        const uint32_t copy = std::min<uint32_t>(caplen, rte_pktmbuf_tailroom(m));
        std::memcpy(rte_pktmbuf_mtod(m, void*), bytes, copy);
        m->data_len = static_cast<uint16_t>(copy);
        m->pkt_len = copy;
        OfflineMeta* meta = offline_meta(m);
        meta->ts_ns = ts_ns;
        meta->wire_len = std::max<uint32_t>(wire_len, copy);
        meta->link = link;
        if (!first_packet_logged) [[unlikely]] {
            // What an analyst waits for (scripts/bench.sh reads it): set-up, EAL, pools,
            // tables and attribution, from exec to the first packet handed to a worker.
            RTE_LOG(NOTICE, USER1, "--read: first packet dealt %.3f s after exec\n",
                    seconds_since_exec());
            first_packet_logged = true;
        }
        chunk.push_back(m);
        if (chunk.size() == workers_[next_worker]->burst)
            flush_chunk();
        if ((++file_packets & 1023) == 0) {
            poll_control();
            if (control_flags().stop.load())
                return false;
        }
        return true;
    };
    auto link_of = [](int dlt) {
        LinkType link_type;
        link_type_from_dlt(dlt, &link_type);  // unknown: counted unsupported_link
        return static_cast<uint8_t>(link_type);
    };
    for (const auto& file : files) {
        if (control_flags().stop.load())
            break;
        pcap_t* pc = open_capture(file, errbuf, true);
        if (pc == nullptr) {
            RTE_LOG(ERR, USER1, "--read %s: %s\n", file.c_str(), errbuf);
            status = 1;
            continue;
        }
        const uint8_t link = link_of(pcap_datalink(pc));
        pcap_pkthdr* hdr = nullptr;
        const u_char* bytes = nullptr;
        file_packets = 0;
        int rc;
        while ((rc = pcap_next_ex(pc, &hdr, &bytes)) == 1) {
            const uint64_t ts_ns = static_cast<uint64_t>(packet_seconds(*hdr)) * 1000000000ull +
                                   static_cast<uint64_t>(hdr->ts.tv_usec);
            if (!deal(packet_seconds(*hdr), ts_ns, bytes, hdr->caplen, hdr->len, link))
                break;
        }
        std::string read_error = rc == -1 ? pcap_geterr(pc) : "";
        // libpcap gives up on a pcapng section whose interfaces differ in link type or snap
        // length; the project's reader goes on from the packet libpcap stopped at.
        if (rc == -1 && read_error.find("different from the") != std::string::npos) {
            RTE_LOG(NOTICE, USER1,
                    "--read %s: interfaces of different link types or snap lengths: read "
                    "on after packet %" PRIu64 " by darkscope's pcapng reader\n",
                    file.c_str(), file_packets);
            read_error.clear();
            PcapngReader reader(open_capture_stream(file));
            PcapngPacket p{};
            int got = 1;
            for (uint64_t skip = file_packets; skip > 0 && got == 1; --skip)
                got = reader.next(&p);
            while (got == 1 && (got = reader.next(&p)) == 1) {
                const auto seconds = static_cast<int64_t>(p.ts_ns / 1000000000ull);
                if (!deal(seconds, p.ts_ns, p.data, p.caplen, p.wire_len, link_of(p.dlt)))
                    break;
            }
            if (got == -1)
                read_error = reader.error();
        }
        if (!read_error.empty()) {
            RTE_LOG(ERR, USER1, "--read %s: read error after %" PRIu64 " packets: %s\n",
                    file.c_str(), file_packets, read_error.c_str());
            status = 1;
        }
        if (const auto late = intervals.take_late(); late.packets != 0)
            RTE_LOG(WARNING, USER1,
                    "--read %s: %" PRIu64 " packets stamped up to %" PRId64
                    " s before the interval being counted were counted in it (the files overlap "
                    "in time, or its packets are out of order)\n",
                    file.c_str(), late.packets, late.latest_lag_s);
        pcap_close(pc);
    }
    flush_chunk();
    close_pending();
    wait_counted();
    begin_stop();
    if (first_packet_logged)
        // The end of the workers' part (scripts/bench/fleet.py reads it): what follows, the
        // last interval's close and the exporters' last delivery, is not the workers' rate.
        RTE_LOG(NOTICE, USER1, "--read: last packet counted %.3f s after exec\n",
                seconds_since_exec());
    stop_workers();
    if (intervals.started())
        close_interval(intervals.start_s(), intervals.end_s(), true);
    else
        publish();
    flush_rollups();
    publish();  // the history's counts after its flush, for --summary and telemetry
    return status;
}

}  // namespace darkscope
