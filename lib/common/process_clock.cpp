#include "darkscope/process_clock.hpp"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace darkscope {

namespace {

// Before main: the fallback origin when /proc is not mounted.
const auto kStaticInit = std::chrono::steady_clock::now();

// Field 22 of /proc/self/stat (starttime, clock ticks after boot), or -1.
long long start_ticks() {
    FILE* f = std::fopen("/proc/self/stat", "r");
    if (f == nullptr)
        return -1;
    char buf[1024];
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr)
        return -1;
    unsigned field = 2;
    for (; *p != '\0' && field < 22; ++p)
        if (*p == ' ')
            ++field;
    long long ticks = -1;
    if (field != 22 || std::sscanf(p, "%lld", &ticks) != 1)
        return -1;
    return ticks;
}

}  // namespace

double seconds_since_exec() {
    const long long ticks = start_ticks();
    const long hz = sysconf(_SC_CLK_TCK);
    timespec now{};
    if (ticks >= 0 && hz > 0 && clock_gettime(CLOCK_BOOTTIME, &now) == 0)
        return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9 -
               static_cast<double>(ticks) / static_cast<double>(hz);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - kStaticInit).count();
}

}  // namespace darkscope
