// The /metrics HTTP endpoint on a thread of its own (cpp-httplib), and a tick thread that lets
// the exporter see every published interval between scrapes. Control plane only.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace darkscope {

// "127.0.0.1:9464", "[::1]:9464", ":9464" (every address) into host and port; false when the
// text is not of that form.
bool parse_listen_address(const std::string& text, std::string* host, int* port);

class MetricsServer {
  public:
    // render(): the exposition of the latest snapshot. tick(): called every few hundred ms.
    MetricsServer(std::function<std::string()> render, std::function<void()> tick);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // Binds `listen` and starts serving; false with *error when the address cannot be bound
    // (in use, not an address of this host).
    bool start(const std::string& listen, std::string* error);
    void stop();
    int port() const { return port_; }

  private:
    std::function<std::string()> render_;
    std::function<void()> tick_;
    std::unique_ptr<httplib::Server> server_;
    std::thread serve_thread_, tick_thread_;
    std::atomic<bool> stopping_{false};
    int port_ = 0;
};

}  // namespace darkscope
