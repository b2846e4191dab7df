/* The `sluice` command. `serve` is a static file server (sl_static_serve
 * behind sl_http_listen) with an access log, serving a directory or the
 * bundled demo site; SIGINT/SIGTERM close it gracefully; `--workers N`
 * runs it as a cluster (scheduling --sched) whose primary restarts dead
 * workers, does a rolling restart on SIGHUP and prints per-worker load on
 * SIGUSR1. `demo`: a generated web server log streams through gzip into
 * a file and back through gunzip into a checksum, printing throughput and
 * peak memory, which stays at the sum of the pipeline's high-water marks
 * however large the log. Uses only <sluice.h>. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sluice.h>

typedef struct {
  uint64_t total, made, line;
} gen_t;

/* A Readable that produces log lines until `total` bytes: the read hook
 * fills one 64 KiB chunk per call and pushes it. */
static void gen_read(sl_stream_t* s, size_t hint) {
  gen_t* g = sl_stream_data(s);
  static const char* paths[] = {"/",
                                "/index.html",
                                "/api/items",
                                "/static/app.js",
                                "/video/intro.mp4",
                                "/api/login",
                                "/favicon.ico"};
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

static void on_verified(int err, const sl_pipeline_result_t* pr, void* arg);

/* A Writable that only counts what reaches it. */
static void count_write(sl_stream_t* s, sl_chunk_t* c) {
  *(uint64_t*)sl_stream_data(s) += sl_chunk_len(c);
  sl_stream_write_done(s, 0);
}

static uint64_t verified;

static void on_compressed(int err, const sl_pipeline_result_t* pr, void* arg) {
  demo_t* d = arg;
  if (err != 0) {
    fprintf(stderr, "sluice demo: stage %d: %s\n", pr->stage, pr->message);
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
  printf(
      "generated %.0f MiB of log -> gzip -> %s: %.1f MiB (%.1f%%) "
      "in %.2f s, %.0f MB/s\n",
      d->size / 1048576.0, d->out, d->compressed / 1048576.0,
      100.0 * d->compressed / d->size, secs, d->size / secs / 1e6);
  static const sl_stream_hooks_t counter = {.write = count_write};
  sl_stream_opts_t co = {.hooks = &counter, .data = &verified};
  d->start = sl_hrtime();
  sl_pipeline(on_verified, d, sl_file_reader(d->out, NULL), sl_gunzip(NULL),
              sl_writable_new(&co));
}

static void on_verified(int err, const sl_pipeline_result_t* pr, void* arg) {
  demo_t* d = arg;
  if (err != 0) {
    fprintf(stderr, "sluice demo: verify stage %d: %s\n", pr->stage,
            pr->message);
    d->status = 1;
    return;
  }
  double secs = (sl_hrtime() - d->start) / 1e9;
  printf("read back through gunzip: %" PRIu64
         " bytes (%s) in %.2f s, "
         "%.0f MB/s\n",
         verified, verified == d->size ? "all of them" : "MISMATCH", secs,
         verified / secs / 1e6);
  printf(
      "peak RSS %.1f MiB for %.0f MiB of data: streams hold only their "
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
  sl_stream_opts_t go = {
      .hooks = &gen_hooks, .data = &g, .high_water_mark = 64 * 1024};
  d.start = sl_hrtime();
  sl_pipeline(on_compressed, &d, sl_readable_new(&go), sl_gzip(NULL),
              sl_file_writer(d.out, NULL));
  sl_run();
  return d.status;
}

/* --- serve -------------------------------------------------------------- */

/* systemd's Type=notify by hand: one datagram to $NOTIFY_SOCKET (a path,
 * or "@name" in the abstract namespace); no libsystemd, the protocol is a
 * sendto(2). Failures are ignored, as sd_notify(3)'s callers do: a lost
 * READY=1 is systemd's timeout to report. Only a single process or the
 * primary speaks (a worker's pid is not the service's MAINPID). */
static void notify(const char* state) {
  const char* path = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t n = path != NULL ? strlen(path) : 0;
  if (n < 2 || n >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
    return;
  memcpy(sa.sun_path, path, n);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr*)&sa,
         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
  close(fd);
}

/* RELOADING=1 carries the monotonic clock (systemd 253's notify-reload
 * wants it; older ones ignore it). */
static void notify_reloading(void) {
  char buf[64];
  snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
           sl_hrtime() / 1000);
  notify(buf);
}

/* --- the admin port: /metrics, /healthz, /readyz ------------------------ */

/* A second server on 127.0.0.1 (--admin-port), in the single process or
 * in the primary, which knows every worker from its load reports. /readyz
 * fails (503) from the moment a shutdown begins, so that a load balancer
 * or Kubernetes stops sending before the drain; /healthz answers while
 * the process lives. */
static struct {
  const char* host; /* --admin-host; NULL: 127.0.0.1 */
  int port;         /* 0: no admin server */
  sl_http_server_t* srv;
  int ready, stopping, single;
  sl_timer_t* lag; /* one process: its own event-loop lag probe */
  uint64_t lag_due_ns;
  double lag_max_ms;
} admin;

typedef sl_buf_t text_t;

static void text_add(text_t* t, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void text_add(text_t* t, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  (void)sl_buf_vprintf(t, fmt, ap); /* ENOMEM: the page lacks this piece */
  va_end(ap);
}

typedef struct {
  int id;
  int pid;
  sl_worker_load_t l;
} source_t;

/* The families, each with all its samples together (the text format
 * wants them contiguous), one label set per worker. */
static void metrics_http(text_t* t, const source_t* s, size_t n) {
  static const char* cls[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  text_add(t,
           "# HELP sluice_http_requests_total HTTP requests received.\n"
           "# TYPE sluice_http_requests_total counter\n");
  for (size_t i = 0; i < n; i++)
    text_add(
        t, "sluice_http_requests_total{worker=\"%d\",pid=\"%d\"} %" PRIu64 "\n",
        s[i].id, s[i].pid, s[i].l.requests);
  text_add(t,
           "# HELP sluice_http_responses_total HTTP exchanges ended, by "
           "status class.\n# TYPE sluice_http_responses_total counter\n");
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 5; c++)
      text_add(t,
               "sluice_http_responses_total{worker=\"%d\",pid=\"%d\","
               "class=\"%s\"} %" PRIu64 "\n",
               s[i].id, s[i].pid, cls[c], s[i].l.responses[c]);
  text_add(t,
           "# HELP sluice_http_response_bytes_total Response body "
           "bytes.\n# TYPE sluice_http_response_bytes_total counter\n");
  for (size_t i = 0; i < n; i++)
    text_add(t,
             "sluice_http_response_bytes_total{worker=\"%d\",pid=\"%d\"}"
             " %" PRIu64 "\n",
             s[i].id, s[i].pid, s[i].l.bytes_sent);
  text_add(t,
           "# HELP sluice_open_connections Connections open now.\n"
           "# TYPE sluice_open_connections gauge\n");
  for (size_t i = 0; i < n; i++)
    text_add(t,
             "sluice_open_connections{worker=\"%d\",pid=\"%d\"} %" PRIu64 "\n",
             s[i].id, s[i].pid, s[i].l.connections);
}

static void metrics_process(text_t* t, const source_t* s, size_t n) {
  text_add(t,
           "# HELP sluice_resident_memory_bytes Resident set size.\n"
           "# TYPE sluice_resident_memory_bytes gauge\n");
  for (size_t i = 0; i < n; i++)
    text_add(t,
             "sluice_resident_memory_bytes{worker=\"%d\",pid=\"%d\"} %" PRIu64
             "\n",
             s[i].id, s[i].pid, s[i].l.rss_bytes);
  text_add(t,
           "# HELP sluice_event_loop_lag_seconds The longest event-loop "
           "delay in the last report interval.\n"
           "# TYPE sluice_event_loop_lag_seconds gauge\n");
  for (size_t i = 0; i < n; i++)
    text_add(t,
             "sluice_event_loop_lag_seconds{worker=\"%d\",pid=\"%d\"} "
             "%.6f\n",
             s[i].id, s[i].pid, s[i].l.loop_lag_ms / 1000);
}

static void metrics_duration(text_t* t, const source_t* s, size_t n) {
  const char* m = "sluice_http_request_duration_seconds";
  text_add(t,
           "# HELP %s From the request head to the end of the "
           "response.\n# TYPE %s histogram\n",
           m, m);
  for (size_t i = 0; i < n; i++) {
    uint64_t cum = 0;
    for (int b = 0; b < SL_DURATION_BUCKETS; b++) {
      cum += s[i].l.duration_buckets[b];
      text_add(t, "%s_bucket{worker=\"%d\",pid=\"%d\",le=\"%g\"} %" PRIu64 "\n",
               m, s[i].id, s[i].pid, sl_load_bucket_le(b), cum);
    }
    cum += s[i].l.duration_over;
    text_add(t,
             "%s_bucket{worker=\"%d\",pid=\"%d\",le=\"+Inf\"} %" PRIu64
             "\n%s_sum{worker=\"%d\",pid=\"%d\"} %.6f\n"
             "%s_count{worker=\"%d\",pid=\"%d\"} %" PRIu64 "\n",
             m, s[i].id, s[i].pid, cum, m, s[i].id, s[i].pid,
             s[i].l.duration_sum_s, m, s[i].id, s[i].pid, cum);
  }
}

static void metrics_cluster(text_t* t) {
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  text_add(t,
           "# HELP sluice_workers Worker processes alive.\n"
           "# TYPE sluice_workers gauge\nsluice_workers %zu\n"
           "# HELP sluice_worker_restarts_total Workers replaced after "
           "they died.\n# TYPE sluice_worker_restarts_total counter\n"
           "sluice_worker_restarts_total %" PRIu64
           "\n"
           "# HELP sluice_worker_crashes_total Workers that died on their "
           "own.\n# TYPE sluice_worker_crashes_total counter\n"
           "sluice_worker_crashes_total %" PRIu64 "\n",
           st.alive, st.restarts, st.crashes);
}

/* The page: the workers' latest load reports in a cluster (a worker
 * before its first report is left out), this process otherwise. */
static void metrics_page(text_t* t) {
  static sl_worker_t* ws[1024];
  static source_t src[1024];
  size_t n = 0;
  if (sl_cluster_is_primary() && sl_cluster_workers(ws, 1024) > 0) {
    size_t all = sl_cluster_workers(ws, 1024);
    for (size_t i = 0; i < all && i < 1024; i++)
      if (sl_worker_load(ws[i], &src[n].l) == 0) {
        src[n].id = sl_worker_id(ws[i]);
        src[n++].pid = (int)sl_worker_pid(ws[i]);
      }
  } else {
    sl_load_self(&src[0].l);
    src[0].l.loop_lag_ms = admin.lag_max_ms;
    admin.lag_max_ms = 0;
    src[0].id = 0;
    src[n++].pid = (int)getpid();
  }
  metrics_http(t, src, n);
  metrics_process(t, src, n);
  metrics_duration(t, src, n);
  if (!admin.single) metrics_cluster(t);
}

static void on_admin(sl_stream_t* req, sl_stream_t* res, void* arg) {
  (void)arg;
  const char* p = sl_http_path(req);
  if (strcmp(p, "/healthz") == 0) {
    sl_http_respond(res, 200, "text/plain", "ok\n", 3);
  } else if (strcmp(p, "/readyz") == 0) {
    const char* why = admin.stopping ? "stopping\n"
                      : !admin.ready ? "starting\n"
                                     : "ready\n";
    sl_http_respond(res, admin.ready && !admin.stopping ? 200 : 503,
                    "text/plain", why, strlen(why));
  } else if (strcmp(p, "/metrics") == 0) {
    text_t t = {0};
    metrics_page(&t);
    sl_http_respond(res, 200, "text/plain; version=0.0.4; charset=utf-8",
                    t.data ? t.data : "", t.len);
    sl_buf_free(&t);
  } else {
    sl_http_respond(res, 404, "text/plain", "not found\n", 10);
  }
}

/* One process: how late a 100 ms timer fires is the loop's lag. */
static void on_lag_probe(sl_timer_t* t, void* arg) {
  (void)t;
  (void)arg;
  uint64_t now = sl_hrtime();
  if (admin.lag_due_ns != 0 && now > admin.lag_due_ns) {
    double ms = (double)(now - admin.lag_due_ns) / 1e6;
    if (ms > admin.lag_max_ms) admin.lag_max_ms = ms;
  }
  admin.lag_due_ns = now + 100 * 1000000ull;
}

/* Returns 0, or 1 having said why (the port is taken ...). */
static int admin_start(const char* host, int single) {
  if (admin.port == 0) return 0;
  if (host == NULL) host = "127.0.0.1";
  sl_http_server_opts_t o = {.host = host, .port = admin.port, .unmetered = 1};
  int err = sl_http_listen(&o, on_admin, NULL, &admin.srv);
  if (err != 0) {
    fprintf(stderr, "sluice serve: --admin-port: %s: %s %s:%d\n",
            sl_err_name(err), sl_strerror(err), host, admin.port);
    return 1;
  }
  admin.single = single;
  if (single) admin.lag = sl_timer_start(100, 100, on_lag_probe, NULL);
  return 0;
}

static void admin_stop(void) {
  if (admin.lag != NULL) sl_timer_stop(admin.lag);
  admin.lag = NULL;
  if (admin.srv != NULL) sl_http_server_close(admin.srv, NULL, NULL);
  admin.srv = NULL;
}

/* A response in flight and its client's address: what a single-process
 * shutdown deadline cuts, and reports by connection. */
typedef struct {
  sl_stream_t* res;
  sl_static_t* st; /* the file server it began with */
  char remote[64];
} flight_t;

#define MAX_RETIRED 8

typedef struct {
  sl_http_server_t* srv;
  sl_static_t* st;
  sl_static_opts_t sto;
  sl_static_t* retired[MAX_RETIRED]; /* replaced by SIGHUP, still in use */
  int closing;
  uint64_t requests;
  sl_timer_t* deadline;
  flight_t* fl;
  size_t nfl, capfl;
} serve_t;

/* Frees the file servers a SIGHUP replaced once no response that began
 * with one is left (its open-file cache may still feed them). */
static void sweep_retired(serve_t* sv) {
  for (int r = 0; r < MAX_RETIRED; r++) {
    size_t i = 0;
    if (sv->retired[r] == NULL) continue;
    while (i < sv->nfl && sv->fl[i].st != sv->retired[r]) i++;
    if (i < sv->nfl) continue;
    sl_static_free(sv->retired[r]);
    sv->retired[r] = NULL;
  }
}

static double drain_seconds; /* --shutdown-timeout; 0: no deadline */

static void on_res_close(sl_stream_t* res, const sl_event_t* ev, void* arg) {
  serve_t* sv = arg;
  (void)ev;
  for (size_t i = 0; i < sv->nfl; i++)
    if (sv->fl[i].res == res) {
      sv->fl[i] = sv->fl[--sv->nfl];
      break;
    }
  sweep_retired(sv);
}

/* Remembers `res` until it closes; a full table (out of memory) only
 * means that response is not cut at a deadline. */
static void track(serve_t* sv, sl_stream_t* req, sl_stream_t* res) {
  if (sv->nfl == sv->capfl) {
    size_t cap = sv->capfl ? sv->capfl * 2 : 64;
    flight_t* fl = realloc(sv->fl, cap * sizeof *fl);
    if (fl == NULL) return;
    sv->fl = fl;
    sv->capfl = cap;
  }
  if (sl_stream_on(res, SL_EV_CLOSE, on_res_close, sv) != 0) return;
  flight_t* f = &sv->fl[sv->nfl++];
  f->res = res;
  f->st = sv->st;
  snprintf(f->remote, sizeof f->remote, "%s", sl_http_remote(req));
}

static void on_request(sl_stream_t* req, sl_stream_t* res, void* arg) {
  serve_t* sv = arg;
  sv->requests++;
  track(sv, req, res);
  int rc = sl_static_serve(sv->st, req, res);
  if (rc != 0 && !sl_http_headers_sent(res))
    sl_http_respond(res, 500, "text/plain", "Internal Server Error\n", 22);
}

static void on_server_closed(void* arg) {
  serve_t* sv = arg;
  if (sv->deadline != NULL) sl_timer_stop(sv->deadline);
  sv->deadline = NULL;
  admin_stop();
  fprintf(stderr, "sluice serve: closed\n");
}

static int shutdown_cut; /* the shutdown deadline cut connections */

/* The drain deadline of one process: what is still sending is cut
 * (destroying a response closes its connection), then the server's close
 * completes. Reported as the cluster reports its kills. */
static void on_deadline(sl_timer_t* t, void* arg) {
  serve_t* sv = arg;
  (void)t;
  sv->deadline = NULL;
  size_t conns = 0;
  for (size_t i = 0; i < sv->nfl; i++) {
    size_t j = 0;
    while (j < i && strcmp(sv->fl[j].remote, sv->fl[i].remote) != 0) j++;
    conns += j == i;
  }
  if (conns == 0) return;
  fprintf(stderr,
          "sluice serve: the %g s shutdown deadline cut %zu "
          "connection%s\n",
          drain_seconds, conns, conns == 1 ? "" : "s");
  shutdown_cut = 1;
  while (sv->nfl > 0) /* on_res_close removes each (it runs later) */
    sl_stream_destroy(sv->fl[--sv->nfl].res, SL_ECANCELED);
}

/* One process: the first SIGINT or SIGTERM closes the server gracefully
 * (in-flight responses finish, within --shutdown-timeout); once
 * everything is closed sl_run() returns. */
static void on_signal(int signum, void* arg) {
  serve_t* sv = arg;
  if (sv->closing) return;
  sv->closing = 1;
  fprintf(stderr, "sluice serve: %s, closing\n",
          signum == SIGINT ? "SIGINT" : "SIGTERM");
  sl_signal_off(SIGINT, on_signal, sv);
  sl_signal_off(SIGTERM, on_signal, sv);
  notify("STOPPING=1");
  admin.stopping = 1;
  if (drain_seconds > 0)
    sv->deadline = sl_timer_start((uint64_t)(drain_seconds * 1000 + 0.5), 0,
                                  on_deadline, sv);
  sl_http_server_close(sv->srv, on_server_closed, sv);
}

/* SIGUSR1, in one process and in a worker: logrotate renamed the access
 * log; the next lines go to a file of that name again, made afresh. */
static int in_worker; /* on_reopen's arg in a worker */

static void on_reopen(int signum, void* arg) {
  (void)signum;
  int rc = sl_http_access_log_reopen();
  if (rc != 0)
    fprintf(stderr, "sluice serve: reopening the log files: %s\n",
            sl_strerror(rc));
  else if (arg == &in_worker)
    fprintf(stderr, "sluice serve: worker %d: log files reopened\n",
            (int)getpid());
  else
    fprintf(stderr, "sluice serve: SIGUSR1, log files reopened\n");
}

/* SIGHUP in one process, nginx's reload as far as there is one to do:
 * the log files are reopened and the file server is made afresh, which
 * drops its open-file cache and resolves DIR again (a symlink to a new
 * release now leads there). On failure the old one goes on serving. */
static void on_reload(int signum, void* arg) {
  serve_t* sv = arg;
  (void)signum;
  int r = 0, err;
  notify_reloading();
  while (r < MAX_RETIRED && sv->retired[r] != NULL) r++;
  sl_static_t* st = r < MAX_RETIRED ? sl_static_new(&sv->sto, &err) : NULL;
  if (st == NULL) {
    fprintf(stderr, "sluice serve: SIGHUP: %s, still serving as before\n",
            r < MAX_RETIRED ? sl_strerror(err) : "too many reloads in use");
    notify("READY=1");
    return;
  }
  sv->retired[r] = sv->st;
  sv->st = st;
  sweep_retired(sv);
  int rc = sl_http_access_log_reopen();
  fprintf(stderr, "sluice serve: SIGHUP, reloaded (%s)\n",
          rc == 0 ? "log files reopened, open-file cache dropped"
                  : sl_strerror(rc));
  notify("READY=1");
}

/* SIGUSR2 in one process: what SIGUSR2 gives a cluster, on stdout. */
static void print_single_stats(int signum, void* arg) {
  serve_t* sv = arg;
  (void)signum;
  printf("requests %" PRIu64 " in flight %zu peak rss %.1f\n", sv->requests,
         sv->nfl, sl_peak_rss() / 1048576.0);
  fflush(stdout);
}

/* The watches of one process; none of these signals kills it. */
static void single_signals(serve_t* sv, int on) {
  int (*fn)(int, sl_signal_cb, void*) = on ? sl_signal_on : sl_signal_off;
  if (on || !sv->closing) {
    fn(SIGINT, on_signal, sv);
    fn(SIGTERM, on_signal, sv);
  }
  fn(SIGHUP, on_reload, sv);
  fn(SIGUSR1, on_reopen, NULL);
  fn(SIGUSR2, print_single_stats, sv);
}

/* --user: the account the serving processes run as once they listen. */
static struct {
  const char* name;
  uid_t uid;
  gid_t gid;
} run_as;

/* Resolves --user before anything is bound or forked: an unknown account,
 * or one a non-root process cannot become, is a command-line error. */
static int user_check(void) {
  if (run_as.name == NULL) return 0;
  errno = 0;
  struct passwd* pw = getpwnam(run_as.name);
  if (pw == NULL) {
    fprintf(stderr, "sluice serve: unknown --user '%s'%s%s\n", run_as.name,
            errno ? ": " : "", errno ? strerror(errno) : "");
    return 2;
  }
  run_as.uid = pw->pw_uid;
  run_as.gid = pw->pw_gid;
  if (geteuid() != 0 && geteuid() != run_as.uid) {
    fprintf(stderr,
            "sluice serve: --user %s needs root (running as uid "
            "%d)\n",
            run_as.name, (int)geteuid());
    return 2;
  }
  return 0;
}

/* After the listen: groups, then gid, then uid (the other order would
 * leave root's groups), and a check that root cannot come back. Returns
 * 0, or 1 having said what failed. */
static int user_drop(void) {
  if (run_as.name == NULL ||
      (geteuid() == run_as.uid && getegid() == run_as.gid && geteuid() != 0))
    return 0;
  const char* step = NULL;
  if (setgroups(1, &run_as.gid) != 0)
    step = "setgroups";
  else if (setgid(run_as.gid) != 0)
    step = "setgid";
  else if (setuid(run_as.uid) != 0)
    step = "setuid";
  else if (run_as.uid != 0 && setuid(0) == 0) {
    step = "root is still reachable after setuid";
    errno = EPERM;
  }
  if (step == NULL) return 0;
  fprintf(stderr, "sluice serve: --user %s: %s: %s\n", run_as.name, step,
          strerror(errno));
  return 1;
}

/* --- serve --workers N: a cluster --------------------------------------- */

/* Ctrl-C, a terminal hangup and a SIGUSR2 to the process group reach
 * every process: the primary acts on them, a worker ignores them. */
static void ignore_signal(int signum, void* arg) {
  (void)signum;
  (void)arg;
}

/* The cluster closes the server itself (gracefully); only our own
 * watches must go for sl_run() to return. */
static void on_worker_shutdown(void* arg) {
  (void)arg;
  sl_signal_off(SIGINT, ignore_signal, NULL);
  sl_signal_off(SIGHUP, ignore_signal, NULL);
  sl_signal_off(SIGUSR2, ignore_signal, NULL);
  sl_signal_off(SIGUSR1, on_reopen, &in_worker);
}

/* A worker: its server joins the cluster's listener for the address (the
 * primary binds it and does the scheduling; the primary sees LISTENING);
 * the primary's shutdown, a rolling restart or SIGTERM close it gracefully
 * and sl_run() returns. */
static int serve_worker(serve_t* sv, const char* dir,
                        sl_http_server_opts_t* so) {
  int err = sl_http_listen(so, on_request, sv, &sv->srv);
  if (err != 0) {
    fprintf(stderr, "sluice serve: worker %d: %s: %s %s:%d\n", (int)getpid(),
            sl_err_name(err), sl_strerror(err), so->host, so->port);
    return 78; /* the fatal code: not replaced */
  }
  if (user_drop() != 0) exit(78); /* not as root: stop, not replaced */
  sl_signal_on(SIGINT, ignore_signal, NULL);
  sl_signal_on(SIGHUP, ignore_signal, NULL);
  sl_signal_on(SIGUSR2, ignore_signal, NULL);
  sl_signal_on(SIGUSR1, on_reopen, &in_worker); /* from the primary */
  sl_cluster_on_shutdown(on_worker_shutdown, NULL);
  printf("Worker %d serving %s at http://%s:%d/\n", (int)getpid(), dir,
         so->host, sl_http_server_port(sv->srv));
  fflush(stdout);
  return sl_run() == 0 ? 0 : 1;
}

/* What the primary says once a worker listens, and only then: a cluster
 * whose workers cannot bind must not claim to serve. */
static struct {
  const char* dir;
  const char* host;
  sl_cluster_sched_t sched;
  int port, serving, failed;
} banner;

static void on_cluster_down(void* arg);

static void on_worker_listening(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  if (banner.serving || banner.failed) return;
  banner.serving = 1;
  admin.ready = 1;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  printf("Primary %d serving %s at http://%s:%d/ with %zu workers (%s)\n",
         (int)getpid(), banner.dir, banner.host, ev->port, st.target,
         sl_cluster_sched_name(banner.sched));
  fflush(stdout);
  notify("READY=1");
}

/* A worker that cannot listen exits with the fatal code, having said why
 * (EADDRINUSE, EACCES ...); before any worker served, that ends the
 * cluster with exit status 1. */
static void on_fatal_start(void) {
  if (banner.serving || banner.failed) return;
  banner.failed = 1;
  fprintf(stderr,
          "sluice serve: not serving: no worker could listen on "
          "%s:%d\n",
          banner.host, banner.port);
  sl_cluster_shutdown(on_cluster_down, NULL);
}

static void on_worker_exit(const sl_cluster_event_t* ev, void* arg) {
  (void)arg;
  const char* why = ev->reason != NULL ? ev->reason : "?";
  if (strcmp(why, "fatal") == 0) on_fatal_start();
  if (ev->respawn)
    fprintf(stderr, "sluice serve: worker %d died (%s), forking a new one\n",
            (int)sl_worker_pid(ev->worker), why);
  else if (strcmp(why, "shutdown") != 0)
    fprintf(stderr, "sluice serve: worker %d exited (%s)\n",
            (int)sl_worker_pid(ev->worker), why);
}

/* SIGUSR1 to the primary: each worker reopens its log files (the
 * primary has none of its own). */
static void forward_reopen(int signum, void* arg) {
  (void)arg;
  static sl_worker_t* ws[1024];
  size_t n = sl_cluster_workers(ws, 1024);
  for (size_t i = 0; i < n && i < 1024; i++)
    if (strcmp(sl_worker_state(ws[i]), "dead") != 0)
      kill(sl_worker_pid(ws[i]), signum);
  fprintf(stderr,
          "sluice serve: SIGUSR1, %zu workers reopen their log "
          "files\n",
          n);
}

/* SIGUSR2: one line per worker with its latest load report ("-" before
 * the first one), then the cluster's counters. */
static void print_stats(int signum, void* arg) {
  (void)signum;
  (void)arg;
  static sl_worker_t* ws[1024];
  size_t n = sl_cluster_workers(ws, 1024);
  for (size_t i = 0; i < n && i < 1024; i++) {
    sl_worker_load_t l;
    printf("worker %d pid %d %s ", sl_worker_id(ws[i]),
           (int)sl_worker_pid(ws[i]), sl_worker_state(ws[i]));
    if (sl_worker_load(ws[i], &l) == 0)
      printf("requests %" PRIu64 " conns %" PRIu64 " rss %.1f lag %.1f\n",
             l.requests, l.connections, l.rss_bytes / 1048576.0, l.loop_lag_ms);
    else
      printf("requests - conns - rss - lag -\n");
  }
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  printf("cluster workers %zu/%zu forked %" PRIu64 " restarts %" PRIu64
         " crashes %" PRIu64 " hung %" PRIu64 " retired %" PRIu64 "\n",
         st.alive, st.target, st.forked, st.restarts, st.crashes, st.hung,
         st.retired);
  fflush(stdout);
}

static uint64_t retired_before, cut_before, cut_conns_before;

/* "done" only when no worker was killed at the drain deadline: a restart
 * that cut downloads says so, with how many. */
static void on_restart_done(int err, void* arg) {
  (void)arg;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  uint64_t cut = st.cut - cut_before;
  uint64_t conns = st.cut_connections - cut_conns_before;
  if (err == 0 && cut == 0)
    printf("Rolling restart done (%" PRIu64 " workers)\n",
           st.retired - retired_before);
  else if (err == 0)
    printf("Rolling restart finished with cuts (%" PRIu64
           " workers "
           "replaced; %" PRIu64 " killed at the %g s drain deadline, %" PRIu64
           " connection%s cut)\n",
           st.retired - retired_before, cut, drain_seconds, conns,
           conns == 1 ? "" : "s");
  else
    printf("Rolling restart failed: %s\n", sl_strerror(err));
  fflush(stdout);
  notify("READY=1");
}

/* SIGHUP: a rolling restart, reported when it ends. */
static void on_sighup(int signum, void* arg) {
  (void)signum;
  (void)arg;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  retired_before = st.retired;
  cut_before = st.cut;
  cut_conns_before = st.cut_connections;
  int rc = sl_cluster_restart(on_restart_done, NULL);
  if (rc == 0) notify_reloading();
  if (rc == SL_EBUSY)
    printf(
        "Rolling restart not started: a restart or shutdown is under "
        "way\n");
  else if (rc != 0)
    printf("Rolling restart failed: %s\n", sl_strerror(rc));
  fflush(stdout);
}

static void primary_signals(int on);

static void on_cluster_down(void* arg) {
  (void)arg;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  if (st.cut_connections > cut_conns_before || st.cut > cut_before) {
    fprintf(stderr,
            "sluice serve: the %g s shutdown deadline cut %" PRIu64
            " connection%s (%" PRIu64 " worker%s killed)\n",
            drain_seconds, st.cut_connections - cut_conns_before,
            st.cut_connections - cut_conns_before == 1 ? "" : "s",
            st.cut - cut_before, st.cut - cut_before == 1 ? "" : "s");
    shutdown_cut = 1;
  }
  admin_stop();
  primary_signals(0);
}

/* SIGINT, SIGTERM: graceful shutdown of every worker; sl_run() returns
 * once they are gone. */
static void on_primary_stop(int signum, void* arg) {
  (void)arg;
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  cut_before = st.cut; /* a restart's cuts are not the shutdown's */
  cut_conns_before = st.cut_connections;
  if (sl_cluster_shutdown(on_cluster_down, NULL) != 0) return;
  notify("STOPPING=1");
  admin.stopping = 1;
  fprintf(stderr, "sluice serve: %s, stopping the workers\n",
          signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* The primary's own watches rather than opts.handle_signals: they also
 * log the signal, count the workers a restart retired, say when a SIGHUP
 * finds a restart or shutdown under way, hand SIGUSR1 to the workers and
 * print the stats on SIGUSR2. */
static void primary_signals(int on) {
  static const int stop[2] = {SIGINT, SIGTERM};
  int (*fn)(int, sl_signal_cb, void*) = on ? sl_signal_on : sl_signal_off;
  for (int i = 0; i < 2; i++) fn(stop[i], on_primary_stop, NULL);
  fn(SIGHUP, on_sighup, NULL);
  fn(SIGUSR1, forward_reopen, NULL);
  fn(SIGUSR2, print_stats, NULL);
}

/* The primary: forks the workers (`workers` < 0: one per CPU), replaces
 * the dead ones, restarts them on SIGHUP, prints their load on SIGUSR2
 * and on SIGINT or SIGTERM shuts them down gracefully; exits 0 once they
 * are gone. */
static int serve_primary(int workers, sl_cluster_sched_t sched, const char* dir,
                         const sl_http_server_opts_t* so) {
  /* 0 is "no deadline" here, where the library's 0 is its default. */
  uint64_t drain_ms = (uint64_t)(drain_seconds * 1000 + 0.5);
  sl_cluster_opts_t o = {.workers = workers < 0 ? 0 : workers,
                         .sched = sched,
                         .shutdown_timeout_ms = drain_seconds == 0
                                                    ? SL_CLUSTER_NO_DEADLINE
                                                : drain_ms == 0 ? 1
                                                                : drain_ms};
  sl_cluster_setup(&o);
  sl_cluster_on(SL_CLUSTER_EXIT, on_worker_exit, NULL);
  sl_cluster_on(SL_CLUSTER_LISTENING, on_worker_listening, NULL);
  primary_signals(1);
  banner.dir = dir;
  banner.host = so->host;
  banner.sched = sched;
  banner.port = so->port;
  if (admin_start(admin.host, 0) != 0) return 1;
  int rc = sl_cluster_start(&o);
  if (rc != 0) {
    fprintf(stderr, "sluice serve: fork: %s\n", sl_strerror(rc));
    sl_cluster_shutdown(on_cluster_down, NULL);
    sl_run();
    return 1;
  }
  return sl_run() == 0 && !shutdown_cut && !banner.failed ? 0 : 1;
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
    snprintf(buf, sizeof buf, "%s/../share/sluice/site", exe); /* installed */
    if (is_dir(buf)) return buf;
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
          "usage: sluice serve [DIR] [--port P] [--host H]\n"
          "         [--workers N|auto] [--sched reuseport|rr|shared]\n"
          "         [--dotfiles ignore|deny|allow] [--index NAME]\n"
          "         [--no-listing] [--no-gzip] [--shutdown-timeout S]\n"
          "         [--access-log PATH|-|off] [--quiet]\n"
          "         [--log-format combined|json|sluice]\n"
          "         [--trust-proxy CIDR[,CIDR...]] [--user NAME]\n"
          "         [--admin-port P] [--admin-host H]\n"
          "  Serves DIR (default: the bundled demo site) over HTTP/1.1 with\n"
          "  Range, ETag/304, gzip for text, directory listings and an\n"
          "  access log. Defaults: --port 8080 --host 127.0.0.1, one\n"
          "  process (--workers 0).\n"
          "  --dotfiles: paths with a segment starting with '.' (.git, .env;\n"
          "  .well-known excepted) get 404 and are not listed (ignore, the\n"
          "  default), 403 (deny), or are served (allow).\n"
          "  --index NAME: a directory's index file (default index.html).\n"
          "  --no-listing: 404 for a directory without one, no listing.\n"
          "  --no-gzip: never compress on the fly.\n"
          "  --access-log: a file (opened in append mode, reopened on\n"
          "  SIGUSR1), - for stderr (the default) or off (as --quiet).\n"
          "  --log-format: combined (the default: nginx/Apache combined,\n"
          "  which goaccess and fail2ban read), json (one object per line)\n"
          "  or sluice (client, request, status, bytes, duration).\n"
          "  --trust-proxy: addresses or CIDRs (10.0.0.0/8,::1) of proxies\n"
          "  whose X-Forwarded-For names the client in the log.\n"
          "  --admin-port P: /metrics (Prometheus text 0.0.4, per worker),\n"
          "  /healthz (200 while alive) and /readyz (503 once a shutdown\n"
          "  begins) on 127.0.0.1:P, served by the primary with --workers.\n"
          "  --admin-host H: its address instead (0.0.0.0 in a container,\n"
          "  for the kubelet's probes).\n"
          "  --user NAME: once listening (as root, a port below 1024 too),\n"
          "  serve as NAME (its uid and gid, no other group); with\n"
          "  --workers the workers do, the primary keeps root to bind for\n"
          "  them. Files and the log's directory must suit NAME.\n"
          "  --shutdown-timeout S (default 60, 0: none): how long a stopping\n"
          "  server (or worker) may drain its connections; at the deadline\n"
          "  the rest are cut, that is reported, and the exit code is 1. A\n"
          "  rolling restart extends it while a worker is still sending to\n"
          "  a client that reads; a shutdown does not.\n"
          "  --workers N: a cluster of N worker processes sharing the port\n"
          "  (auto: one per CPU); --sched says how connections are spread\n"
          "  (reuseport, the default: the kernel by hash; rr: the primary\n"
          "  hands them out in turn; shared: one socket, the kernel wakes\n"
          "  one worker). A dead worker is replaced, with backoff.\n"
          "  Signals (none of them kills it): SIGINT/SIGTERM graceful\n"
          "  shutdown; SIGHUP a rolling restart of the workers (one\n"
          "  process: reopen the log files, drop the open-file cache and\n"
          "  resolve DIR again); SIGUSR1 reopen the log files (logrotate;\n"
          "  the primary passes it to its workers); SIGUSR2 stats on stdout\n"
          "  (per worker: requests, open connections, RSS in MiB,\n"
          "  event-loop lag in ms; they moved here from SIGUSR1).\n"
          "  The demo site is found in $SLUICE_SITE, <exe>/../share/site,\n"
          "  <exe>/share/site or the source tree.\n");
}

typedef struct {
  const char* dir;
  int workers; /* 0: one process; < 0: one worker per CPU */
  sl_cluster_sched_t sched;
  sl_static_opts_t st;
  int port_given, host_given;
} serve_args_t;

/* Under socket activation without --port, the listener systemd passed
 * (descriptor 3) names the address, so that ListenStream= is the one
 * place to set it; the primary hands it to its workers (whose pid is not
 * LISTEN_PID) in SLUICE_ACTIVATED_HOST/PORT. */
static void activation_address(const serve_args_t* a,
                               sl_http_server_opts_t* so) {
  static char host[INET6_ADDRSTRLEN];
  const char* pid = getenv("LISTEN_PID");
  const char* fds = getenv("LISTEN_FDS");
  const char* eh = getenv("SLUICE_ACTIVATED_HOST");
  const char* ep = getenv("SLUICE_ACTIVATED_PORT");
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (a->port_given) return;
  if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() ||
      atol(fds) < 1 || getsockname(3, (struct sockaddr*)&ss, &len) != 0) {
    if (eh == NULL || ep == NULL) return;
    snprintf(host, sizeof host, "%s", eh);
    so->port = atoi(ep);
  } else if (ss.ss_family == AF_INET) {
    struct sockaddr_in* sin = (struct sockaddr_in*)&ss;
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    so->port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
    so->port = ntohs(sin6->sin6_port);
  } else {
    return;
  }
  if (!a->host_given) so->host = host;
  char port[16];
  snprintf(port, sizeof port, "%d", so->port);
  setenv("SLUICE_ACTIVATED_HOST", so->host, 1);
  setenv("SLUICE_ACTIVATED_PORT", port, 1);
}

static int bad_value(const char* opt, const char* v, const char* what) {
  fprintf(stderr, "sluice serve: invalid %s '%s' (%s)\n", opt, v, what);
  return 2;
}

/* One address or CIDR of --trust-proxy ("10.0.0.0/8", "::1"). */
static int cidr_ok(const char* p, size_t n) {
  char buf[64], *slash, *end;
  unsigned char addr[16];
  if (n == 0 || n >= sizeof buf) return 0;
  memcpy(buf, p, n);
  buf[n] = '\0';
  long bits = -1;
  if ((slash = strchr(buf, '/')) != NULL) {
    *slash = '\0';
    bits = strtol(slash + 1, &end, 10);
    if (*end != '\0' || slash[1] == '\0' || bits < 0) return 0;
  }
  if (inet_pton(AF_INET, buf, addr) == 1) return bits <= 32;
  return inet_pton(AF_INET6, buf, addr) == 1 && bits <= 128;
}

/* The list as the library takes it: comma-separated, spaces allowed. */
static int proxies_ok(const char* v) {
  int n = 0;
  for (const char* p = v;; n++) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, ", ");
    if (!cidr_ok(p, len) || n == 32) return 0;
    p += len;
    while (*p == ' ') p++;
    if (*p == '\0') return 1;
    if (*p++ != ',') return 0;
  }
}

/* The log and file options. Returns -1 to go on, else 2. */
static int serve_log_option(const char* o, const char* v, serve_args_t* a,
                            sl_http_server_opts_t* so) {
  if (strcmp(o, "--access-log") == 0) {
    if (v[0] == '\0') return bad_value(o, v, "a file, - or off");
    so->access_log = strcmp(v, "off") != 0;
    so->access_log_path = strcmp(v, "-") == 0 || !so->access_log ? NULL : v;
  } else if (strcmp(o, "--log-format") == 0) {
    so->access_log_format = strcmp(v, "combined") == 0 ? SL_ACCESS_LOG_COMBINED
                            : strcmp(v, "json") == 0   ? SL_ACCESS_LOG_JSON
                            : strcmp(v, "sluice") == 0 ? SL_ACCESS_LOG_SLUICE
                                                       : -1;
    if (so->access_log_format < 0)
      return bad_value(o, v, "combined, json or sluice");
  } else if (strcmp(o, "--trust-proxy") == 0) {
    if (!proxies_ok(v))
      return bad_value(o, v,
                       "comma-separated addresses or CIDRs, at most "
                       "32");
    so->trusted_proxies = v;
  } else if (strcmp(o, "--index") == 0) {
    if (v[0] == '\0' || strchr(v, '/') != NULL)
      return bad_value(o, v, "a file name");
    a->st.index = v;
  } else {
    a->st.dotfiles = strcmp(v, "allow") == 0    ? SL_DOTFILES_ALLOW
                     : strcmp(v, "deny") == 0   ? SL_DOTFILES_DENY
                     : strcmp(v, "ignore") == 0 ? SL_DOTFILES_IGNORE
                                                : -1;
    if (a->st.dotfiles < 0) return bad_value(o, v, "ignore, deny or allow");
  }
  return -1;
}

/* Returns -1 to go on, else the exit code (2 for misuse). */
static int serve_option(int argc, char** argv, int* i, serve_args_t* a,
                        sl_http_server_opts_t* so) {
  const char* o = argv[*i];
  const char* v = *i + 1 < argc ? argv[*i + 1] : NULL;
  char* end;
  if (v == NULL) {
    fprintf(stderr, "sluice serve: %s needs a value\n", o);
    return 2;
  }
  ++*i;
  if (strcmp(o, "--port") == 0 || strcmp(o, "-p") == 0) {
    long p = strtol(v, &end, 10);
    if (*end != '\0' || *v == '\0' || p < 0 || p > 65535) {
      fprintf(stderr, "sluice serve: invalid port '%s'\n", v);
      return 2;
    }
    so->port = (int)p;
    a->port_given = 1;
  } else if (strcmp(o, "--workers") == 0) {
    long n = strcmp(v, "auto") == 0 ? -1 : strtol(v, &end, 10);
    if (n != -1 && (*end != '\0' || *v == '\0' || n < 0 || n > 1024))
      return bad_value("worker count", v, "0 to 1024 or auto");
    a->workers = (int)n;
  } else if (strcmp(o, "--shutdown-timeout") == 0) {
    double d = strtod(v, &end);
    if (*end != '\0' || *v == '\0' || !(d >= 0 && d <= 86400 * 365))
      return bad_value(o, v, "seconds, 0 for none");
    drain_seconds = d;
  } else if (strcmp(o, "--sched") == 0) {
    if (sl_cluster_sched_parse(v, &a->sched) != 0)
      return bad_value(o, v, "reuseport, rr or shared");
  } else if (strcmp(o, "--host") == 0) {
    so->host = v;
    a->host_given = 1;
  } else if (strcmp(o, "--user") == 0) {
    run_as.name = v;
  } else if (strcmp(o, "--admin-host") == 0) {
    admin.host = v;
  } else if (strcmp(o, "--admin-port") == 0) {
    long p = strtol(v, &end, 10);
    if (*end != '\0' || *v == '\0' || p < 1 || p > 65535)
      return bad_value(o, v, "a port, 1 to 65535");
    admin.port = (int)p;
  } else {
    return serve_log_option(o, v, a, so);
  }
  return -1;
}

static int serve_parse(int argc, char** argv, serve_args_t* a,
                       sl_http_server_opts_t* so) {
  static const char* const valued[] = {
      "--port",       "-p",           "--workers",          "--sched",
      "--host",       "--dotfiles",   "--shutdown-timeout", "--index",
      "--access-log", "--log-format", "--trust-proxy",      "--user",
      "--admin-port", "--admin-host"};
  for (int i = 0; i < argc; i++) {
    const char* o = argv[i];
    int rc = -1, known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
      known |= strcmp(o, valued[k]) == 0;
    if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
      serve_usage(stdout);
      return 0;
    } else if (known) {
      rc = serve_option(argc, argv, &i, a, so);
    } else if (strcmp(o, "--quiet") == 0 || strcmp(o, "-q") == 0) {
      so->access_log = 0;
    } else if (strcmp(o, "--no-listing") == 0) {
      a->st.no_listing = 1;
    } else if (strcmp(o, "--no-gzip") == 0) {
      a->st.no_gzip = 1;
    } else if (o[0] == '-' || a->dir != NULL) {
      fprintf(stderr, "sluice serve: unexpected argument '%s'\n", o);
      serve_usage(stderr);
      rc = 2;
    } else {
      a->dir = o;
    }
    if (rc >= 0) return rc;
  }
  return -1;
}

/* One process: the server; SIGINT/SIGTERM close it, SIGHUP reloads,
 * SIGUSR1 reopens the log, SIGUSR2 prints stats. Exits 1 when the
 * shutdown deadline cut connections, as a cluster does. */
static int serve_single(serve_t* sv, const char* dir,
                        sl_http_server_opts_t* so) {
  if (admin_start(admin.host, 1) != 0) return 1;
  int rc, err = sl_http_listen(so, on_request, sv, &sv->srv);
  if (err != 0) {
    fprintf(stderr, "sluice serve: %s: %s %s:%d\n", sl_err_name(err),
            sl_strerror(err), so->host, so->port);
    return 1;
  }
  admin.ready = 1;
  if (user_drop() != 0) exit(1); /* never serve as root by mistake */
  single_signals(sv, 1);
  printf("Serving %s at http://%s:%d/\n", dir, so->host,
         sl_http_server_port(sv->srv));
  fflush(stdout);
  notify("READY=1");
  rc = sl_run();
  single_signals(sv, 0);
  return rc == 0 && !shutdown_cut ? 0 : 1;
}

static int serve(int argc, char** argv) {
  serve_args_t a = {0};
  drain_seconds = 60;
  sl_http_server_opts_t so = {.host = "127.0.0.1",
                              .port = 8080,
                              .access_log = 1,
                              .access_log_format = SL_ACCESS_LOG_COMBINED};
  int rc = serve_parse(argc, argv, &a, &so);
  if (rc >= 0) return rc;
  if ((rc = user_check()) != 0) return rc;
  activation_address(&a, &so);
  if (admin.port != 0 && admin.port == so.port) {
    fprintf(stderr, "sluice serve: --admin-port %d is the serving port\n",
            admin.port);
    return 2;
  }
  if (a.workers != 0 && so.port == 0) {
    fprintf(stderr, "sluice serve: --workers needs a fixed --port\n");
    return 2;
  }
  if (a.dir == NULL && (a.dir = find_site()) == NULL) {
    fprintf(stderr,
            "sluice serve: the demo site was not found (set "
            "SLUICE_SITE or give a DIR)\n");
    return 1;
  }
  serve_t sv = {0};
  int err;
  a.st.root = a.dir;
  sv.sto = a.st;
  if ((sv.st = sl_static_new(&a.st, &err)) == NULL) {
    fprintf(stderr, "sluice serve: %s: %s, '%s'\n", sl_err_name(err),
            sl_strerror(err), a.dir);
    return 1;
  }
  if (a.workers == 0)
    rc = serve_single(&sv, a.dir, &so);
  else if (sl_cluster_is_primary())
    rc = serve_primary(a.workers, a.sched, a.dir, &so);
  else
    rc = serve_worker(&sv, a.dir, &so);
  sl_static_free(sv.st);
  for (int r = 0; r < MAX_RETIRED; r++)
    if (sv.retired[r] != NULL) sl_static_free(sv.retired[r]);
  free(sv.fl);
  return rc;
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: sluice serve [DIR] [OPTIONS] (sluice serve --help)\n"
          "       sluice demo [--size-mib N] [--out FILE]\n"
          "       sluice --version\n"
          "  serve  serve DIR (default: the bundled demo site) at\n"
          "         http://127.0.0.1:8080/ with an access log\n"
          "  demo   stream a generated log through gzip to FILE and back,\n"
          "         printing throughput and peak memory (default 256 MiB)\n");
}

/* "sluice 0.1.0 (libuv 1.44.2, zlib 1.2.13, libdeflate 1.14, llhttp
 * 8.1.0)": what an operator's bug report needs. */
static int version(void) {
  printf("sluice %s (%s)\n", sl_version_string(), sl_version_deps());
  return 0;
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc >= 2 &&
      (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
    return version();
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
