// examples/graceful as a subprocess: SIGINT or SIGTERM (or its own --seconds timer) cancels the
// producers through spindle::shutdown_token(), the consumers drain the channel, the cleanup task
// prints the report that run_main waits for, and the exit status is 0 with nothing lost.
#include <gtest/gtest.h>

#include <string>

#include "subprocess.hpp"

namespace {

using spindle::test::Child;
using spindle::test::example_path;

// report_line reads lines until the final report and returns it ("" if it never came).
std::string report_line(Child& c, bool& saw_draining) {
  for (int i = 0; i < 1000; ++i) {
    const std::string l = c.read_line();
    if (l.empty()) return {};
    if (l == "shutdown: draining") saw_draining = true;
    if (l.rfind("produced=", 0) == 0) return l;
  }
  return {};
}

// field returns n from `... <name>=<n> ...` (0 if absent).
unsigned long long field(const std::string& line, const std::string& name) {
  const auto p = line.find(name + "=");
  return p == std::string::npos ? 0 : std::stoull(line.substr(p + name.size() + 1));
}

void run_with_signal(int sig) {
  const std::string path = example_path("graceful");
  if (path.empty()) GTEST_SKIP() << "examples/graceful is not built";
  Child c(path, {"--producers=8", "--consumers=2"});
  ASSERT_EQ(c.read_line(), "running producers=8 consumers=2");
  // Wait for a progress line showing jobs flowing, then signal.
  std::string l;
  do {
    l = c.read_line();
    ASSERT_FALSE(l.empty()) << "no progress line";
  } while (l.rfind("progress", 0) != 0 || field(l, "produced") == 0);
  ::kill(c.pid(), sig);
  bool draining = false;
  const std::string report = report_line(c, draining);
  EXPECT_TRUE(draining);
  ASSERT_FALSE(report.empty()) << "no final report";
  EXPECT_GT(field(report, "produced"), 0u) << report;
  EXPECT_EQ(field(report, "produced"), field(report, "consumed")) << report;
  EXPECT_NE(report.find("lost=0 checksum=ok"), std::string::npos) << report;
  const int st = c.wait_exit(0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
}

}  // namespace

TEST(GracefulExample, SigintDrainsAndExitsZero) {
  run_with_signal(SIGINT);
}

TEST(GracefulExample, SigtermDrainsAndExitsZero) {
  run_with_signal(SIGTERM);
}

TEST(GracefulExample, StopsByItselfAfterSeconds) {
  const std::string path = example_path("graceful");
  if (path.empty()) GTEST_SKIP() << "examples/graceful is not built";
  Child c(path, {"--seconds=0.5"});
  ASSERT_EQ(c.read_line(), "running producers=4 consumers=3");
  bool draining = false;
  const std::string report = report_line(c, draining);
  EXPECT_TRUE(draining);
  EXPECT_NE(report.find("lost=0 checksum=ok"), std::string::npos) << report;
  const int st = c.wait_exit(0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
}

TEST(GracefulExample, BadArgumentsExitTwo) {
  const std::string path = example_path("graceful");
  if (path.empty()) GTEST_SKIP() << "examples/graceful is not built";
  Child c(path, {"--producers=0"});
  const int st = c.wait_exit(0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) << "wait status " << st;
}
