/* The `sluice` command. For now one subcommand, `demo`: a generated web
 * server log streams through gzip into a file and back through gunzip into a
 * checksum, printing throughput and peak memory, which stays at the sum of
 * the pipeline's high-water marks however large the log. `serve` (the
 * clustered file server) arrives with the HTTP layer. Uses only <sluice.h>. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

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

static void usage(FILE* f) {
  fprintf(f,
          "usage: sluice demo [--size-mib N] [--out FILE]\n"
          "  demo   stream a generated log through gzip to FILE and back,\n"
          "         printing throughput and peak memory (default 256 MiB)\n");
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "demo") == 0) return demo(argc - 2, argv + 2);
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    usage(stdout);
    return 0;
  }
  usage(stderr);
  return 2;
}
