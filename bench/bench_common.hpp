// bench_common.hpp: helpers shared by the bench/ programs: the --impl flag, the output line format
// (`<impl> <workload> <metric> <value> <unit>`), wall-clock timing, /proc/self/status sampling,
// Spindle stats lines and a two-thread Boost.Fiber work_stealing scheduler for the baselines.
#pragma once

#include <boost/fiber/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <spindle/spindle.hpp>

namespace bench {

using Clock = std::chrono::steady_clock;

// kStackSize is the fiber stack size for both implementations (Spindle's default max_stack_size).
inline constexpr std::size_t kStackSize = 64 * 1024;

enum class Impl { Spindle, Boost };

// parse_impl reads `--impl=spindle|boost` (default spindle); exits 2 on anything else.
inline Impl parse_impl(int argc, char** argv) {
  Impl impl = Impl::Spindle;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--impl=spindle") == 0) {
      impl = Impl::Spindle;
    } else if (std::strcmp(argv[i], "--impl=boost") == 0) {
      impl = Impl::Boost;
    } else {
      std::fprintf(stderr, "usage: %s [--impl=spindle|boost]\n", argv[0]);
      std::exit(2);
    }
  }
  return impl;
}

inline const char* impl_name(Impl impl) {
  return impl == Impl::Spindle ? "spindle" : "boostfiber";
}

// report prints one figure line.
inline void report(Impl impl, const char* workload, const char* metric, double value,
                   const char* unit) {
  if (value == static_cast<double>(static_cast<long long>(value))) {
    std::printf("%s %s %s %lld %s\n", impl_name(impl), workload, metric,
                static_cast<long long>(value), unit);
  } else {
    std::printf("%s %s %s %.3f %s\n", impl_name(impl), workload, metric, value, unit);
  }
  std::fflush(stdout);
}

// fail prints a failed result check and exits 1.
[[noreturn]] inline void fail(Impl impl, const char* workload, const std::string& what) {
  std::printf("%s %s CHECK_FAILED %s\n", impl_name(impl), workload, what.c_str());
  std::fflush(stdout);
  std::exit(1);
}

inline double ns_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

// status_kib returns a "Vm...:" field of /proc/self/status in KiB (-1 if absent).
inline long status_kib(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long v = -1;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

// MemSample is VmRSS and VmPTE in bytes.
struct MemSample {
  long rss = 0;
  long pte = 0;
};

inline MemSample sample_mem() {
  return {status_kib("VmRSS") * 1024, status_kib("VmPTE") * 1024};
}

// map_count returns the number of lines of /proc/self/maps (mappings).
inline long map_count() {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  long n = 0;
  int c;
  while ((c = std::fgetc(f)) != EOF) n += c == '\n';
  std::fclose(f);
  return n;
}

// report_spindle_stats prints the runtime's own counters after a run.
inline void report_spindle_stats(const spindle::AsyncRuntime& rt, const char* workload) {
  const spindle::RuntimeStats s = rt.stats();
  report(Impl::Spindle, workload, "steals", static_cast<double>(s.steals), "count");
  report(Impl::Spindle, workload, "parks", static_cast<double>(s.parks), "count");
  report(Impl::Spindle, workload, "context_switches", static_cast<double>(s.context_switches),
         "count");
}

// report_setup prints the configuration a run used.
inline void report_spindle_setup(const spindle::AsyncRuntime& rt, const char* workload) {
  report(Impl::Spindle, workload, "workers", rt.config().worker_threads, "threads");
  report(Impl::Spindle, workload, "stack_size", static_cast<double>(rt.config().max_stack_size),
         "bytes");
}

// boost_stack is the stack allocator of every Boost.Fiber fiber in the baselines: fixedsize_stack
// (malloc, thread-safe, no guard page) of kStackSize bytes. pooled_fixedsize_stack is not safe
// across work_stealing threads, so it is not used.
inline boost::fibers::fixedsize_stack boost_stack() {
  return boost::fibers::fixedsize_stack(kStackSize);
}

// run_boost runs `root` as a fiber on `threads` threads (work_stealing for 2+, round_robin for 1)
// and returns when it has finished. The calling thread is one of the scheduler threads.
inline void run_boost(unsigned threads, const std::function<void()>& root) {
  if (threads <= 1) {
    boost::fibers::fiber f(std::allocator_arg, boost_stack(), root);
    f.join();
    return;
  }
  using WS = boost::fibers::algo::work_stealing;
  bool done = false;
  boost::fibers::mutex mu;
  boost::fibers::condition_variable_any cv;
  std::vector<std::thread> helpers;
  for (unsigned i = 1; i < threads; ++i) {
    helpers.emplace_back([&, threads] {
      boost::fibers::use_scheduling_algorithm<WS>(threads);
      std::unique_lock<boost::fibers::mutex> lk(mu);
      cv.wait(lk, [&] { return done; });
    });
  }
  boost::fibers::use_scheduling_algorithm<WS>(threads);
  {
    boost::fibers::fiber f(std::allocator_arg, boost_stack(), root);
    f.join();
  }
  {
    std::unique_lock<boost::fibers::mutex> lk(mu);
    done = true;
  }
  cv.notify_all();
  for (auto& t : helpers) t.join();
}

inline void report_boost_setup(Impl impl, const char* workload, unsigned threads) {
  report(impl, workload, "workers", threads, "threads");
  report(impl, workload, "stack_size", static_cast<double>(kStackSize), "bytes");
}

}  // namespace bench
