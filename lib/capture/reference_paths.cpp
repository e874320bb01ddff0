// The counting paths other than the full one (--pipeline STAGE): the benchmark's stage stops,
// which measure what each stage of the data path costs, and the plain reference the tests hold
// the full path to. The worker branches here once per burst.
#include "darkscope/attribution.hpp"
#include "darkscope/classify.hpp"
#include "darkscope/hash.hpp"
#include "worker.hpp"

namespace darkscope {

namespace {

// The reference path (--pipeline plain): each classified packet attributed, counted whole
// (count_packet: both sides, every sketch) and added to the top talkers, one at a time, in
// arrival order. No source tuples, prefetches or passes over the burst: what the full path
// spreads over its stages and the stats core, this does in one place.
void count_plain(WorkerContext& w, unsigned epoch_slot, PacketFacts* facts,
                 const uint64_t* times_ns, unsigned n) {
    CounterSet& table = *w.sets[epoch_slot];
    SpaceSaving& sources = *w.sources[epoch_slot];
    SpaceSaving& prefixes = *w.prefixes[epoch_slot];
    for (unsigned i = 0; i < n; ++i) {
        PacketFacts& f = facts[i];
        if (f.ip_version == 0) {
            count_packet(table, f, times_ns[i], 0, 0);
            continue;
        }
        if (w.attribution != nullptr)
            w.attribution->lookup_burst(w.id, &f, 1);
        const uint64_t src_hash = hash_address(f.src, f.ip_version);
        const uint64_t dst_hash = hash_address(f.dst, f.ip_version);
        count_packet(table, f, times_ns[i], src_hash, dst_hash);
        count_talkers(sources, prefixes, f, src_hash, dst_hash, times_ns[i] / 1'000'000'000ull);
    }
}

}  // namespace

void count_reference_path(WorkerContext& w, unsigned epoch_slot, PacketFacts* facts,
                          const uint64_t* times_ns, unsigned n) {
    CounterSet& table = *w.sets[epoch_slot];
    // Stage stops: the burst is taken as far as the stage, then only packets and bytes count.
    if (w.stage < PipelineStage::count) {
        if (w.stage >= PipelineStage::classify)
            w.classifier->classify_burst(facts, n);
        if (w.stage >= PipelineStage::attribute && w.attribution != nullptr)
            w.attribution->lookup_burst(w.id, facts, n);
        for (unsigned i = 0; i < n; ++i) {
            ++table.packets;
            table.bytes += facts[i].frame_len;
        }
        return;
    }
    w.classifier->classify_burst(facts, n);
    if (w.stage == PipelineStage::plain) {
        count_plain(w, epoch_slot, facts, times_ns, n);
        return;
    }
    // PipelineStage::count: every packet counted whole, without tuples or the pipeline. Its
    // dense service slots have no services entry to find them by.
    table.untracked_service_slots = true;
    if (w.attribution != nullptr)
        w.attribution->lookup_burst(w.id, facts, n);
    for (unsigned i = 0; i < n; ++i)
        count_packet(table, facts[i], times_ns[i], 0, 0, true);
}

}  // namespace darkscope
