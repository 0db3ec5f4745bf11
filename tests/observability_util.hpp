// tests/observability_util.hpp: what the metrics and dashboard tests share: a plain-socket HTTP
// client, finding a tool on PATH, and running a tool with a deadline (output captured).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace spindle::test {

// find_tool returns the path of `name` on PATH (or in /usr/sbin, /usr/bin), "" if absent.
inline std::string find_tool(const std::string& name) {
  std::string path = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  path += ":/usr/bin:/usr/sbin:/bin";
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const std::size_t end = path.find(':', pos);
    const std::string dir = path.substr(pos, end == std::string::npos ? end : end - pos);
    const std::string cand = dir + "/" + name;
    if (!dir.empty() && ::access(cand.c_str(), X_OK) == 0) return cand;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return {};
}

// ToolResult is how a tool ended (-1: killed at its deadline) and its stdout+stderr.
struct ToolResult {
  int exit_code = -1;
  std::string output;
};

// run_tool runs `path args...` with `input` on stdin, kills it after `timeout`, and returns its
// exit code and output (stdout and stderr merged). The child is always reaped.
inline ToolResult run_tool(const std::string& path, const std::vector<std::string>& args,
                           const std::string& input, std::chrono::milliseconds timeout) {
  int out[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::signal(SIGPIPE, SIG_IGN);
  std::size_t written = 0;
  while (written < input.size()) {
    const ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  ::close(in[1]);
  ToolResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = !killed && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// http_exchange connects to 127.0.0.1:port, sends `request` as is, and reads until the server
// closes (or `timeout`). Returns the raw response ("" if the connection failed).
inline std::string http_exchange(std::uint16_t port, const std::string& request,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {};
  }
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string resp;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return resp;
}

// http_get is http_exchange of a plain GET of `target`.
inline std::string http_get(std::uint16_t port, const std::string& target) {
  return http_exchange(
      port, "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

// status_of returns a raw response's status code (0 if none).
inline int status_of(const std::string& resp) {
  if (resp.rfind("HTTP/1.1 ", 0) != 0 || resp.size() < 12) return 0;
  return std::atoi(resp.substr(9, 3).c_str());
}

// body_of returns a raw response's body.
inline std::string body_of(const std::string& resp) {
  const std::size_t p = resp.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : resp.substr(p + 4);
}

}  // namespace spindle::test
