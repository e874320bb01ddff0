// Record file names and the quota (darkscope/record_files.hpp).
#include "darkscope/record_files.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

namespace darkscope {

std::string record_file_name(const std::string& appliance, int64_t period_start_s,
                             RecordCompression compression, unsigned duplicate) {
    const time_t t = static_cast<time_t>(period_start_s);
    tm utc{};
    gmtime_r(&t, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
    std::string name = appliance + "-" + stamp;
    if (duplicate != 0)
        name += "-" + std::to_string(duplicate);
    return name + pcapng_extension(compression);
}

bool is_record_file(const std::string& appliance, const std::string& name) {
    return name.size() > appliance.size() + 1 &&
           name.compare(0, appliance.size(), appliance) == 0 && name[appliance.size()] == '-' &&
           name.find(".pcapng") != std::string::npos;
}

RecordQuota::RecordQuota(std::string dir, std::string appliance, uint64_t limit_bytes)
    : dir_(std::move(dir)), appliance_(std::move(appliance)), limit_(limit_bytes) {}

void RecordQuota::scan() {
    DIR* d = opendir(dir_.c_str());
    if (d == nullptr)
        return;
    while (const dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        struct stat st {};
        if (is_record_file(appliance_, name) && stat((dir_ + "/" + name).c_str(), &st) == 0 &&
            S_ISREG(st.st_mode))
            add(name, static_cast<uint64_t>(st.st_size));
    }
    closedir(d);
}

void RecordQuota::add(const std::string& name, uint64_t bytes) {
    auto [it, fresh] = complete_.emplace(name, bytes);
    if (!fresh) {
        complete_bytes_ -= it->second;
        it->second = bytes;
    }
    complete_bytes_ += bytes;
}

bool RecordQuota::make_room(uint64_t bytes,
                            const std::function<void(const std::string&, uint64_t)>& deleted) {
    if (limit_ == 0)
        return true;
    while (used_bytes() + bytes > limit_ && !complete_.empty()) {
        auto oldest = complete_.begin();
        ::unlink((dir_ + "/" + oldest->first).c_str());
        complete_bytes_ -= oldest->second;
        deleted(oldest->first, oldest->second);
        complete_.erase(oldest);
    }
    return used_bytes() + bytes <= limit_;
}

}  // namespace darkscope
