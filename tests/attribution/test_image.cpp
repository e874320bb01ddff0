// The compiled image's life cycle: where it is saved, that a damaged, truncated, foreign or stale
// image is refused with the reason and rebuilt (never used), and that builders running at once
// never show a reader part of an image.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "darkscope/attribution.hpp"
#include "darkscope/geo_image.hpp"
#include "darkscope/image_cache.hpp"
#include "support.hpp"

namespace darkscope {
namespace {

namespace fs = std::filesystem;

class Image : public ::testing::Test {
  protected:
    void SetUp() override { test::ensure_eal(); }
};

// Small databases whose answers are known by construction.
struct Databases {
    test::TempDir dir;
    std::string country = dir.file("country.csv");
    std::string asn = dir.file("asn.csv");
    Databases() {
        std::ofstream(country) << "1.0.0.0,1.0.0.255,AU\n"
                                  "1.0.1.0,1.0.3.255,CN\n"
                                  "8.8.8.0,8.8.8.8,US\n"
                                  "2001:db8::,2001:db8::ffff,DE\n";
        write_asn(13335);
    }
    void write_asn(uint32_t first_asn) const {
        std::ofstream(asn, std::ios::trunc) << "1.0.0.0,1.0.0.127," << first_asn
                                            << ",Cloudflare\n"
                                               "8.8.8.5,8.8.8.200,15169,Google\n"
                                               "2001:db8::8000,2001:db8::1:0,64500,Doc\n";
    }
};

struct Probe {
    PacketFacts facts;
    uint16_t country;
    uint32_t asn;
};

uint16_t cc(const char* code) {
    return country_index(code);
}

// Addresses around every boundary above, with the answer the files give them.
std::vector<Probe> probes(uint32_t first_asn) {
    auto v6 = [](uint64_t low) {
        return test::facts_v6((geo::uint128{0x20010db800000000ull} << 64) | low);
    };
    return {
        {test::facts_v4(0x00ffffff), 0, 0},
        {test::facts_v4(0x01000000), cc("AU"), first_asn},
        {test::facts_v4(0x0100007f), cc("AU"), first_asn},
        {test::facts_v4(0x01000080), cc("AU"), 0},
        {test::facts_v4(0x01000100), cc("CN"), 0},
        {test::facts_v4(0x010003ff), cc("CN"), 0},
        {test::facts_v4(0x01000400), 0, 0},
        {test::facts_v4(0x08080804), cc("US"), 0},
        {test::facts_v4(0x08080805), cc("US"), 15169},
        {test::facts_v4(0x08080808), cc("US"), 15169},
        {test::facts_v4(0x08080809), 0, 15169},
        {test::facts_v4(0x080808c9), 0, 0},
        {v6(0), cc("DE"), 0},
        {v6(0x7fff), cc("DE"), 0},
        {v6(0x8000), cc("DE"), 64500},
        {v6(0xffff), cc("DE"), 64500},
        {v6(0x10000), 0, 64500},
        {v6(0x10001), 0, 0},
        {test::facts_v6(1), 0, 0},
    };
}

void expect_answers(Attribution& attribution, uint32_t first_asn, const std::string& label) {
    auto list = probes(first_asn);
    for (auto& p : list) {
        attribution.lookup_burst(0, &p.facts, 1);
        EXPECT_EQ(p.facts.country, p.country) << label;
        EXPECT_EQ(p.facts.asn, p.asn) << label;
    }
}

std::unique_ptr<Attribution> load(const Databases& db, const std::string& cache, std::string* image,
                                  bool verify_sections = false) {
    GeoConfig config;
    config.country_files = {db.country};
    config.asn_files = {db.asn};
    config.cache_dir = cache;
    config.verify_image_sections = verify_sections;
    auto attribution = std::make_unique<Attribution>(config);
    std::string error;
    EXPECT_TRUE(attribution->reload(&error)) << error;
    *image = attribution->status().image;
    return attribution;
}

std::vector<std::string> images_in(const std::string& dir) {
    std::vector<std::string> found;
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(dir, ignored)) {
        found.push_back(entry.path().string());
    }
    return found;
}

TEST_F(Image, DamagedTruncatedForeignAndStaleImagesAreRefusedAndRebuilt) {
    Databases db;
    test::TempDir cache;
    std::string image;
    auto first = load(db, cache.path.string(), &image);
    EXPECT_EQ(image.rfind("built from the databases, saved as ", 0), 0u) << image;
    expect_answers(*first, 13335, "built");
    const auto files = images_in(cache.path.string());
    ASSERT_EQ(files.size(), 1u);
    const std::string path = files[0];
    EXPECT_EQ(fs::path(path).extension(), ".dsgeo");
    EXPECT_EQ(image, "built from the databases, saved as " + path);
    EXPECT_EQ(load(db, cache.path.string(), &image) != nullptr, true);
    EXPECT_EQ(image, "mapped " + path);

    const auto size = fs::file_size(path);
    auto patch = [&](uint64_t offset, const std::string& bytes) {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(offset));
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    };
    // Each damage, then the reason the next load must give before it rebuilds.
    const std::vector<std::pair<std::string, std::function<void()>>> damages = {
        {"truncated image", [&] { fs::resize_file(path, size / 2); }},
        {"truncated or not an attribution image", [&] { fs::resize_file(path, 100); }},
        {"not an attribution image (bad magic)",
         [&] {
             fs::copy_file(db.country, path, fs::copy_options::overwrite_existing);
             fs::resize_file(path, size);
         }},
        {"image format 7", [&] { patch(8, std::string("\x07\0\0\0", 4)); }},
        {"damaged image header", [&] { patch(40, "\x01"); }},
        // The IPv4 table starts at a page boundary after the sources: its 1.0.0.0/24 entry, sent
        // outside the tables (an extended entry of a group that does not exist).
        {"tbl24 entry 65536 out of bounds",
         [&] { patch(2 * 4096 + 0x10000 * 4, "\xff\xff\xff\xff"); }},
    };
    for (const auto& [reason, damage] : damages) {
        SCOPED_TRACE(reason);
        damage();
        auto attribution = load(db, cache.path.string(), &image);
        ASSERT_NE(attribution, nullptr);
        EXPECT_EQ(image.rfind("refused " + path + ": ", 0), 0u) << image;
        EXPECT_NE(image.find(reason), std::string::npos) << image;
        EXPECT_NE(image.find("; built from the databases, saved as " + path), std::string::npos)
            << image;
        expect_answers(*attribution, 13335, reason);
        EXPECT_TRUE(load(db, cache.path.string(), &image) != nullptr);
        EXPECT_EQ(image, "mapped " + path);
    }

    // A damage that leaves every index in bounds (1.0.0.0/24 now answers pair 0, unknown): a start
    // maps it (its lookups stay inside the image; sections are not hashed at each start), and
    // --geo-build-cache's whole check refuses it by the section's hash and rebuilds it.
    patch(2 * 4096 + 0x10000 * 4, std::string(4, '\0'));
    EXPECT_TRUE(load(db, cache.path.string(), &image) != nullptr);
    EXPECT_EQ(image, "mapped " + path);
    {
        auto attribution = load(db, cache.path.string(), &image, true);
        ASSERT_NE(attribution, nullptr);
        EXPECT_EQ(image.rfind("refused " + path +
                                  ": damaged section tbl24 (hash mismatch); built "
                                  "from the databases, saved as " +
                                  path,
                              0),
                  0u)
            << image;
        expect_answers(*attribution, 13335, "rebuilt after a damaged section");
        EXPECT_TRUE(load(db, cache.path.string(), &image, true) != nullptr);
        EXPECT_EQ(image, "mapped " + path);
    }

    // Sources changed: same size (one digit), then another size.
    for (const uint32_t asn : {13336u, 4200000000u}) {
        db.write_asn(asn);
        auto attribution = load(db, cache.path.string(), &image);
        ASSERT_NE(attribution, nullptr);
        EXPECT_NE(image.find(": stale: " + db.asn), std::string::npos) << image;
        EXPECT_NE(image.find(asn == 13336u ? "changed (hash" : "bytes, was"), std::string::npos)
            << image;
        expect_answers(*attribution, asn, "rebuilt after a change of the sources");
    }
    EXPECT_EQ(images_in(cache.path.string()).size(), 1u) << "temporary files left behind";
}

TEST_F(Image, UnwritableCacheBuildsInMemory) {
    Databases db;
    test::TempDir cache;
    ASSERT_EQ(chmod(cache.path.c_str(), 0555), 0);
    std::string image;
    auto attribution = load(db, cache.path.string(), &image);
    ASSERT_NE(attribution, nullptr);
    EXPECT_EQ(image.rfind("built in memory, not saved (", 0), 0u) << image;
    EXPECT_NE(image.find("read-only directory"), std::string::npos) << image;
    expect_answers(*attribution, 13335, "in memory");
    EXPECT_TRUE(images_in(cache.path.string()).empty());
    chmod(cache.path.c_str(), 0755);
}

TEST_F(Image, DefaultCacheIsBesideTheDatabasesElseThePerUserCache) {
    Databases db;
    test::TempDir home;
    setenv("XDG_CACHE_HOME", home.path.c_str(), 1);
    std::string image;
    auto beside = load(db, "", &image);
    EXPECT_EQ(
        image.rfind("built from the databases, saved as " + db.dir.path.string() + "/geo-", 0), 0u)
        << image;
    expect_answers(*beside, 13335, "beside");
    // A read-only database directory: the per-user cache, created on demand.
    for (const auto& file : images_in(db.dir.path.string())) {
        if (fs::path(file).extension() == ".dsgeo") {
            fs::remove(file);
        }
    }
    ASSERT_EQ(chmod(db.dir.path.c_str(), 0555), 0);
    auto per_user = load(db, "", &image);
    EXPECT_EQ(image.rfind("built from the databases, saved as " + home.file("darkscope/geo-"), 0),
              0u)
        << image;
    expect_answers(*per_user, 13335, "per-user");
    load(db, "", &image);
    EXPECT_EQ(image.rfind("mapped " + home.file("darkscope/geo-"), 0), 0u) << image;
    chmod(db.dir.path.c_str(), 0755);
    unsetenv("XDG_CACHE_HOME");
}

// Two builders rebuild the image of one live database that changes under them, while a reader
// opens whatever file is at the image's path: every file it finds must be a whole image of one
// version or the other.
TEST_F(Image, ParallelBuildersNeverShowHalfAnImage) {
    Databases db;
    test::TempDir cache;
    const std::string version_a = db.dir.file("asn-a.csv");
    const std::string version_b = db.dir.file("asn-b.csv");
    db.write_asn(13335);
    fs::copy_file(db.asn, version_a);
    db.write_asn(4200000000u);
    fs::copy_file(db.asn, version_b);
    auto sources_of = [&](const std::string& asn_version) {
        fs::copy_file(asn_version, db.asn, fs::copy_options::overwrite_existing);
        std::vector<geo_image::Source> sources(2);
        std::string error;
        EXPECT_TRUE(geo_image::fingerprint(db.country, geo::Kind::country, &sources[0], &error));
        EXPECT_TRUE(geo_image::fingerprint(db.asn, geo::Kind::asn, &sources[1], &error));
        return sources;
    };
    const auto sources_a = sources_of(version_a);
    const auto sources_b = sources_of(version_b);
    const std::string path = cache.file(geo_image::image_name(sources_a));

    std::atomic<bool> stop{false};
    std::atomic<unsigned> seen{0}, broken{0}, builds{0};
    std::string broken_reason;
    std::thread reader([&] {
        while (!stop.load()) {
            std::string reason_a, reason_b;
            // A builder may replace the image between the two opens, so both can find a whole
            // image of the other version: "stale" is checked after the header's hash and the
            // file's size, so it names a whole image. Half an image fails those instead.
            auto whole = [](const std::string& reason) {
                return reason.find(": stale: ") != std::string::npos;
            };
            if (geo_image::Image::open(path, sources_a, &reason_a) ||
                geo_image::Image::open(path, sources_b, &reason_b) ||
                (whole(reason_a) && whole(reason_b))) {
                ++seen;
            } else if (reason_a != "absent" && reason_b != "absent" && broken++ == 0) {
                broken_reason = reason_a + " / " + reason_b;
            }
        }
    });
    std::atomic<bool> stop_builders{false};
    auto builder = [&] {
        GeoConfig config;
        config.country_files = {db.country};
        config.asn_files = {db.asn};
        config.cache_dir = cache.path.string();
        Attribution attribution(config);
        while (!stop_builders.load()) {
            std::string error;
            if (attribution.reload(&error) &&
                attribution.status().image.find("built") != std::string::npos) {
                ++builds;
            }
        }
    };
    std::thread first(builder), second(builder);
    // Swap the live file between the versions (rename, as an updater does) until the builders
    // have rebuilt the image a few times.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (int i = 0; builds.load() < 8 && std::chrono::steady_clock::now() < deadline; ++i) {
        const std::string next = db.asn + ".new";
        fs::copy_file(i % 2 == 0 ? version_a : version_b, next,
                      fs::copy_options::overwrite_existing);
        fs::rename(next, db.asn);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop_builders = true;
    first.join();
    second.join();
    stop = true;
    reader.join();
    EXPECT_EQ(broken.load(), 0u) << broken_reason;
    EXPECT_GT(seen.load(), 0u);
    EXPECT_GE(builds.load(), 8u);
    std::printf("%u builds, %u whole images read meanwhile\n", builds.load(), seen.load());
    for (const auto& file : images_in(cache.path.string())) {
        EXPECT_EQ(file, path) << "temporary file left behind";
    }
}

}  // namespace
}  // namespace darkscope
