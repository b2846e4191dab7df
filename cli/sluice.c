/* The `sluice` command. `serve` is a static file server (sl_static_serve
 * behind sl_http_listen) with an access log, serving a directory or the
 * bundled demo site; SIGINT/SIGTERM close it gracefully; `--workers N`
 * runs it as a cluster of N reuseport processes. `demo`: a
 * generated web server log streams through gzip into a file and back
 * through gunzip into a checksum, printing throughput and peak memory,
 * which stays at the sum of the pipeline's high-water marks however large
 * the log. Uses only <sluice.h> (and libuv for the signal handles). */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice.h>
#include <uv.h>

typedef struct {
  uint64_t total, made, line;
} gen_t;

/* A Readable that produces log lines until `total` bytes: the read hook
 * fills one 64 KiB chunk per call and pushes it. */
static void gen_read(sl_stream_t* s, size_t hint) {
  gen_t* g = sl_stream_data(s);
  static const char* paths[] = {"/", "/index.html", "/api/items",
                                "/static/app.js", "/video/intro.mp4",
                                "/api/login", "/favicon.ico"};
  static const int codes[] = {200, 200, 200, 304, 404, 206, 500};
  size_t cap = 64 * 1024;
  sl_chunk_t* c = sl_chunk_new(cap);
  char* p = sl_chunk_data(c);
  size_t n = 0;
  while (n + 160 < cap && g->made + n < g->total) {
    uint64_t i = g->line++;
    uint64_t x = i * 2654435761u;
    n += (size_t)snprintf(
        p + n, cap - n,
        "127.0.0.%" PRIu64 " - - [27/Nov/2026:%02" PRIu64 ":%02" PRIu64
        ":%02" PRIu64 " +0000] \"GET %s HTTP/1.1\" %d %" PRIu64 " %" PRIu64
        "ms\n",
        x % 255, (i / 3600) % 24, (i / 60) % 60, i % 60, paths[x % 7],
        codes[(x >> 8) % 7], (x >> 4) % 50000, (x >> 12) % 900);
  }
  if (g->made + n > g->total) n = (size_t)(g->total - g->made);
  g->made += n;
  sl_chunk_set_len(c, n);
  sl_stream_push(s, c);
  sl_chunk_unref(c);
  if (g->made >= g->total) sl_stream_push(s, NULL);
}

typedef struct {
  const char* out;
  uint64_t size, start, compressed;
  int status;
} demo_t;

static void on_verified(int err, int stage, const char* msg, void* arg);

/* A Writable that only counts what reaches it. */
static void count_write(sl_stream_t* s, sl_chunk_t* c) {
  *(uint64_t*)sl_stream_data(s) += sl_chunk_len(c);
  sl_stream_write_done(s, 0);
}

static uint64_t verified;

static void on_compressed(int err, int stage, const char* msg, void* arg) {
  demo_t* d = arg;
  if (err != 0) {
    fprintf(stderr, "sluice demo: stage %d: %s\n", stage, msg);
    d->status = 1;
    return;
  }
  double secs = (sl_hrtime() - d->start) / 1e9;
  FILE* f = fopen(d->out, "rb");
  if (f != NULL) {
    fseek(f, 0, SEEK_END);
    d->compressed = (uint64_t)ftell(f);
    fclose(f);
  }
  printf("generated %.0f MiB of log -> gzip -> %s: %.1f MiB (%.1f%%) "
         "in %.2f s, %.0f MB/s\n",
         d->size / 1048576.0, d->out, d->compressed / 1048576.0,
         100.0 * d->compressed / d->size, secs, d->size / secs / 1e6);
  static const sl_stream_hooks_t counter = {.write = count_write};
  sl_stream_opts_t co = {.hooks = &counter, .data = &verified};
  d->start = sl_hrtime();
  sl_pipeline(on_verified, d, sl_file_reader(d->out, NULL), sl_gunzip(NULL),
              sl_writable_new(&co), NULL);
}

static void on_verified(int err, int stage, const char* msg, void* arg) {
  demo_t* d = arg;
  if (err != 0) {
    fprintf(stderr, "sluice demo: verify stage %d: %s\n", stage, msg);
    d->status = 1;
    return;
  }
  double secs = (sl_hrtime() - d->start) / 1e9;
  printf("read back through gunzip: %" PRIu64 " bytes (%s) in %.2f s, "
         "%.0f MB/s\n",
         verified, verified == d->size ? "all of them" : "MISMATCH", secs,
         verified / secs / 1e6);
  printf("peak RSS %.1f MiB for %.0f MiB of data: streams hold only their "
         "high-water marks\n",
         sl_peak_rss() / 1048576.0, d->size / 1048576.0);
  if (verified != d->size) d->status = 1;
}

static int demo(int argc, char** argv) {
  demo_t d = {.out = "/tmp/sluice-demo.log.gz", .size = 256ull << 20};
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--size-mib") == 0 && i + 1 < argc)
      d.size = strtoull(argv[++i], NULL, 10) << 20;
    else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
      d.out = argv[++i];
  }
  gen_t g = {.total = d.size};
  static const sl_stream_hooks_t gen_hooks = {.read = gen_read};
  sl_stream_opts_t go = {.hooks = &gen_hooks, .data = &g,
                         .high_water_mark = 64 * 1024};
  d.start = sl_hrtime();
  sl_pipeline(on_compressed, &d, sl_readable_new(&go), sl_gzip(NULL),
              sl_file_writer(d.out, NULL), NULL);
  sl_run();
  return d.status;
}

/* --- serve -------------------------------------------------------------- */

typedef struct {
  sl_http_server_t* srv;
  sl_static_t* st;
  uv_signal_t sig[2];
  int closing;
} serve_t;

static void on_request(sl_stream_t* req, sl_stream_t* res, void* arg) {
  serve_t* sv = arg;
  int rc = sl_static_serve(sv->st, req, res);
  if (rc != 0 && !sl_http_headers_sent(res))
    sl_http_respond(res, 500, "text/plain", "Internal Server Error\n", 22);
}

static void on_server_closed(void* arg) {
  (void)arg;
  fprintf(stderr, "sluice serve: closed\n");
}

/* The first SIGINT or SIGTERM closes the server gracefully (in-flight
 * responses finish); once everything is closed sl_run() returns. */
static void on_signal(uv_signal_t* h, int signum) {
  serve_t* sv = h->data;
  if (sv->closing) return;
  sv->closing = 1;
  fprintf(stderr, "sluice serve: %s, closing\n",
          signum == SIGINT ? "SIGINT" : "SIGTERM");
  for (int i = 0; i < 2; i++) {
    uv_signal_stop(&sv->sig[i]);
    uv_close((uv_handle_t*)&sv->sig[i], NULL);
  }
  sl_http_server_close(sv->srv, on_server_closed, sv);
}

/* --- serve --workers N: a cluster of reuseport servers ------------------ */

static void on_worker_shutdown(void* arg) {
  serve_t* sv = arg;
  sl_http_server_close(sv->srv, NULL, NULL);
}

static void ignore_signal(uv_signal_t* h, int signum) {
  (void)h;
  (void)signum; /* Ctrl-C reaches the whole group: the primary acts */
}

/* A worker: its own SO_REUSEPORT socket on the shared port; SIGTERM or the
 * primary's shutdown closes it gracefully and sl_run() returns. */
static int serve_worker(serve_t* sv, const char* dir,
                        sl_http_server_opts_t* so) {
  so->reuseport = 1;
  int err = sl_http_listen(so, on_request, sv, &sv->srv);
  if (err != 0) {
    fprintf(stderr, "sluice serve: worker %d: %s: %s %s:%d\n",
            (int)getpid(), sl_err_name(err), sl_strerror(err), so->host,
            so->port);
    return 78; /* the fatal code: not replaced */
  }
  uv_signal_init(sl_loop(), &sv->sig[0]);
  uv_signal_start(&sv->sig[0], ignore_signal, SIGINT);
  uv_unref((uv_handle_t*)&sv->sig[0]);
  sl_cluster_on_shutdown(on_worker_shutdown, sv);
  sl_cluster_notify_listening(sl_http_server_port(sv->srv));
  printf("Worker %d serving %s at http://%s:%d/\n", (int)getpid(), dir,
         so->host, sl_http_server_port(sv->srv));
  fflush(stdout);
  return sl_run() == 0 ? 0 : 1;
}

static void on_worker_exit(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (ev->respawn)
    fprintf(stderr, "sluice serve: worker %d died, forking a new one\n",
            (int)sl_worker_pid(ev->worker));
}

/* The primary: forks the workers, replaces the dead ones, and on SIGINT or
 * SIGTERM shuts them down gracefully; exits 0 once they are gone. */
static int serve_primary(int workers, const char* dir,
                         const sl_http_server_opts_t* so) {
  sl_cluster_opts_t o = {.workers = workers, .handle_signals = 1,
                         .shutdown_timeout_ms = 10000};
  sl_cluster_on(SL_CLUSTER_EXIT, on_worker_exit, NULL);
  printf("Primary %d serving %s at http://%s:%d/ with %d workers\n",
         (int)getpid(), dir, so->host, so->port, workers);
  fflush(stdout);
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "sluice serve: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(NULL, NULL);
    sl_run();
    return 1;
  }
  return sl_run() == 0 ? 0 : 1;
}

static int is_dir(const char* p) {
  struct stat sb;
  return p != NULL && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The bundled demo site: $SLUICE_SITE, then <exe dir>/../share/site,
 * <exe dir>/share/site (an installed or a build tree), then the source
 * tree this file was compiled from. Returns a static path or NULL. */
static const char* find_site(void) {
  static char buf[PATH_MAX + 32];
  const char* env = getenv("SLUICE_SITE");
  if (env != NULL && env[0] != '\0') return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char* slash = strrchr(exe, '/');
    if (slash != NULL) *slash = '\0';
    snprintf(buf, sizeof buf, "%s/../share/site", exe);
    if (is_dir(buf)) return buf;
    snprintf(buf, sizeof buf, "%s/share/site", exe);
    if (is_dir(buf)) return buf;
  }
  snprintf(buf, sizeof buf, "%s", __FILE__); /* .../cli/sluice.c */
  char* cut = strstr(buf, "/cli/sluice.c");
  if (cut != NULL && buf[0] == '/') {
    strcpy(cut, "/share/site");
    if (is_dir(buf)) return buf;
  }
  return NULL;
}

static void serve_usage(FILE* f) {
  fprintf(f,
          "usage: sluice serve [DIR] [--port P] [--host H] [--quiet]\n"
          "                    [--workers N]\n"
          "  Serves DIR (default: the bundled demo site) over HTTP/1.1 with\n"
          "  Range, ETag/304, gzip for text, directory listings and an\n"
          "  access log on stderr (--quiet: none). Defaults: --port 8080\n"
          "  --host 127.0.0.1.\n"
          "  Ctrl-C (SIGINT) or SIGTERM closes it gracefully.\n"
          "  --workers N: a cluster of N processes, each listening on the\n"
          "  port (SO_REUSEPORT); a dead worker is replaced.\n"
          "  The demo site is found in $SLUICE_SITE, <exe>/../share/site,\n"
          "  <exe>/share/site or the source tree.\n");
}

static int serve_parse(int argc, char** argv, const char** dir,
                       sl_http_server_opts_t* so, int* workers) {
  for (int i = 0; i < argc; i++) {
    const char* a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      serve_usage(stdout);
      return 0;
    }
    if ((strcmp(a, "--port") == 0 || strcmp(a, "-p") == 0) && i + 1 < argc) {
      char* end;
      long p = strtol(argv[++i], &end, 10);
      if (*end != '\0' || p < 0 || p > 65535) {
        fprintf(stderr, "sluice serve: invalid port '%s'\n", argv[i]);
        return 2;
      }
      so->port = (int)p;
    } else if (strcmp(a, "--workers") == 0 && i + 1 < argc) {
      char* end;
      long n = strtol(argv[++i], &end, 10);
      if (*end != '\0' || n < 1 || n > 1024) {
        fprintf(stderr, "sluice serve: invalid worker count '%s'\n",
                argv[i]);
        return 2;
      }
      *workers = (int)n;
    } else if (strcmp(a, "--host") == 0 && i + 1 < argc) {
      so->host = argv[++i];
    } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
      so->access_log = 0;
    } else if (a[0] == '-' || *dir != NULL) {
      fprintf(stderr, "sluice serve: unexpected argument '%s'\n", a);
      serve_usage(stderr);
      return 2;
    } else {
      *dir = a;
    }
  }
  return -1;
}

static int serve(int argc, char** argv) {
  const char* dir = NULL;
  sl_http_server_opts_t so = {.host = "127.0.0.1", .port = 8080,
                              .access_log = 1};
  int workers = 0;
  int rc = serve_parse(argc, argv, &dir, &so, &workers);
  if (rc >= 0) return rc;
  if (dir == NULL && (dir = find_site()) == NULL) {
    fprintf(stderr, "sluice serve: the demo site was not found (set "
                    "SLUICE_SITE or give a DIR)\n");
    return 1;
  }
  serve_t sv = {0};
  int err;
  sl_static_opts_t o = {.root = dir};
  if ((sv.st = sl_static_new(&o, &err)) == NULL) {
    fprintf(stderr, "sluice serve: %s: %s, '%s'\n", sl_err_name(err),
            sl_strerror(err), dir);
    return 1;
  }
  if (workers > 0 && so.port == 0) {
    fprintf(stderr, "sluice serve: --workers needs a fixed --port\n");
    sl_static_free(sv.st);
    return 2;
  }
  if (workers > 0) {
    rc = sl_cluster_is_primary() ? serve_primary(workers, dir, &so)
                                 : serve_worker(&sv, dir, &so);
    sl_static_free(sv.st);
    return rc;
  }
  if ((err = sl_http_listen(&so, on_request, &sv, &sv.srv)) != 0) {
    fprintf(stderr, "sluice serve: %s: %s %s:%d\n", sl_err_name(err),
            sl_strerror(err), so.host, so.port);
    sl_static_free(sv.st);
    return 1;
  }
  static const int sigs[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(sl_loop(), &sv.sig[i]);
    sv.sig[i].data = &sv;
    uv_signal_start(&sv.sig[i], on_signal, sigs[i]);
  }
  printf("Serving %s at http://%s:%d/\n", dir, so.host,
         sl_http_server_port(sv.srv));
  fflush(stdout);
  rc = sl_run();
  sl_static_free(sv.st);
  return rc == 0 ? 0 : 1;
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: sluice serve [DIR] [--port P] [--host H] [--workers N]\n"
          "       sluice demo [--size-mib N] [--out FILE]\n"
          "  serve  serve DIR (default: the bundled demo site) at\n"
          "         http://127.0.0.1:8080/ with an access log\n"
          "  demo   stream a generated log through gzip to FILE and back,\n"
          "         printing throughput and peak memory (default 256 MiB)\n");
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "serve") == 0)
    return serve(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "demo") == 0)
    return demo(argc - 2, argv + 2);
  if (argc >= 2 &&
      (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  usage(stderr);
  return 2;
}
