// w8_uv_echo: the baseline server of W8 tcp_echo, a plain libuv echo server. One uv loop on one
// thread listens on 127.0.0.1:--port (0 = an ephemeral port), prints `listening port=<n>` once it
// listens, and on every accepted connection (TCP_NODELAY) writes back exactly what it reads: each
// read gets a fresh malloc'd buffer from the allocator, which goes to uv_write as is and is freed
// in the write callback. EOF or an error closes the connection. SIGINT or SIGTERM closes every
// handle and exits 0 without printing anything else. bench/w8_run.sh runs it against w8_loadgen.
#define _GNU_SOURCE  // uv.h needs POSIX types (pthread_rwlock_t) under -std=c11

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

typedef struct WriteReq {
  uv_write_t req;
  uv_buf_t buf;
} WriteReq;

static uv_tcp_t server;
static uv_signal_t sigint_handle;
static uv_signal_t sigterm_handle;

static void fail(const char* what, int err) {
  fprintf(stderr, "w8_uv_echo: %s: %s\n", what, uv_strerror(err));
  exit(1);
}

static void on_client_close(uv_handle_t* handle) {
  free(handle);
}

static void close_client(uv_stream_t* client) {
  if (!uv_is_closing((uv_handle_t*)client)) uv_close((uv_handle_t*)client, on_client_close);
}

static void on_alloc(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buf) {
  (void)handle;
  buf->base = malloc(suggested_size);
  buf->len = buf->base != NULL ? suggested_size : 0;  // len 0 makes libuv report UV_ENOBUFS
}

static void on_write(uv_write_t* req, int status) {
  WriteReq* w = (WriteReq*)req;
  uv_stream_t* client = req->handle;
  free(w->buf.base);
  free(w);
  if (status < 0) close_client(client);
}

static void on_read(uv_stream_t* client, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    WriteReq* w = malloc(sizeof *w);
    if (w == NULL) {
      free(buf->base);
      close_client(client);
      return;
    }
    w->buf = uv_buf_init(buf->base, (unsigned int)nread);
    const int r = uv_write(&w->req, client, &w->buf, 1, on_write);
    if (r < 0) {
      free(w->buf.base);
      free(w);
      close_client(client);
    }
    return;
  }
  free(buf->base);  // nread == 0 is EAGAIN; nread < 0 is EOF or an error
  if (nread < 0) close_client(client);
}

static void on_connection(uv_stream_t* listener, int status) {
  if (status < 0) {
    fprintf(stderr, "w8_uv_echo: accept: %s\n", uv_strerror(status));
    return;
  }
  uv_tcp_t* client = malloc(sizeof *client);
  if (client == NULL) return;
  uv_tcp_init(listener->loop, client);
  if (uv_accept(listener, (uv_stream_t*)client) != 0) {
    uv_close((uv_handle_t*)client, on_client_close);
    return;
  }
  uv_tcp_nodelay(client, 1);
  if (uv_read_start((uv_stream_t*)client, on_alloc, on_read) != 0)
    close_client((uv_stream_t*)client);
}

static void close_walk(uv_handle_t* handle, void* arg) {
  (void)arg;
  if (uv_is_closing(handle)) return;
  const int is_client = handle->type == UV_TCP && handle != (uv_handle_t*)&server;
  uv_close(handle, is_client ? on_client_close : NULL);
}

static void on_signal(uv_signal_t* handle, int signum) {
  (void)signum;
  uv_walk(handle->loop, close_walk, NULL);
}

static int parse_port(int argc, char** argv) {
  int port = -1;
  for (int i = 1; i < argc; ++i) {
    char* end = NULL;
    if (strncmp(argv[i], "--port=", 7) == 0) {
      const long v = strtol(argv[i] + 7, &end, 10);
      if (end != argv[i] + 7 && *end == '\0' && v >= 0 && v <= 65535) {
        port = (int)v;
        continue;
      }
    }
    port = -1;
    break;
  }
  if (port < 0) {
    fprintf(stderr, "usage: %s --port=N   (N = 0 picks an ephemeral port)\n", argv[0]);
    exit(2);
  }
  return port;
}

int main(int argc, char** argv) {
  const int port = parse_port(argc, argv);
  uv_loop_t* loop = uv_default_loop();

  int r;
  if ((r = uv_signal_init(loop, &sigint_handle)) != 0) fail("uv_signal_init", r);
  if ((r = uv_signal_start(&sigint_handle, on_signal, SIGINT)) != 0) fail("SIGINT", r);
  if ((r = uv_signal_init(loop, &sigterm_handle)) != 0) fail("uv_signal_init", r);
  if ((r = uv_signal_start(&sigterm_handle, on_signal, SIGTERM)) != 0) fail("SIGTERM", r);

  struct sockaddr_in addr;
  if ((r = uv_ip4_addr("127.0.0.1", port, &addr)) != 0) fail("uv_ip4_addr", r);
  if ((r = uv_tcp_init(loop, &server)) != 0) fail("uv_tcp_init", r);
  if ((r = uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0)) != 0) fail("bind", r);
  if ((r = uv_listen((uv_stream_t*)&server, 1024, on_connection)) != 0) fail("listen", r);

  struct sockaddr_storage bound;
  int len = sizeof bound;
  if ((r = uv_tcp_getsockname(&server, (struct sockaddr*)&bound, &len)) != 0) {
    fail("getsockname", r);
  }
  printf("listening port=%d\n", ntohs(((struct sockaddr_in*)&bound)->sin_port));
  fflush(stdout);

  uv_run(loop, UV_RUN_DEFAULT);
  if ((r = uv_loop_close(loop)) != 0) fail("uv_loop_close", r);
  return 0;
}
