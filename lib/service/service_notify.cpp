#include "darkscope/service_notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace darkscope {

void notify_ready(const std::string& status) {
    sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}

void notify_stopping() {
    sd_notify(0, "STOPPING=1");
}

WatchdogPinger::WatchdogPinger() {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        period_s_ = static_cast<double>(usec) / 1e6;
}

void WatchdogPinger::tick(double now_s) {
    if (period_s_ <= 0 || now_s - last_s_ < period_s_ / 2)
        return;
    last_s_ = now_s;
    sd_notify(0, "WATCHDOG=1");
}

}  // namespace darkscope
