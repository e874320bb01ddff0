// The stop (docs/operations.md, "Stopping"): one deadline for every flusher, and the exit's
// account of what could not be written.
#include <rte_log.h>

#include <string>

#include "darkscope/engine.hpp"
#include "darkscope/fleet.hpp"
#include "darkscope/stop_deadline.hpp"

namespace darkscope {

void Engine::begin_stop() {
    // A stop signal started the clock already (in its handler); --duration's end or the end of
    // the --read files starts it here.
    StopDeadline& deadline = stop_deadline();
    deadline.start();
    // Before the last interval's close: an offline close must not wait for the queue past it.
    if (fleet_)
        fleet_->finish_by(deadline.flush_by());
}

int report_stop(int status) {
    StopDeadline& deadline = stop_deadline();
    if (!deadline.started())
        return status;
    const auto losses = deadline.losses();
    if (losses.empty()) {
        RTE_LOG(NOTICE, USER1, "stop: everything written, %.1f s after the stop request\n",
                deadline.elapsed_s());
        return status;
    }
    std::string what;
    for (const auto& loss : losses)
        what += (what.empty() ? "" : "; ") + loss;
    RTE_LOG(ERR, USER1, "stop: not written: %s (%.1f s after the stop request; exit status 1)\n",
            what.c_str(), deadline.elapsed_s());
    return status != 0 ? status : 1;
}

}  // namespace darkscope
