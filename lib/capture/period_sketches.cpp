// period_sketches: a period's source sketches as the fleet ships them (period_sketches.hpp).
#include "period_sketches.hpp"

#include <map>

#include "darkscope/country.hpp"

namespace darkscope {

namespace {

// A key's unique counter as it stands: its pooled sketch (P = 14) or its inline one (P = 8,
// exact while sparse).
void serialize_uniques(const PooledUniques& u, const SketchPool* pool, std::vector<uint8_t>& out) {
    if (u.handle != 0)
        pool->at(u.handle).serialize(out);
    else
        u.inline_sketch.serialize(out);
}

}  // namespace

std::vector<FleetSketch> period_sketches(const CounterSet& c,
                                         const std::vector<std::string>& sensor_names) {
    std::vector<FleetSketch> out;
    auto sketch = [&](const char* dimension, std::string key) -> std::vector<uint8_t>& {
        out.push_back(FleetSketch{dimension, std::move(key), {}});
        return out.back().sketch;
    };
    // Always, even empty: an interval's `total` sketch marks it as shipped with its sketches.
    c.total_sources.serialize(sketch("total", "all"));
    {
        // As period_rows: the probe classes' keys, those sharing a service name merged.
        SketchPool scratch(SketchPool::kUnbounded);
        std::map<std::string, PooledUniques> services;
        c.services.for_each([&](uint64_t key, const ServiceCounts& v) {
            if ((key & kProbeServiceBit) == 0)
                return;
            services[service_name(static_cast<uint32_t>(key & 0xffffffffu))].merge(
                v.sources, &scratch, c.pool);
        });
        for (const auto& [name, u] : services)
            serialize_uniques(u, &scratch, sketch("service", name));
    }
    for (unsigned i = 0; i <= kMaxSensors; ++i) {
        if (c.sensor_sources[i].empty())
            continue;
        const std::string name = i == kSensorSlotUnmatched ? std::string("unmatched")
                                 : i < sensor_names.size() ? sensor_names[i]
                                                           : "sensor" + std::to_string(i);
        c.sensor_sources[i].serialize(sketch("sensor", name));
    }
    for (uint16_t i = 0; i < kCountrySlots; ++i)
        if (c.countries[i].packets != 0)
            serialize_uniques(c.country_sources[i], c.pool, sketch("country", country_code(i)));
    return out;
}

}  // namespace darkscope
