// The process-wide shutdown token: a SIGINT/SIGTERM handler that writes one byte to a pipe, and a
// detached watcher thread that reads it and cancels the token (see spindle/shutdown.hpp).
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <system_error>
#include <thread>

#include "spindle/shutdown.hpp"

namespace spindle {
namespace {

// kSignals are the signals that cancel the shutdown token.
constexpr int kSignals[] = {SIGINT, SIGTERM};

// g_write_fd is the pipe's write end, set before any handler is installed.
std::atomic<int> g_write_fd{-1};
// g_owned has bit i set when kSignals[i]'s handler was installed by us (not left SIG_IGN).
std::atomic<unsigned> g_owned{0};

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<unsigned>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

// the_token returns the shutdown token. Deliberately never freed: the watcher thread and late
// signals may use it during process exit.
CancellationToken& the_token() {
  static CancellationToken* const token = new CancellationToken();
  return *token;
}

extern "C" void on_shutdown_signal(int) {
  const int saved_errno = errno;
  // Back to the default action for both signals (only where our handler is still the one in
  // place), so that the next SIGINT or SIGTERM kills the process the usual way.
  const unsigned owned = g_owned.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < 2; ++i) {
    if ((owned & (1u << i)) == 0) continue;
    struct sigaction cur {};
    if (sigaction(kSignals[i], nullptr, &cur) != 0 || cur.sa_handler != &on_shutdown_signal) {
      continue;
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(kSignals[i], &dfl, nullptr);
  }
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = write(g_write_fd.load(std::memory_order_relaxed), &byte, 1);
  errno = saved_errno;
}

// watch blocks on the pipe and cancels the token on the first byte (or gives up on end of file,
// which only a failed installation causes).
void watch(int read_fd, CancellationToken token) {
  for (;;) {
    char byte;
    const ssize_t n = read(read_fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1) token.cancel();
    break;
  }
  close(read_fd);
}

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

// install sets up the pipe, the watcher thread and the handlers; on failure undoes what it did and
// throws std::system_error.
bool install() {
  CancellationToken token = the_token();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "spindle::shutdown_token: pipe2");
  // A full pipe already holds a wakeup: the handler must never block.
  const int fl = fcntl(fds[1], F_GETFL);
  if (fl < 0 || fcntl(fds[1], F_SETFL, fl | O_NONBLOCK) != 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    throw_errno(err, "spindle::shutdown_token: fcntl");
  }

  // The watcher starts with SIGINT and SIGTERM blocked, so that they go to the program's threads.
  sigset_t block, old_mask;
  sigemptyset(&block);
  for (int sig : kSignals) sigaddset(&block, sig);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  try {
    std::thread(watch, fds[0], token).detach();
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    close(fds[0]);
    close(fds[1]);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  g_write_fd.store(fds[1], std::memory_order_relaxed);

  struct sigaction ours {};
  ours.sa_handler = &on_shutdown_signal;
  sigemptyset(&ours.sa_mask);
  for (int sig : kSignals) sigaddset(&ours.sa_mask, sig);  // one handler at a time
  ours.sa_flags = SA_RESTART;
  struct sigaction previous[2]{};
  unsigned owned = 0;
  for (unsigned i = 0; i < 2; ++i) {
    int err = 0;
    if (sigaction(kSignals[i], nullptr, &previous[i]) != 0) {
      err = errno;
    } else if ((previous[i].sa_flags & SA_SIGINFO) == 0 && previous[i].sa_handler == SIG_IGN) {
      continue;  // an ignored signal stays ignored
    } else {
      g_owned.store(owned | (1u << i), std::memory_order_relaxed);
      if (sigaction(kSignals[i], &ours, nullptr) != 0) err = errno;
    }
    if (err != 0) {
      for (unsigned j = 0; j < i; ++j) {
        if (owned & (1u << j)) sigaction(kSignals[j], &previous[j], nullptr);
      }
      g_owned.store(0, std::memory_order_relaxed);
      g_write_fd.store(-1, std::memory_order_relaxed);
      close(fds[1]);  // the watcher reads end of file and exits
      throw_errno(err, "spindle::shutdown_token: sigaction");
    }
    owned |= 1u << i;
  }
  return true;
}

}  // namespace

CancellationToken shutdown_token() {
  [[maybe_unused]] static const bool installed = install();
  return the_token();
}

void request_shutdown() noexcept {
  the_token().cancel();
}

}  // namespace spindle
