// w8_loadgen: the load generator of W8 tcp_echo. One thread, one level-triggered epoll set.
// Opens --conns TCP connections (TCP_NODELAY) to 127.0.0.1:--port and on each one ping-pongs a
// --size-byte message: send it, wait until exactly those bytes have come back, check every byte,
// send the next. Every message has its own pattern, derived from the connection index and a
// per-connection sequence number, and every byte differs from the byte at the same offset of that
// connection's previous message, so a byte from another connection, a stale byte or a shifted one
// is caught. Round trips completed in the first --warmup seconds are not counted; then it measures
// for --seconds and prints one line:
//
//   w8 round_trips_per_s=<float> round_trips=<n> seconds=<float> conns=<n> size=<n>
//
// Exits 0 after printing it. A wrong echoed byte, more bytes echoed than sent, a connection error,
// an EOF from the server, a message not fully echoed 2 s after it was sent (a stalled connection),
// a connection that completed no round trip in the whole run or a run with no round trip at all
// prints an error on stderr and exits 1 (a wrong or excess byte also prints
// `w8 CHECK_FAILED <what>` on stdout, as the other bench programs do). Bad arguments exit 2.
// Connecting retries ECONNREFUSED for up to 5 s, so a script may start the server and then this.
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxConns = 60000, kMaxSize = 16 * 1024 * 1024, kMaxEvents = 256 };
static const double kConnectRetrySeconds = 5.0;
// kStallSeconds: a message not fully echoed this long after it was sent fails the run (a server
// that loses a connection's wakeup would otherwise only show up as a lower rate).
static const double kStallSeconds = 2.0;

typedef struct Conn {
  int fd;
  uint32_t index;
  uint64_t seq;         // sequence number of the message in flight
  size_t sent;          // bytes of the message in flight written so far
  size_t got;           // bytes of it echoed back (and checked) so far
  int want_out;         // EPOLLOUT is registered (a write was partial)
  uint64_t completed;   // round trips completed since the start (warmup included)
  double started;       // when the message in flight was sent (the clock of its event batch)
  unsigned char* msg;   // the message in flight: what the echo must equal
  unsigned char* rbuf;  // receive buffer, size + 1 bytes (the +1 catches excess bytes)
} Conn;

typedef struct Options {
  int port;
  long conns;
  long size;
  double seconds;
  double warmup;
} Options;

static void die(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("w8_loadgen: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

// check_failed reports a wrong echo (a result check failure) on stdout and stderr, exits 1.
static void check_failed(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void check_failed(const char* fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  printf("w8 CHECK_FAILED %s\n", what);
  fflush(stdout);
  fprintf(stderr, "w8_loadgen: CHECK FAILED: %s\n", what);
  exit(1);
}

static void usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --port=N [--conns=100] [--size=64] [--seconds=5] [--warmup=0.5]\n"
          "  ping-pongs --size bytes on each of --conns connections to 127.0.0.1:--port,\n"
          "  checks every echoed byte, counts round trips for --seconds after --warmup\n",
          argv0);
  exit(2);
}

static long parse_long(const char* argv0, const char* name, const char* s, long lo, long hi) {
  char* end = NULL;
  errno = 0;
  const long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "w8_loadgen: --%s=%s: want an integer in [%ld, %ld]\n", name, s, lo, hi);
    usage(argv0);
  }
  return v;
}

static double parse_double(const char* argv0, const char* name, const char* s, double lo,
                           double hi) {
  char* end = NULL;
  errno = 0;
  const double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
    fprintf(stderr, "w8_loadgen: --%s=%s: want a number in [%g, %g]\n", name, s, lo, hi);
    usage(argv0);
  }
  return v;
}

static Options parse_options(int argc, char** argv) {
  Options o = {-1, 100, 64, 5.0, 0.5};
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strncmp(a, "--port=", 7) == 0) {
      o.port = (int)parse_long(argv[0], "port", a + 7, 1, 65535);
    } else if (strncmp(a, "--conns=", 8) == 0) {
      o.conns = parse_long(argv[0], "conns", a + 8, 1, kMaxConns);
    } else if (strncmp(a, "--size=", 7) == 0) {
      o.size = parse_long(argv[0], "size", a + 7, 1, kMaxSize);
    } else if (strncmp(a, "--seconds=", 10) == 0) {
      o.seconds = parse_double(argv[0], "seconds", a + 10, 0.001, 1e6);
    } else if (strncmp(a, "--warmup=", 9) == 0) {
      o.warmup = parse_double(argv[0], "warmup", a + 9, 0.0, 1e6);
    } else {
      fprintf(stderr, "w8_loadgen: unknown argument '%s'\n", a);
      usage(argv[0]);
    }
  }
  if (o.port < 0) {
    fprintf(stderr, "w8_loadgen: --port is required\n");
    usage(argv[0]);
  }
  return o;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// fill_message overwrites c->msg (the previous message) with message c->seq of connection
// c->index: pseudo-random bytes seeded by (index, seq), each forced to differ from the previous
// message's byte at the same offset.
static void fill_message(Conn* c, size_t size) {
  uint64_t state = ((uint64_t)c->index << 40) ^ c->seq ^ 0x5851F42D4C957F2DULL;
  state = splitmix64(&state);
  uint64_t word = 0;
  for (size_t i = 0; i < size; ++i) {
    if (i % 8 == 0) word = splitmix64(&state);
    unsigned char b = (unsigned char)(word >> (8 * (i % 8)));
    if (b == c->msg[i]) b ^= 0xA5;
    c->msg[i] = b;
  }
}

static void epoll_set(int ep, Conn* c, int want_out) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
  ev.data.ptr = c;
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl(MOD): %s", strerror(errno));
  c->want_out = want_out;
}

// socket_error returns the pending error of a socket (SO_ERROR), or 0.
static int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

// send_some writes as much of the message in flight as the socket takes and registers EPOLLOUT
// while some of it is left.
static void send_some(int ep, Conn* c, size_t size) {
  while (c->sent < size) {
    const ssize_t n = send(c->fd, c->msg + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n > 0) {
      c->sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->want_out) epoll_set(ep, c, 1);
      return;
    }
    die("connection %" PRIu32 ": send failed after %" PRIu64 " round trips: %s", c->index,
        c->completed, n < 0 ? strerror(errno) : "send returned 0");
  }
  if (c->want_out) epoll_set(ep, c, 0);
}

static void start_message(int ep, Conn* c, size_t size, double now) {
  fill_message(c, size);
  c->started = now;
  c->sent = 0;
  c->got = 0;
  send_some(ep, c, size);
}

// on_readable reads what the socket has (once; epoll is level-triggered), checks it against the
// message in flight and returns 1 when that message has fully come back.
static int on_readable(Conn* c, size_t size) {
  // Ask for one byte more than is owed: getting it means the server echoed bytes never sent.
  const size_t owed = c->sent - c->got;
  ssize_t n;
  do {
    n = recv(c->fd, c->rbuf, owed + 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    die("connection %" PRIu32 ": recv failed after %" PRIu64 " round trips: %s", c->index,
        c->completed, strerror(errno));
  }
  if (n == 0) {
    die("connection %" PRIu32 ": unexpected EOF (server closed the connection) after %" PRIu64
        " round trips, with %zu of %zu bytes of message %" PRIu64 " echoed",
        c->index, c->completed, c->got, size, c->seq);
  }
  if ((size_t)n > owed) {
    check_failed("connection %" PRIu32 " message %" PRIu64
                 ": server echoed more bytes than were sent (%zu sent, at least %zu echoed)",
                 c->index, c->seq, c->sent, c->got + (size_t)n);
  }
  if (memcmp(c->rbuf, c->msg + c->got, (size_t)n) != 0) {
    size_t i = 0;
    while (c->rbuf[i] == c->msg[c->got + i]) ++i;
    check_failed("connection %" PRIu32 " message %" PRIu64
                 ": echoed byte %zu of %zu is 0x%02x, expected 0x%02x",
                 c->index, c->seq, c->got + i, size, c->rbuf[i], c->msg[c->got + i]);
  }
  c->got += (size_t)n;
  return c->got == size;
}

// check_stalls fails the run when a connection's message has been in flight for kStallSeconds.
static void check_stalls(const Conn* conns, long n, size_t size, double now) {
  for (long i = 0; i < n; ++i) {
    const Conn* c = &conns[i];
    if (now - c->started >= kStallSeconds) {
      die("connection %" PRIu32 ": stalled: message %" PRIu64
          " sent %.3f s ago, %zu of %zu bytes "
          "written and %zu echoed (%" PRIu64 " round trips before it)",
          c->index, c->seq, now - c->started, c->sent, size, c->got, c->completed);
    }
  }
}

// connect_one opens a blocking connection to 127.0.0.1:port, retrying ECONNREFUSED until
// `deadline`, then makes it non-blocking with TCP_NODELAY.
static int connect_one(int port, uint32_t index, double deadline) {
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (;;) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int r;
    do {
      r = connect(fd, (const struct sockaddr*)&addr, sizeof addr);
    } while (r != 0 && errno == EINTR);
    if (r == 0) {
      const int one = 1;
      if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        die("setsockopt(TCP_NODELAY): %s", strerror(errno));
      }
      const int flags = fcntl(fd, F_GETFL);
      if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        die("fcntl(O_NONBLOCK): %s", strerror(errno));
      }
      return fd;
    }
    const int err = errno;
    close(fd);
    if (err != ECONNREFUSED || now_s() >= deadline) {
      die("connection %" PRIu32 ": connect to 127.0.0.1:%d failed: %s%s", index, port,
          strerror(err), err == ECONNREFUSED ? " (retried for 5 s)" : "");
    }
    sleep_s(0.02);
  }
}

// raise_nofile lifts the soft open-files limit to the hard one when `need` descriptors do not fit.
static void raise_nofile(long need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
      rl.rlim_cur >= (rlim_t)need) {
    return;
  }
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)need) {
    die("--conns needs about %ld open files; RLIMIT_NOFILE allows %llu", need,
        (unsigned long long)rl.rlim_cur);
  }
}

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const size_t size = (size_t)o.size;
  raise_nofile(o.conns + 16);

  Conn* conns = calloc((size_t)o.conns, sizeof *conns);
  if (conns == NULL) die("out of memory");
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));

  const double connect_deadline = now_s() + kConnectRetrySeconds;
  for (long i = 0; i < o.conns; ++i) {
    Conn* c = &conns[i];
    c->index = (uint32_t)i;
    c->msg = calloc(size, 1);
    c->rbuf = malloc(size + 1);
    if (c->msg == NULL || c->rbuf == NULL) die("out of memory");
    c->fd = connect_one(o.port, c->index, connect_deadline);
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl(ADD): %s", strerror(errno));
  }

  const double t_begin = now_s();
  const double warm_end = t_begin + o.warmup;
  for (long i = 0; i < o.conns; ++i) start_message(ep, &conns[i], size, t_begin);

  int measuring = 0;
  double t0 = 0, t1 = 0;
  uint64_t counted = 0;
  double last_stall_scan = t_begin;
  struct epoll_event events[kMaxEvents];
  for (;;) {
    // The clock is read once per batch of events: a batch's round trips count when the batch
    // started inside the measured window, and the window's length is measured the same way.
    const double now = now_s();
    if (!measuring && now >= warm_end) {
      measuring = 1;
      t0 = now;
    }
    if (measuring && now - t0 >= o.seconds) {
      t1 = now;
      break;
    }
    if (now - last_stall_scan >= 0.1) {
      check_stalls(conns, o.conns, size, now);
      last_stall_scan = now;
    }
    const double until = measuring ? t0 + o.seconds : warm_end;
    int timeout_ms = (int)((until - now) * 1000.0) + 1;
    if (timeout_ms > 100) timeout_ms = 100;
    const int n = epoll_wait(ep, events, kMaxEvents, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    for (int k = 0; k < n; ++k) {
      Conn* c = events[k].data.ptr;
      const uint32_t ev = events[k].events;
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (on_readable(c, size)) {
          ++c->completed;
          counted += (uint64_t)measuring;
          ++c->seq;
          start_message(ep, c, size, now);
          continue;
        }
        if ((ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLIN)) {
          const int err = socket_error(c->fd);
          die("connection %" PRIu32 ": %s after %" PRIu64 " round trips: %s", c->index,
              (ev & EPOLLERR) ? "socket error" : "hang-up", c->completed,
              err ? strerror(err) : "no error code");
        }
      }
      if ((ev & EPOLLOUT) && c->sent < size) send_some(ep, c, size);
    }
  }

  check_stalls(conns, o.conns, size, t1);
  for (long i = 0; i < o.conns; ++i) {
    if (conns[i].completed == 0) {
      die("connection %ld completed no round trip in %.3f s (the server never echoed it)", i,
          t1 - t_begin);
    }
  }
  if (counted == 0) die("no round trip completed in the measured %.3f s", t1 - t0);

  const double secs = t1 - t0;
  printf("w8 round_trips_per_s=%.1f round_trips=%" PRIu64 " seconds=%.3f conns=%ld size=%ld\n",
         (double)counted / secs, counted, secs, o.conns, o.size);
  fflush(stdout);

  for (long i = 0; i < o.conns; ++i) {
    close(conns[i].fd);
    free(conns[i].msg);
    free(conns[i].rbuf);
  }
  free(conns);
  close(ep);
  return 0;
}
