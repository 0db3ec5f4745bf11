// Integration: a real Prometheus server (Debian package prometheus) scrapes a runtime's /metrics
// on loopback every 250 ms, and its HTTP API (/api/v1/query) returns the runtime's spindle_*
// series. Private temp storage; the server is stopped and reaped at the end. Fails (not skips)
// when prometheus is missing: scripts/deps.sh test installs it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "observability_util.hpp"
#include "spindle/spindle.hpp"
#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

// free_port returns a loopback port that was free a moment ago (the kernel's pick).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// Server is a Prometheus process; the destructor stops it (SIGTERM, then SIGKILL) and reaps it.
struct Server {
  pid_t pid = -1;
  Server(const std::string& bin, const std::vector<std::string>& args, const std::string& log) {
    pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv{const_cast<char*>(bin.c_str())};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
  }
  bool alive() { return pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0; }
  ~Server() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 1000; ++i) {  // up to 10 s
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
      ::usleep(10000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

TEST(PrometheusScrape, ARealServerScrapesTheEndpoint) {
  const std::string prom = spindle::test::find_tool("prometheus");
  ASSERT_FALSE(prom.empty())
      << "prometheus not found: install the Debian package prometheus (scripts/deps.sh test)";
  spindle::AsyncRuntimeConfig c;
  c.worker_threads = 2;
  spindle::AsyncRuntime rt(c);
  spindle::DashboardServer dash(rt, spindle::net::SocketAddr::parse("127.0.0.1:0"));
  rt.block_on([] {
    for (int i = 0; i < 1000; ++i) spindle::this_fiber::yield();
  });

  char tmpl[] = "/tmp/spindle-prometheus-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    std::ofstream cfg(dir + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n"
        << "scrape_configs:\n  - job_name: spindle\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << dash.local_addr().port() << "']\n";
  }
  std::string found;
  std::string log;
  // The web port is picked free just before the start; another process may take it in between,
  // so a server that exits at once is retried on a new port.
  for (int attempt = 0; attempt < 3 && found.empty(); ++attempt) {
    const std::uint16_t web = free_port();
    ASSERT_NE(web, 0);
    Server server(
        prom,
        {"--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
         "--web.listen-address=127.0.0.1:" + std::to_string(web)},
        dir + "/prometheus.log");
    // Poll the query API until the scraped series shows up (generous: a loaded machine).
    spindle::test::wait_until(
        [&] {
          if (!server.alive()) return true;
          const std::string r = spindle::test::body_of(
              spindle::test::http_get(web, "/api/v1/query?query=spindle_worker_threads"));
          if (r.find("\"status\":\"success\"") != std::string::npos &&
              r.find("\"value\":[") != std::string::npos) {
            found = r;
            return true;
          }
          return false;
        },
        90s);
    if (!found.empty()) {
      const std::string up = spindle::test::body_of(
          spindle::test::http_get(web, "/api/v1/query?query=up%7Bjob%3D%22spindle%22%7D"));
      EXPECT_NE(up.find("\"1\"]"), std::string::npos) << up;
      const std::string sw = spindle::test::body_of(
          spindle::test::http_get(web, "/api/v1/query?query=sum(spindle_context_switches_total)"));
      EXPECT_NE(sw.find("\"value\":["), std::string::npos) << sw;
    }
    log = read_file(dir + "/prometheus.log");
  }
  spindle::test::run_tool("/bin/rm", {"-rf", dir}, "", 60s);
  ASSERT_FALSE(found.empty()) << "Prometheus never returned spindle_worker_threads; its log:\n"
                              << log;
  EXPECT_NE(found.find("\"__name__\":\"spindle_worker_threads\""), std::string::npos) << found;
  EXPECT_NE(found.find("\"2\"]"), std::string::npos) << "2 workers expected: " << found;
}

}  // namespace
