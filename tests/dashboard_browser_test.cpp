// The dashboard page in a real browser: headless Chromium loads "/" from a running runtime, runs
// its script (polls of /stats.json and /fibers) and we check the rendered DOM: the charts have
// several points, the switch counter moved between polls, the fiber table lists our named fibers.
// A screenshot is kept in the build directory (tests/dashboard.png) as an artifact.
// Needs the Debian package chromium (scripts/deps.sh test installs it); fails, not skips, without.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "observability_util.hpp"
#include "spindle/spindle.hpp"

using namespace std::chrono_literals;

namespace {

// self_dir returns the directory of the running test binary.
std::string self_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

// TempDir is a private Chromium profile directory, removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/spindle-chromium-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path = tmpl;
  }
  ~TempDir() {
    if (!path.empty()) spindle::test::run_tool("/bin/rm", {"-rf", path}, "", 60s);
  }
};

std::vector<std::string> chromium_args(const std::string& profile) {
  return {"--headless",     "--no-sandbox",
          "--disable-gpu",  "--disable-dev-shm-usage",
          "--no-first-run", "--user-data-dir=" + profile};
}

// attr_number returns the number in the first `attr="<digits>"` after `anchor` and inside the same
// tag (anywhere when anchor is empty), or -1. Plain string search: GCC 12's std::regex trips
// -Wmaybe-uninitialized in the ASan build.
long attr_number(const std::string& dom, const std::string& anchor, const std::string& attr) {
  std::size_t from = 0;
  std::size_t tag_end = std::string::npos;
  if (!anchor.empty()) {
    from = dom.find(anchor);
    if (from == std::string::npos) return -1;
    tag_end = dom.find('>', from);
  }
  const std::string key = attr + "=\"";
  const std::size_t at = dom.find(key, from);
  if (at == std::string::npos || (tag_end != std::string::npos && at > tag_end)) return -1;
  const std::size_t begin = at + key.size();
  std::size_t end = begin;
  while (end < dom.size() && dom[end] >= '0' && dom[end] <= '9') ++end;
  if (end == begin || end >= dom.size() || dom[end] != '"') return -1;
  return std::stol(dom.substr(begin, end - begin));
}

TEST(DashboardBrowser, ChartsAndFiberTableShowLiveValues) {
  const std::string chromium = spindle::test::find_tool("chromium");
  ASSERT_FALSE(chromium.empty())
      << "chromium not found: install the Debian package chromium (scripts/deps.sh test)";
  spindle::AsyncRuntimeConfig c;
  c.worker_threads = 2;
  spindle::AsyncRuntime rt(c);
  std::atomic<bool> stop{false};
  std::vector<spindle::JoinHandle<void>> load;
  for (int i = 0; i < 4; ++i) {
    load.push_back(rt.spawn([&stop, i] {
      spindle::this_fiber::set_name("browser-load-" + std::to_string(i));
      while (!stop.load()) {
        for (int k = 0; k < 20; ++k) spindle::this_fiber::yield();
        spindle::this_fiber::sleep_for(1ms);
      }
    }));
  }
  spindle::DashboardServer dash(rt, spindle::net::SocketAddr::parse("127.0.0.1:0"));
  const std::string url =
      "http://127.0.0.1:" + std::to_string(dash.local_addr().port()) + "/?interval=500";

  TempDir profile;
  ASSERT_FALSE(profile.path.empty());
  auto args = chromium_args(profile.path);
  args.push_back("--virtual-time-budget=4000");
  args.push_back("--dump-dom");
  args.push_back(url);
  const auto r = spindle::test::run_tool(chromium, args, "", 120s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string& dom = r.output;

  const long polls = attr_number(dom, "id=\"status\"", "data-polls");
  EXPECT_GE(polls, 3) << dom;
  const long first = attr_number(dom, "", "data-switches-first");
  const long last = attr_number(dom, "", "data-switches-last");
  EXPECT_GT(first, 0);
  EXPECT_GT(last, first) << "the switch counter did not move between polls";
  for (const char* series : {"active", "switches/s", "w0 busy", "w1 queue", "delay p99"}) {
    const long pts =
        attr_number(dom, std::string("<polyline data-series=\"") + series + "\"", "data-points");
    EXPECT_GE(pts, 3) << series;
  }
  // A rate is a number once there are two polls.
  const std::string rate_tag = "class=\"last\" data-series=\"switches/s\">";
  const std::size_t rate_at = dom.find(rate_tag);
  ASSERT_NE(rate_at, std::string::npos) << "no switches/s value";
  const char rate_first = dom[rate_at + rate_tag.size()];
  EXPECT_TRUE(rate_first >= '0' && rate_first <= '9') << "switches/s is not a number";
  for (int i = 0; i < 4; ++i) {
    EXPECT_NE(dom.find("<td>browser-load-" + std::to_string(i) + "</td>"), std::string::npos)
        << "fiber table lacks browser-load-" << i;
  }
  EXPECT_EQ(attr_number(dom, "", "data-errors"), 0);

  // The screenshot artifact.
  const std::string png = self_dir() + "/dashboard.png";
  ::unlink(png.c_str());
  args = chromium_args(profile.path);
  args.push_back("--virtual-time-budget=4000");
  args.push_back("--window-size=1280,1100");
  args.push_back("--screenshot=" + png);
  args.push_back(url);
  const auto s = spindle::test::run_tool(chromium, args, "", 120s);
  EXPECT_EQ(s.exit_code, 0) << s.output;
  struct stat st {};
  ASSERT_EQ(::stat(png.c_str(), &st), 0) << s.output;
  EXPECT_GT(st.st_size, 20000) << "suspiciously small screenshot";
  std::printf("screenshot: %s (%lld bytes)\n", png.c_str(), static_cast<long long>(st.st_size));

  stop = true;
  for (auto& h : load) h.join();
}

}  // namespace
