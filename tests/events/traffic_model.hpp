// A small stand-in for the stats core: generates per-interval traffic (sensor x service x
// country cells with Poisson packet counts and sources drawn from per-country pools), plants
// surges in it, and aggregates the five surge dimensions with exact unique-source counts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "darkscope/events.hpp"

namespace darkscope::test {

struct ServiceRate {
    std::string service;
    double packets;  // mean packets per interval, all sensors together
};

struct CountryShare {
    std::string country;
    double share;
};

// Extra traffic added to some intervals.
struct Plant {
    int first_interval = 0, last_interval = 0;  // inclusive
    std::vector<std::string> sensors;           // empty = every sensor
    std::string service;
    std::vector<std::string> countries;  // empty = every country by its share
    double packets = 0;                  // mean extra packets per interval, all cells together
    uint64_t source_pool = 0;            // sources the extra traffic comes from (a new pool)
};

class TrafficModel {
  public:
    explicit TrafficModel(uint64_t seed) : rng_(seed) {}

    std::vector<std::string> sensors = {"tokyo-a", "tokyo-b", "osaka", "sapporo"};
    std::vector<ServiceRate> services = {
        {"23/tcp", 1200},  {"445/tcp", 600},  {"22/tcp", 300},  {"80/tcp", 250},   {"53/udp", 200},
        {"3389/tcp", 150}, {"8080/tcp", 100}, {"icmp/8/0", 80}, {"5060/udp", 60},  {"123/udp", 40},
        {"1433/tcp", 30},  {"37215/tcp", 20}, {"6379/tcp", 10}, {"21318/tcp", 0.4}};
    std::vector<CountryShare> countries = {{"CN", 0.30}, {"US", 0.20}, {"RU", 0.10},
                                           {"NL", 0.10}, {"BR", 0.08}, {"DE", 0.07},
                                           {"JP", 0.05}, {"KR", 0.05}, {"IN", 0.05}};
    uint64_t sources_per_country = 400;
    std::vector<Plant> plants;
    // One extra source sending this many packets to one cell in some intervals.
    struct NoisyHost {
        int first_interval = 0, last_interval = 0;
        std::string sensor, service, country;
        uint64_t packets = 0;
    };
    std::vector<NoisyHost> noisy_hosts;

    // The series of interval `index` for the engine (all five dimensions, every key counted).
    std::vector<SeriesPoint> interval(int index) {
        // Packets are gathered per (sensor, service, country) cell first; the dimensions are
        // built from the cells, with unique sources by sort and unique over source ids.
        struct Cell {
            uint64_t packets = 0;
            std::vector<uint64_t> sources;
        };
        std::map<std::tuple<std::string, std::string, std::string>, Cell> cells;
        auto draw_cell = [&](const std::string& sensor, const std::string& service,
                             const std::string& country, double mean, uint64_t pool_base,
                             uint64_t pool) {
            uint64_t n = std::poisson_distribution<uint64_t>(mean)(rng_);
            if (n == 0) {
                return;
            }
            Cell& cell = cells[{sensor, service, country}];
            std::uniform_int_distribution<uint64_t> pick(0, pool - 1);
            cell.packets += n;
            for (uint64_t i = 0; i < n; ++i) {
                cell.sources.push_back(pool_base + pick(rng_));
            }
        };
        for (size_t si = 0; si < services.size(); ++si) {
            for (size_t ci = 0; ci < countries.size(); ++ci) {
                for (const std::string& sensor : sensors) {
                    double mean = services[si].packets * countries[ci].share /
                                  static_cast<double>(sensors.size());
                    draw_cell(sensor, services[si].service, countries[ci].country, mean,
                              (ci + 1) * 1'000'000, sources_per_country);
                }
            }
        }
        for (size_t pi = 0; pi < plants.size(); ++pi) {
            const Plant& p = plants[pi];
            if (index < p.first_interval || index > p.last_interval) {
                continue;
            }
            std::vector<std::string> where = p.sensors.empty() ? sensors : p.sensors;
            std::vector<CountryShare> from;
            for (const CountryShare& c : countries) {
                bool listed = p.countries.empty();
                for (const std::string& name : p.countries) {
                    listed = listed || name == c.country;
                }
                if (listed) {
                    from.push_back(c);
                }
            }
            double share_total = 0;
            for (const CountryShare& c : from) {
                share_total += c.share;
            }
            for (size_t ci = 0; ci < from.size(); ++ci) {
                for (const std::string& sensor : where) {
                    double mean = p.packets * from[ci].share / share_total /
                                  static_cast<double>(where.size());
                    draw_cell(sensor, p.service, from[ci].country, mean,
                              (pi + 1) * 100'000'000 + (ci + 1) * 1'000'000, p.source_pool);
                }
            }
        }
        for (size_t hi = 0; hi < noisy_hosts.size(); ++hi) {
            const NoisyHost& h = noisy_hosts[hi];
            if (index >= h.first_interval && index <= h.last_interval) {
                Cell& cell = cells[{h.sensor, h.service, h.country}];
                cell.packets += h.packets;
                cell.sources.push_back(7'000'000'000 + hi);
            }
        }

        struct Acc {
            uint64_t packets = 0;
            std::vector<uint64_t> sources;
            std::map<std::string, uint64_t> countries, sensors;
        };
        std::map<std::pair<std::string, std::string>, Acc> acc;
        for (auto& [id, cell] : cells) {
            const auto& [sensor, service, country] = id;
            for (auto [dim, key] : {std::pair<std::string, std::string>{"service", service},
                                    {"sensor_service", sensor + "|" + service},
                                    {"country_service", country + "|" + service},
                                    {"country", country},
                                    {"sensor", sensor}}) {
                Acc& a = acc[{dim, key}];
                a.packets += cell.packets;
                a.sources.insert(a.sources.end(), cell.sources.begin(), cell.sources.end());
                a.countries[country] += cell.packets;
                a.sensors[sensor] += cell.packets;
            }
        }
        std::vector<SeriesPoint> out;
        for (auto& [id, a] : acc) {
            SeriesPoint p;
            p.dimension = id.first;
            p.key = id.second;
            p.packets = a.packets;
            std::sort(a.sources.begin(), a.sources.end());
            p.sources = static_cast<uint64_t>(std::unique(a.sources.begin(), a.sources.end()) -
                                              a.sources.begin());
            if (p.dimension == "service") {
                for (auto& [name, n] : a.countries) {
                    p.top_countries.emplace_back(name, n);
                }
                for (auto& [name, n] : a.sensors) {
                    p.top_sensors.emplace_back(name, n);
                }
            }
            out.push_back(std::move(p));
        }
        return out;
    }

  private:
    std::mt19937_64 rng_;
};

}  // namespace darkscope::test
