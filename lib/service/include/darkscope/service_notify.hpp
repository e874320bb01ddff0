// systemd's notification protocol through libsystemd's sd_notify: readiness, status, stopping
// and watchdog pings. Every call does nothing when NOTIFY_SOCKET is not set (not run by systemd).
#pragma once

#include <string>

namespace darkscope {

// READY=1 with a STATUS= line: the ports are up and the signal handlers installed.
void notify_ready(const std::string& status);
void notify_stopping();

// Pings systemd's watchdog (WATCHDOG=1) at half the period the unit's WatchdogSec= sets
// (WATCHDOG_USEC). Called from the stats loop: when the loop wedges, the pings stop and systemd
// restarts the service.
class WatchdogPinger {
  public:
    WatchdogPinger();  // reads WATCHDOG_USEC (sd_watchdog_enabled)
    bool enabled() const { return period_s_ > 0; }
    double period_s() const { return period_s_; }
    // Sends a ping when half the period has passed since the last one.
    void tick(double now_s);

  private:
    double period_s_ = 0;
    double last_s_ = 0;
};

}  // namespace darkscope
