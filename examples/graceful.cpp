// examples/graceful.cpp: a small service that stops gracefully on Ctrl-C (SIGINT) or SIGTERM.
//
// main is the root fiber (SPINDLE_MAIN, i.e. spindle::run_main):
//   - producers, bound to spindle::shutdown_token(), make jobs and send them into a bounded
//     channel. The signal cancels them wherever they block: sleep_for throws spindle::Cancelled,
//     Channel::send returns ChannelError::Cancelled.
//   - consumers are not bound to the shutdown token: once every producer has stopped, main closes
//     the channel and the consumers drain what is still buffered, so no accepted job is lost.
//   - a cleanup task (SpawnOptions::cleanup) writes the final report; run_main waits for it,
//     bounded by AsyncRuntimeConfig::cleanup_timeout, before it shuts the runtime down.
//
// Options: --seconds=<s> stops by itself after s seconds (as if Ctrl-C was pressed; default: run
// until a signal), --producers=<n> (default 4), --consumers=<n> (default 3).
// Output: `running producers=<n> consumers=<n>` once started, a progress line every second,
// `shutdown: draining` when the signal arrives, and last `produced=<n> consumed=<n> lost=<n>`.
// Exits 0 when nothing was lost.
#include <spindle/spindle.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Job {
  int producer;
  std::uint64_t seq;
  std::uint64_t payload;
};

struct Options {
  double seconds = 0;  // 0: until a signal
  int producers = 4;
  int consumers = 3;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strncmp(a, "--seconds=", 10) == 0) {
      o.seconds = std::atof(a + 10);
    } else if (std::strncmp(a, "--producers=", 12) == 0) {
      o.producers = std::atoi(a + 12);
    } else if (std::strncmp(a, "--consumers=", 12) == 0) {
      o.consumers = std::atoi(a + 12);
    } else {
      std::fprintf(stderr, "graceful: unknown argument '%s'\n", a);
      return false;
    }
  }
  if (o.seconds < 0 || o.producers < 1 || o.producers > 1000 || o.consumers < 1 ||
      o.consumers > 1000) {
    std::fprintf(stderr, "graceful: --seconds >= 0, --producers and --consumers in [1, 1000]\n");
    return false;
  }
  return true;
}

int app(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt)) return 2;

  // The first call installs the SIGINT/SIGTERM handlers; a signal cancels this token.
  const spindle::CancellationToken stop = spindle::shutdown_token();
  spindle::Event stopping;
  const auto on_stop = stop.on_cancel([&stopping] { stopping.set(); });

  spindle::Channel<Job> jobs(64);
  std::atomic<std::uint64_t> produced{0}, consumed{0}, checksum_in{0}, checksum_out{0};

  std::vector<spindle::JoinHandle<void>> producers;
  for (int p = 0; p < opt.producers; ++p) {
    producers.push_back(spindle::spawn(
        [&, p] {
          for (std::uint64_t seq = 0;; ++seq) {
            spindle::this_fiber::sleep_for(std::chrono::milliseconds(1 + p % 4));  // "work"
            const Job job{p, seq, seq * 2654435761u + static_cast<std::uint64_t>(p)};
            if (!jobs.send(job)) return;  // Cancelled by the signal (or the channel closed)
            produced.fetch_add(1, std::memory_order_relaxed);
            checksum_in.fetch_add(job.payload, std::memory_order_relaxed);
          }
        },
        spindle::SpawnOptions{.token = stop}));
  }

  spindle::WaitGroup consumers_done;
  consumers_done.add(opt.consumers);
  for (int c = 0; c < opt.consumers; ++c) {
    spindle::spawn([&] {
      // recv() fails only once the channel is closed and drained.
      while (auto job = jobs.recv()) {
        consumed.fetch_add(1, std::memory_order_relaxed);
        checksum_out.fetch_add(job->payload, std::memory_order_relaxed);
      }
      consumers_done.done();
    });
  }
  std::printf("running producers=%d consumers=%d\n", opt.producers, opt.consumers);
  std::fflush(stdout);

  // Wait for the signal (or --seconds), with a progress line every second.
  const auto start = std::chrono::steady_clock::now();
  while (!stopping.wait_for(1s)) {
    const double up =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("progress produced=%llu consumed=%llu\n",
                static_cast<unsigned long long>(produced.load()),
                static_cast<unsigned long long>(consumed.load()));
    std::fflush(stdout);
    if (opt.seconds > 0 && up >= opt.seconds) spindle::request_shutdown();
  }
  std::printf("shutdown: draining\n");
  std::fflush(stdout);

  // Producers end at their next blocking point; then nothing more can be sent.
  for (auto& h : producers) {
    try {
      h.join();
    } catch (const spindle::Cancelled&) {
      // Cancelled in sleep_for: expected.
    }
  }
  jobs.close();
  consumers_done.wait();  // every buffered job consumed

  // The report is written by a cleanup task: run_main waits for it after main returns.
  const std::uint64_t p = produced.load(), c = consumed.load();
  const bool sums_match = checksum_in.load() == checksum_out.load();
  spindle::spawn(
      [p, c, sums_match] {
        std::printf("produced=%llu consumed=%llu lost=%llu checksum=%s\n",
                    static_cast<unsigned long long>(p), static_cast<unsigned long long>(c),
                    static_cast<unsigned long long>(p - c), sums_match ? "ok" : "MISMATCH");
        std::fflush(stdout);
      },
      spindle::SpawnOptions{.cleanup = true});
  return p == c && sums_match ? 0 : 1;
}

}  // namespace

SPINDLE_MAIN(app)
