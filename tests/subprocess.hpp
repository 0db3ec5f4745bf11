// tests/subprocess.hpp: running code in child processes: the example programs as subprocesses
// (stdout through a pipe, signals, exit status with a deadline), and a function in a forked child
// (for cases that fault or install process-wide signal handlers).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace spindle::test {

// example_path returns ../examples/<name> relative to the running test's directory, or "" when
// that example is not built.
inline std::string example_path(const char* name) {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {};
  self[n] = '\0';
  std::string dir(self);
  dir.erase(dir.rfind('/'));
  const std::string path = dir + "/../examples/" + name;
  return ::access(path.c_str(), X_OK) == 0 ? path : std::string();
}

// Child is a subprocess whose stdout we read through a pipe.
class Child {
 public:
  Child(const std::string& path, std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category());
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    // The child starts with SIGINT and SIGTERM at their defaults even if this process ignores them
    // (a background job of a non-interactive shell does), so the tests can signal it.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t deflt;
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> argv;
    args.insert(args.begin(), path);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, path.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    out_ = fds[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::system_error(rc, std::system_category(), "posix_spawn " + path);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }

  // read_line returns the next stdout line ("" after 10 s or at end of output).
  std::string read_line() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char b[512];
      const ssize_t n = ::read(out_, b, sizeof b);
      if (n <= 0) return {};
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }
  // listening_port reads the `listening port=<n>` line (0 if none came).
  std::uint16_t listening_port() {
    const std::string l = read_line();
    const std::string prefix = "listening port=";
    if (l.rfind(prefix, 0) != 0) return 0;
    return static_cast<std::uint16_t>(std::stoi(l.substr(prefix.size())));
  }
  // pid returns the child's process id (-1 once reaped).
  pid_t pid() const noexcept { return pid_; }
  // wait_exit sends `sig` unless 0, waits up to 10 s and returns the wait status (-1 on timeout).
  int wait_exit(int sig) {
    if (sig != 0) ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      ::usleep(2000);
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

// ChildResult is how a forked child ended and what it wrote to stdout/stderr.
struct ChildResult {
  int status = 0;
  std::string output;
};

// run_in_child runs `fn` in a forked child (stdout and stderr captured) and waits for it; the child
// exits 0 when `fn` returns.
inline ChildResult run_in_child(const std::function<void()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[1]);
    fn();
    std::fflush(nullptr);
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n > 0) {
      r.output.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  while (::waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

// killed_by returns whether the child died of signal `sig`.
inline bool killed_by(const ChildResult& r, int sig) {
  return WIFSIGNALED(r.status) && WTERMSIG(r.status) == sig;
}

}  // namespace spindle::test
