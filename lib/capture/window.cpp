// WindowAccumulator: the stats core's interval, hour, day and total windows.
#include "darkscope/window.hpp"

#include <algorithm>

#include "worker.hpp"

namespace darkscope {

WindowAccumulator::WindowAccumulator(uint32_t precise_sketches)
    : counters(CounterSet::zeroed()),
      pool(std::make_shared<SketchPool>(precise_sketches)),
      sources(std::make_unique<SpaceSaving>(kHeavyCapacity)),
      prefixes(std::make_unique<SpaceSaving>(kHeavyCapacity)) {
    counters->pool = pool.get();
}

void WindowAccumulator::reset(int64_t start) {
    if (counters->packets != 0)
        ++version;
    counters->clear();
    sources->clear();
    prefixes->clear();
    start_s = start;
    end_s = start;
}

void WindowAccumulator::add(const WindowAccumulator& interval) {
    if (start_s < 0)
        start_s = interval.start_s;
    if (interval.counters->packets != 0)
        ++version;
    counters->merge(*interval.counters);
    sources->merge(*interval.sources);
    prefixes->merge(*interval.prefixes);
    end_s = std::max(end_s, interval.end_s);
}

WindowData WindowAccumulator::publish(size_t top_n) const {
    return published(copy_counters(*counters), top_n);
}

WindowData WindowAccumulator::publish_shared(size_t top_n) const {
    // The counters' pool must live as long as they do: the snapshot owns both.
    auto owners =
        std::make_shared<std::pair<std::shared_ptr<CounterSet>, std::shared_ptr<SketchPool>>>(
            counters, pool);
    return published(std::shared_ptr<const CounterSet>(owners, counters.get()), top_n);
}

WindowData WindowAccumulator::published(std::shared_ptr<const CounterSet> published_counters,
                                        size_t top_n) const {
    WindowData w;
    w.counters = std::move(published_counters);
    w.sources = sources->top(top_n);
    w.prefixes = prefixes->top(top_n);
    w.heavy_error_bound = sources->error_bound();
    w.start_s = start_s;
    w.end_s = end_s;
    return w;
}

}  // namespace darkscope
