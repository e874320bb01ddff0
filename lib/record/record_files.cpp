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

std::string event_capture_file_name(const std::string& event_id, RecordCompression compression,
                                    unsigned duplicate) {
    std::string name = event_id;
    for (char& c : name) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == ':' || c == '=' || c == '-' ||
                           c == '+' || c == '_';
        if (!plain)
            c = '_';
    }
    if (name.empty() || name[0] == '.')
        name.insert(0, "_");
    if (duplicate != 0)
        name += "-" + std::to_string(duplicate);
    return name + pcapng_extension(compression);
}

int64_t record_file_time(const std::string& appliance, const std::string& name) {
    const size_t ext = name.find(".pcapng");
    if (ext == std::string::npos)
        return INT64_MIN;
    if (name.compare(0, 7, "events/") == 0) {
        // "<kind>:<what>:<start>[-N]": the digits after the last ':'.
        const size_t colon = name.rfind(':', ext);
        if (colon == std::string::npos)
            return INT64_MIN;
        int64_t t = 0;
        size_t i = colon + 1;
        for (; i < ext && name[i] >= '0' && name[i] <= '9'; ++i)
            t = t * 10 + (name[i] - '0');
        return i == colon + 1 ? INT64_MIN : t;
    }
    if (!is_record_file(appliance, name) || name.size() < appliance.size() + 17)
        return INT64_MIN;
    tm utc{};
    if (strptime(name.c_str() + appliance.size() + 1, "%Y%m%dT%H%M%SZ", &utc) == nullptr)
        return INT64_MIN;
    return static_cast<int64_t>(timegm(&utc));
}

RecordQuota::RecordQuota(std::string dir, std::string appliance, uint64_t limit_bytes)
    : dir_(std::move(dir)), appliance_(std::move(appliance)), limit_(limit_bytes) {}

void RecordQuota::scan() {
    for (const std::string sub : {"", "events/"}) {
        DIR* d = opendir((dir_ + "/" + sub).c_str());
        if (d == nullptr)
            continue;
        while (const dirent* e = readdir(d)) {
            const std::string name = sub + e->d_name;
            const bool ours = sub.empty() ? is_record_file(appliance_, name)
                                          : name.find(".pcapng") != std::string::npos;
            struct stat st {};
            if (ours && stat((dir_ + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
                add(name, static_cast<uint64_t>(st.st_size));
        }
        closedir(d);
    }
}

void RecordQuota::add(const std::string& name, uint64_t bytes) {
    auto [it, fresh] =
        complete_.emplace(std::pair{record_file_time(appliance_, name), name}, bytes);
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
        ::unlink((dir_ + "/" + oldest->first.second).c_str());
        complete_bytes_ -= oldest->second;
        deleted(oldest->first.second, oldest->second);
        complete_.erase(oldest);
    }
    return used_bytes() + bytes <= limit_;
}

}  // namespace darkscope
