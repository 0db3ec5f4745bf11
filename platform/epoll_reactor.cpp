// EpollReactor: the Linux backend of Reactor. Edge-triggered epoll, an eventfd for wake().
//
// Registration. add() registers the fd edge-triggered (EPOLLET) for the directions of its interest
// (EPOLLIN|EPOLLRDHUP for kReadable, EPOLLOUT for kWritable; both for a socket that will be read
// and written), once; arm() changes the registration only when it must (below). epoll_data carries
// the fd and a registration generation, not the token: the token lives in a per-fd Slot, so a
// report harvested for an older registration of the same fd number is recognized and dropped.
//
// arm() and lost edges. With EPOLLET the kernel queues the fd on epoll's ready list at every
// readiness transition of a watched direction, and epoll_wait takes it off when it reports it. A
// waiter that saw EAGAIN cannot lose an edge that arrives later: either the edge is still queued (a
// later poll reports it) or a poll has harvested it. The second case is the dangerous one: a poll
// reported the direction (before the waiter armed, or for an earlier waiter), the data is still
// unread, and no new edge will come. EPOLL_CTL_MOD re-evaluates readiness and queues the fd again
// if it is ready for the new mask, so arm() must MOD whenever that may have happened, and need not
// otherwise. Each Slot keeps
//  - consumed: the directions a poll reported since they were last armed (poll sets the bits
//    before it returns; arm clears the bits it arms);
//  - mask: the directions in the kernel registration.
// arm(d) returns without a system call when d is in mask and consumed had no d bit. Otherwise it
// MODs, under the slot's lock, to d plus the directions of mask that are armed and not reported
// yet: a direction already reported is dropped (its waiter has been woken and arms again when it
// needs to, which adds it back). Dropping it is what keeps a MOD for readability from re-reporting
// the writability of an idle socket, a wasted poller wake-up per read.
// Why no readiness R of direction d existing at arm time T is lost: R began with an edge while d
// was in mask, or the MOD that last added d to mask found it ready and queued the fd. If that
// queued entry is still there at T, a later epoll_wait reports it. Otherwise a poll harvested it
// and reported d: if that poll has not set consumed yet at T, it returns after T with the report.
// If it has and the bit is still set, this arm sees it and MODs, queueing the fd again. If an
// earlier arm cleared the bit, that arm MODed with d while R existed, which queued the fd again:
// repeat with that entry (there are finitely many harvests before T). A direction only leaves mask
// when consumed shows a report for it, and then arm(d) sees d missing from mask and MODs.
// So in the usual cycle (read, EAGAIN, arm, park, edge, poll, wake, read until EAGAIN, arm ...) an
// arm after a reported edge costs one epoll_ctl, and an arm with nothing reported since the
// previous one (a retry after a spurious wake-up) is free.
//
// wake(). An eventfd registered level-triggered. wake_pending_ makes repeated wake() calls cost one
// write(2) until a poll has seen it: poll reads the eventfd to zero and only then clears the flag,
// so a wake() racing with that either writes again or is covered by the poll that is returning.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "spindle/platform/reactor.hpp"
#include "spindle/sys.h"
#include "timeout.hpp"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define SPINDLE_HAVE_EPOLL_PWAIT2 1
#else
#define SPINDLE_HAVE_EPOLL_PWAIT2 0
#endif

namespace spindle::platform {

std::unique_ptr<Reactor> make_epoll_reactor();

namespace {

[[noreturn]] void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}

constexpr std::uint32_t kDirections = kReadable | kWritable;
// epoll_data of the eventfd; never a registration key (those have fd < FdTable capacity).
constexpr std::uint64_t kWakeKey = ~std::uint64_t{0};
// Most events taken from the kernel per epoll_wait (an array on poll's stack).
constexpr std::size_t kBatch = 256;

std::uint64_t registration_key(int fd, std::uint32_t gen) noexcept {
  return (std::uint64_t{gen} << 32) | static_cast<std::uint32_t>(fd);
}

// epoll_events returns the edge-triggered epoll mask watching the given directions.
std::uint32_t epoll_events(std::uint32_t directions) noexcept {
  std::uint32_t events = EPOLLET;
  if (directions & kReadable) events |= EPOLLIN | EPOLLRDHUP;
  if (directions & kWritable) events |= EPOLLOUT;
  return events;
}

// Slot is the reactor's state for one fd number. Registered iff token != nullptr.
struct Slot {
  std::atomic<void*> token{nullptr};
  // gen is bumped by every add; it is the high half of the registration's epoll_data.
  std::atomic<std::uint32_t> gen{0};
  // consumed holds the directions (kReadable, kWritable) a poll reported since they were last
  // armed.
  std::atomic<std::uint32_t> consumed{0};
  // mask holds the directions of the kernel registration; written under `lock`.
  std::atomic<std::uint32_t> mask{0};
  // lock serializes arm's EPOLL_CTL_MOD decisions (held across one epoll_ctl, rarely contended:
  // only a reader and a writer of the same fd arming at once).
  std::atomic<bool> lock{false};
};

// SlotLock holds a Slot's spin lock.
class SlotLock {
 public:
  explicit SlotLock(Slot& slot) noexcept : flag_(slot.lock) {
    for (int spins = 0; flag_.exchange(true, std::memory_order_acquire); ++spins) {
      while (flag_.load(std::memory_order_relaxed)) {
        if (++spins > 64) spindle_sys_yield();
      }
    }
  }
  SlotLock(const SlotLock&) = delete;
  SlotLock& operator=(const SlotLock&) = delete;
  ~SlotLock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool>& flag_;
};

// FdTable maps fd numbers to Slots: a fixed top-level array of lazily allocated chunks that are
// never freed before the table, so lookups are lock-free and a Slot pointer stays valid.
class FdTable {
 public:
  FdTable() : capacity_(table_capacity()), chunks_(new std::atomic<Chunk*>[capacity_ / kChunk]()) {}
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;
  ~FdTable() {
    for (std::size_t i = 0; i < capacity_ / kChunk; ++i) delete chunks_[i].load();
  }

  // find returns fd's Slot, or nullptr if fd was never added.
  Slot* find(int fd) const noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= capacity_) return nullptr;
    Chunk* chunk = chunks_[static_cast<std::size_t>(fd) / kChunk].load(std::memory_order_acquire);
    return chunk ? &chunk->slots[static_cast<std::size_t>(fd) % kChunk] : nullptr;
  }

  // get returns fd's Slot, allocating its chunk. Throws std::system_error(EBADF) for a negative fd
  // or one beyond the table (larger than RLIMIT_NOFILE's hard limit at construction), bad_alloc.
  Slot* get(int fd) {
    if (fd < 0 || static_cast<std::size_t>(fd) >= capacity_) {
      throw_errno(EBADF, "epoll_ctl(EPOLL_CTL_ADD)");
    }
    std::atomic<Chunk*>& entry = chunks_[static_cast<std::size_t>(fd) / kChunk];
    Chunk* chunk = entry.load(std::memory_order_acquire);
    if (chunk == nullptr) {
      auto fresh = std::make_unique<Chunk>();
      if (entry.compare_exchange_strong(chunk, fresh.get(), std::memory_order_acq_rel)) {
        chunk = fresh.release();
      }
    }
    return &chunk->slots[static_cast<std::size_t>(fd) % kChunk];
  }

 private:
  static constexpr std::size_t kChunk = 256;
  struct Chunk {
    Slot slots[kChunk];
  };

  // table_capacity covers every fd number the process may open: RLIMIT_NOFILE's hard limit,
  // clamped to [2^16, 2^24] (a 512 KiB top-level array at most), rounded up to whole chunks.
  static std::size_t table_capacity() noexcept {
    constexpr std::size_t kMin = std::size_t{1} << 16;
    constexpr std::size_t kMax = std::size_t{1} << 24;
    std::size_t limit = kMin;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      limit = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > kMax
                  ? kMax
                  : std::max(kMin, static_cast<std::size_t>(rl.rlim_max));
    }
    return (limit + kChunk - 1) / kChunk * kChunk;
  }

  const std::size_t capacity_;
  std::unique_ptr<std::atomic<Chunk*>[]> chunks_;
};

// UniqueFd closes its descriptor on destruction.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

int checked(int fd, const char* what) {
  if (fd < 0) throw_errno(errno, what);
  return fd;
}

// Whether epoll_pwait2 works here; cleared for good the first time the kernel says ENOSYS (older
// than 5.11) or a seccomp filter refuses it with EPERM (not an error epoll_pwait2 otherwise
// returns).
std::atomic<bool> g_pwait2_usable{SPINDLE_HAVE_EPOLL_PWAIT2 != 0};

class EpollReactor final : public Reactor {
 public:
  EpollReactor()
      : epfd_(checked(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
        wakefd_(checked(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: an undrained wake keeps polls returning
    ev.data.u64 = kWakeKey;
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, wakefd_.get(), &ev) != 0) {
      throw_errno(errno, "epoll_ctl(EPOLL_CTL_ADD)");
    }
  }

  ReactorKind kind() const noexcept override { return ReactorKind::Epoll; }
  const char* name() const noexcept override { return "epoll"; }
  // With EPOLLET and no EPOLL_CTL_MOD, the kernel queues the fd at every readiness transition of a
  // registered direction (new data, freed send space after EAGAIN, hangup, error).
  bool reports_without_arm() const noexcept override { return true; }

  void add(int fd, void* token, std::uint32_t interest) override {
    if (token == nullptr) throw std::invalid_argument("Reactor::add: null token");
    Slot* slot = fds_.get(fd);
    if (slot->token.load() != nullptr) throw_errno(EEXIST, "epoll_ctl(EPOLL_CTL_ADD)");
    // Publish the new generation and token before the kernel can report the registration.
    const std::uint32_t gen = slot->gen.load() + 1;
    slot->gen.store(gen);
    slot->consumed.store(0);
    slot->mask.store(interest & kDirections);
    slot->token.store(token);
    epoll_event ev{};
    ev.events = epoll_events(interest & kDirections);
    ev.data.u64 = registration_key(fd, gen);
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      const int err = errno;
      slot->token.store(nullptr);
      throw_errno(err, "epoll_ctl(EPOLL_CTL_ADD)");
    }
  }

  void arm(int fd, void* /*token*/, std::uint32_t interest) override {
    Slot* slot = fds_.find(fd);
    if (slot == nullptr || slot->token.load(std::memory_order_relaxed) == nullptr) {
      throw_errno(ENOENT, "epoll_ctl(EPOLL_CTL_MOD)");
    }
    const std::uint32_t want = interest & kDirections;
    if (want == 0) return;
    // Fast path: watched, and no edge of these directions reported since they were last armed, so
    // any pending edge is still queued in the kernel (see the file comment).
    if ((slot->mask.load(std::memory_order_acquire) & want) == want &&
        (slot->consumed.fetch_and(~want, std::memory_order_acq_rel) & want) == 0) {
      return;
    }
    SlotLock lock(*slot);
    slot->consumed.fetch_and(~want, std::memory_order_acq_rel);
    // Keep the directions that are armed and not reported yet; drop the reported ones.
    const std::uint32_t mask = want | (slot->mask.load(std::memory_order_relaxed) &
                                       ~slot->consumed.load(std::memory_order_acquire));
    epoll_event ev{};
    ev.events = epoll_events(mask);
    ev.data.u64 = registration_key(fd, slot->gen.load());
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
      throw_errno(errno, "epoll_ctl(EPOLL_CTL_MOD)");
    }
    slot->mask.store(mask, std::memory_order_release);
  }

  void remove(int fd) override {
    Slot* slot = fds_.find(fd);
    if (slot == nullptr || slot->token.load() == nullptr) {
      throw_errno(ENOENT, "epoll_ctl(EPOLL_CTL_DEL)");
    }
    // Polls that look the slot up from now on drop this registration's reports; the kernel stops
    // queueing it once the DEL returns.
    slot->token.store(nullptr);
    if (epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
      throw_errno(errno, "epoll_ctl(EPOLL_CTL_DEL)");
    }
  }

  std::size_t poll(ReactorEvent* out, std::size_t max, std::int64_t timeout_ns) override {
    if (max == 0) return 0;
    epoll_event events[kBatch];
    const int batch = static_cast<int>(std::min(max, kBatch));
    const bool forever = timeout_ns < 0;
    const std::uint64_t deadline =
        forever ? 0 : saturating_add(spindle_sys_monotonic_time_ns(), timeout_ns);
    std::int64_t remaining = timeout_ns;
    for (;;) {
      const int n = wait(events, batch, remaining);
      if (n < 0 && errno != EINTR) throw_errno(errno, "epoll_wait");
      std::size_t count = 0;
      bool woken = false;
      for (int i = 0; i < n; ++i) {
        const std::uint64_t key = events[i].data.u64;
        if (key == kWakeKey) {
          woken = true;
          drain_wake();
          continue;
        }
        const std::uint32_t ready = translate(events[i].events);
        void* token = lookup(key, ready);
        if (token == nullptr) continue;  // removed, or an older registration of this fd number
        out[count++] = ReactorEvent{token, ready};
      }
      if (count > 0 || woken || timeout_ns == 0) return count;
      if (!forever) {
        // Only stale reports, EINTR, or a kernel timeout that ended early: wait for the rest.
        const std::uint64_t now = spindle_sys_monotonic_time_ns();
        if (now >= deadline) return 0;
        remaining = static_cast<std::int64_t>(deadline - now);
      }
    }
  }

  void wake() noexcept override {
    if (wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    const std::uint64_t one = 1;
    ssize_t r;
    do {
      r = ::write(wakefd_.get(), &one, sizeof one);
    } while (r < 0 && errno == EINTR);
    // EAGAIN would mean the counter is at its maximum: the poll is woken anyway.
  }

 private:
  static std::uint64_t saturating_add(std::uint64_t a, std::int64_t b) noexcept {
    const auto ub = static_cast<std::uint64_t>(b);
    return a > UINT64_MAX - ub ? UINT64_MAX : a + ub;
  }

  // wait is one epoll wait of at most timeout_ns (-1 = forever). With epoll_pwait2 the timeout is
  // exact to the nanosecond; epoll_wait's milliseconds are rounded up so it never returns early.
  int wait(epoll_event* events, int batch, std::int64_t timeout_ns) {
#if SPINDLE_HAVE_EPOLL_PWAIT2
    if (g_pwait2_usable.load(std::memory_order_relaxed)) {
      struct timespec ts;
      struct timespec* tsp = timeout_timespec(timeout_ns, ts);
      const int n = epoll_pwait2(epfd_.get(), events, batch, tsp, nullptr);
      if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
      g_pwait2_usable.store(false, std::memory_order_relaxed);
    }
#endif
    int ms = -1;
    if (timeout_ns >= 0) {
      const std::int64_t rounded_up = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0 ? 1 : 0);
      ms = static_cast<int>(std::min<std::int64_t>(rounded_up, INT_MAX));
    }
    return epoll_wait(epfd_.get(), events, batch, ms);
  }

  // drain_wake resets the eventfd, then re-enables wake()'s write. In this order a wake() between
  // the two is covered by the poll that is returning, and none can leave the flag set with the
  // eventfd empty (which would make later wakes silent).
  void drain_wake() noexcept {
    std::uint64_t value;
    ssize_t r;
    do {
      r = ::read(wakefd_.get(), &value, sizeof value);
    } while (r < 0 && errno == EINTR);
    wake_pending_.exchange(false, std::memory_order_acq_rel);
  }

  // lookup returns the token of the registration `key` names, or nullptr if it is not current.
  // Records the directions of `ready` in the slot's `consumed` bits before poll returns (see arm).
  void* lookup(std::uint64_t key, std::uint32_t ready) noexcept {
    Slot* slot = fds_.find(static_cast<int>(static_cast<std::uint32_t>(key)));
    const auto gen = static_cast<std::uint32_t>(key >> 32);
    if (slot == nullptr || slot->gen.load() != gen) return nullptr;
    void* token = slot->token.load();
    // add() stores gen before token: a token read here that belongs to a newer registration is
    // caught by reading gen again (all sequentially consistent).
    if (token == nullptr || slot->gen.load() != gen) return nullptr;
    std::uint32_t directions = 0;
    if (ready & (kReadable | kHangup | kError)) directions |= kReadable;
    if (ready & (kWritable | kHangup | kError)) directions |= kWritable;
    slot->consumed.fetch_or(directions, std::memory_order_acq_rel);
    return token;
  }

  static std::uint32_t translate(std::uint32_t events) noexcept {
    std::uint32_t ready = 0;
    if (events & EPOLLIN) ready |= kReadable;
    if (events & EPOLLOUT) ready |= kWritable;
    if (events & (EPOLLRDHUP | EPOLLHUP)) ready |= kHangup;
    if (events & EPOLLERR) ready |= kError;
    return ready;
  }

  UniqueFd epfd_;
  UniqueFd wakefd_;
  std::atomic<bool> wake_pending_{false};
  FdTable fds_;
};

}  // namespace

std::unique_ptr<Reactor> make_epoll_reactor() {
  return std::make_unique<EpollReactor>();
}

}  // namespace spindle::platform
