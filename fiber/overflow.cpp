// Stack-overflow reports: a SIGSEGV/SIGBUS handler on an alternate signal stack that recognizes
// faults in the current fiber's guard region, and the per-thread alternate signal stack.
#include "spindle/fiber/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <system_error>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace spindle::fiber {
namespace detail {
constinit thread_local const FiberDebugInfo* tls_current_fiber_info = nullptr;
}  // namespace detail

namespace {

// The handlers that were installed before ours, written once before ours is installed.
struct sigaction g_prev_segv;
struct sigaction g_prev_bus;
std::once_flag g_install_once;

// MessageBuffer formats the report without allocating (async-signal-safe).
class MessageBuffer {
 public:
  // append copies the NUL-terminated `s`, truncating at the buffer's end.
  void append(const char* s) noexcept {
    while (*s != '\0' && len_ < sizeof(buf_)) buf_[len_++] = *s++;
  }
  // append_dec appends `v` in decimal.
  void append_dec(std::uint64_t v) noexcept {
    char tmp[24];
    int n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0 && len_ < sizeof(buf_)) buf_[len_++] = tmp[--n];
  }
  // append_hex appends `v` as 0x-prefixed lowercase hex.
  void append_hex(std::uintptr_t v) noexcept {
    char tmp[2 * sizeof(v)];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 0xf];
      v >>= 4;
    } while (v != 0);
    append("0x");
    while (n > 0 && len_ < sizeof(buf_)) buf_[len_++] = tmp[--n];
  }
  // write_to writes the buffer to `fd`, retrying short writes and EINTR.
  void write_to(int fd) const noexcept {
    std::size_t off = 0;
    while (off < len_) {
      ssize_t w = ::write(fd, buf_ + off, len_ - off);
      if (w > 0) {
        off += static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        return;
      }
    }
  }

 private:
  char buf_[512];
  std::size_t len_ = 0;
};

// is_overflow_fault says whether `addr` is an overflow of `info`'s stack: it lies in the guard
// region [limit - guard_size, limit) or within one more guard size below it (a frame larger than
// the guard that jumped over it, landing on memory that also faults). Faults inside the usable
// range are never overflows.
bool is_overflow_fault(const FiberDebugInfo* info, std::uintptr_t addr) noexcept {
  if (info == nullptr || info->stack_limit == nullptr || info->guard_size == 0) return false;
  const auto limit = reinterpret_cast<std::uintptr_t>(info->stack_limit);
  const std::uintptr_t span = 2 * info->guard_size;
  const std::uintptr_t low = limit > span ? limit - span : 0;
  return addr >= low && addr < limit;
}

// reset_to_default restores the default action for `sig`, so returning from the handler re-executes
// the faulting instruction and the process dies of the signal.
void reset_to_default(int sig) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
}

// report_overflow writes the stack-overflow message for `info` to stderr.
void report_overflow(const FiberDebugInfo* info, std::uintptr_t addr) noexcept {
  MessageBuffer m;
  m.append("spindle: stack overflow in fiber ");
  m.append_dec(info->id);
  if (info->name != nullptr) {
    m.append(" (\"");
    m.append(info->name);
    m.append("\")");
  }
  m.append(", stack size ");
  m.append_dec(info->stack_size);
  m.append(" bytes (fault address ");
  m.append_hex(addr);
  m.append(")\n");
  m.write_to(STDERR_FILENO);
}

// overflow_signal_handler reports faults in the current fiber's guard and chains everything else to
// the previous handler (or the default action).
void overflow_signal_handler(int sig, siginfo_t* info, void* uctx) {
  const int saved_errno = errno;
  const FiberDebugInfo* fiber = detail::tls_current_fiber_info;
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  // si_code > 0: raised by the kernel for a real fault (kill/tgkill/sigqueue carry no fault
  // address).
  if (info->si_code > 0 && is_overflow_fault(fiber, addr)) {
    report_overflow(fiber, addr);
    reset_to_default(sig);
    errno = saved_errno;
    return;
  }
  const struct sigaction& prev = sig == SIGBUS ? g_prev_bus : g_prev_segv;
  errno = saved_errno;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, uctx);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN &&
             prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
  } else {
    reset_to_default(sig);
  }
}

// install_once installs overflow_signal_handler for SIGSEGV and SIGBUS, remembering the previous
// handlers.
void install_once() {
  struct sigaction act {};
  act.sa_sigaction = overflow_signal_handler;
  act.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&act.sa_mask);
  if (::sigaction(SIGSEGV, nullptr, &g_prev_segv) != 0 ||
      ::sigaction(SIGBUS, nullptr, &g_prev_bus) != 0) {
    throw std::system_error(errno, std::generic_category(), "spindle: sigaction (query) failed");
  }
  if (::sigaction(SIGSEGV, &act, nullptr) != 0 || ::sigaction(SIGBUS, &act, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(), "spindle: sigaction (install) failed");
  }
}

}  // namespace

void install_overflow_handler() {
  std::call_once(g_install_once, install_once);
}

AltSignalStack::AltSignalStack() {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t want = std::max<std::size_t>(SIGSTKSZ, 64 * 1024);
  size_ = (want + page - 1) / page * page;
  void* mem = ::mmap(nullptr, size_ + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "spindle: cannot map an alternate signal stack");
  }
  mem_ = mem;
  // Best effort guard page below the signal stack (a handler overflowing it then faults for sure).
  if (::madvise(mem, page, MADV_GUARD_INSTALL) != 0) ::mprotect(mem, page, PROT_NONE);
  stack_t ss{};
  ss.ss_sp = static_cast<char*>(mem) + page;
  ss.ss_size = size_;
  ss.ss_flags = 0;
  stack_t old{};
  if (::sigaltstack(&ss, &old) != 0) {
    const int err = errno;
    ::munmap(mem_, size_ + page);
    mem_ = nullptr;
    throw std::system_error(err, std::generic_category(), "spindle: sigaltstack failed");
  }
  prev_sp_ = old.ss_sp;
  prev_size_ = old.ss_size;
  prev_flags_ = old.ss_flags & SS_DISABLE;
  installed_ = true;
}

AltSignalStack::~AltSignalStack() {
  if (mem_ == nullptr) return;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  char* ours = static_cast<char*>(mem_) + page;
  if (installed_) {
    stack_t cur{};
    // Restore the previous stack only if ours is still the one installed (and not in use).
    if (::sigaltstack(nullptr, &cur) == 0 && cur.ss_sp == ours) {
      stack_t prev{};
      prev.ss_sp = prev_sp_;
      prev.ss_size = prev_size_;
      prev.ss_flags = prev_flags_;
      if ((prev_flags_ & SS_DISABLE) != 0) {
        prev.ss_sp = nullptr;
        prev.ss_size = 0;
      }
      if (::sigaltstack(&prev, nullptr) != 0) return;  // leak rather than unmap an installed stack
    }
  }
  ::munmap(mem_, size_ + page);
}

}  // namespace spindle::fiber
