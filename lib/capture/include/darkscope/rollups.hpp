// What the stats core stores in the history for a window: the row set of a period (period_rows),
// the whole stored period of a window (stored_period_of), and a restarted live run's merge with
// what the earlier run stored for the same hour or day (merge_earlier_run). Pure functions: the
// engine's rollups.cpp drives them.
#pragma once

#include <string>
#include <vector>

#include "darkscope/counters.hpp"
#include "darkscope/heavy_hitters.hpp"
#include "darkscope/history_store.hpp"
#include "darkscope/window.hpp"

namespace darkscope {

// The row set of one period as the history stores it: top-K keys per dimension plus `other`.
std::vector<StoredRow> period_rows(const CounterSet& c, const std::vector<HeavyHitter>& sources,
                                   const std::vector<HeavyHitter>& prefixes,
                                   const std::vector<std::string>& sensor_names, size_t top_k);

// Seconds a stored period of `resolution` covers; an interval covers its window's own span.
uint32_t period_length_s(Resolution resolution, const WindowAccumulator& w);

// A window as the history stores it at `resolution`: its rows (period_rows, then `extra_rows`),
// its length and, for an hour or day, its serialized source sketch. `earlier`, when it holds the
// same period, is what an earlier run stored for it, merged in (merge_earlier_run).
StoredPeriod stored_period_of(const WindowAccumulator& w, Resolution resolution, size_t top_k,
                              const std::vector<std::string>& sensor_names,
                              const std::vector<StoredRow>& extra_rows,
                              const StoredPeriod* earlier);

// A live run's first hour or day rollup, merged with what an earlier run stored for the same
// period (a restart in the middle of the hour or day), so that the rewrite does not replace it:
// packets and bytes add up key by key (every dimension still sums to the total), the total's
// unique sources are the union of the two source sketches, and the other unique counts, whose
// sketches the history does not keep, are the larger of the two parts (a lower bound).
void merge_earlier_run(StoredPeriod& now, const StoredPeriod& earlier);

}  // namespace darkscope
