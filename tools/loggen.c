/* loggen: a deterministic access-log generator for the analytics benchmark
 * (bench/analytics) and the tests of examples/analytics, with no sluice
 * code in it. Writes nginx "combined" lines:
 *
 *   203.0.113.7 - - [01/Dec/2026:10:00:00 +0000] "GET /products/42 HTTP/1.1"
 *   200 5123 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64) ..."
 *
 * (one line), with --latency one more field after the user agent, nginx's
 * $request_time in seconds with 3 decimals (" 0.042").
 *
 *   loggen OUT MIB [--start EPOCH] [--rate N] [--anomaly MINUTE] [--seed N]
 *                  [--latency]
 *
 * Lines are written until OUT holds MIB MiB (a decimal number; the line that
 * passes it is the last one). Log time starts at EPOCH (default 1796119200,
 * 2026-12-01T10:00:00Z) and every second of it has N lines (default 200),
 * malformed ones included. The counts are written as JSON to OUT.json and
 * summed up on stderr ("loggen: N lines, M malformed, K minutes, anomaly at
 * minute A").
 *
 * The rules, all fixed (the same bytes for the same arguments):
 *   - PRNG: splitmix64 seeded with --seed (default 1); no rand().
 *   - Line number n (1-based, over the whole file) is malformed when
 *     n % 1000 == 0, so M = floor(lines / 1000). Its kind is (n / 1000) % 3:
 *     0 an empty line, 1 a well-formed line cut at half its length (before
 *     the user agent's closing quote, so it never parses), 2 20-119 garbage
 *     bytes (0x80-0xff and printable ASCII, never '"', '[', '\r' or '\n',
 *     starting with a byte >= 0x80). A malformed line takes its slot in its
 *     second but is no request: it counts in "lines" and "malformed" only.
 *   - Request targets: 500 fixed ones (/, /static/..., /products/N,
 *     /api/items?id=N, /blog/post-N, ...) drawn by a Zipf law (weight
 *     1 / rank) over a fixed shuffle of the table (the same for every seed).
 *     The path (the target without its query string) is what "top" counts.
 *   - Methods: GET 90%, POST 7%, HEAD 2%, PUT 0.5%, DELETE 0.5%.
 *   - Statuses: 200 95%, 304 2%, 301 1%, 404 1.5%, 500 0.5%.
 *   - --anomaly MINUTE (minutes from the start): during that minute every
 *     second has 10 N lines and 30% of the requests are 500s (the other 70%
 *     follow the mix above).
 *   - Latency: log-normal, median 30 ms, sigma 0.5 (1 to 9999 ms; 500s take
 *     3 times longer), whole milliseconds.
 *
 * OUT.json: {"lines":N,"malformed":M,"status":{"2xx":..,"3xx":..,"4xx":..,
 * "5xx":..},"minutes":K,"anomaly_minute":A|null, ...} and, for checking an
 * aggregator further: "bytes", "start", "rate", "seed", "latency",
 * "anomaly_utc" ("2026-12-01T10:30Z" or null), "top" (the 10 most requested
 * paths, [[path,count],...], count descending then path ascending
 * bytewise), "latency_ms" ({"p50","p90","p99"} by nearest rank: the
 * smallest value v with count(<= v) >= ceil(p * requests); with --latency
 * only), "requests_per_minute" and "errors_per_minute" (5xx), one entry per
 * minute. "minutes" is the number of distinct minutes of the requests (the
 * well-formed lines). "anomaly_minute" is null without --anomaly or when
 * the file ends before that minute starts. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { NTARGETS = 500, NIPS = 4096, MAX_MS = 9999, BUFSZ = 4 << 20 };

static uint64_t rng;

static uint64_t next(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}
/* Uniform in [0, 1). */
static double unif(void) {
  return (double)(next() >> 11) * (1.0 / 9007199254740992.0);
}
static uint32_t below(uint32_t n) {
  return (uint32_t)(((next() >> 32) * n) >> 32);
}

/* exp(x) for |x| < 8 without libm (the tools link nothing): the 32nd power
 * of a Taylor series at x / 32. */
static double expo(double x) {
  double y = x / 32, t = 1, s = 1;
  for (int k = 1; k <= 9; k++) {
    t *= y / k;
    s += t;
  }
  for (int k = 0; k < 5; k++) s *= s;
  return s;
}

static char* targets[NTARGETS];
static int target_path[NTARGETS]; /* index into paths[] */
static char* paths[NTARGETS];
static int npaths;
static double zipf_cdf[NTARGETS];
static char ips[NIPS][16];
static uint64_t path_count[NTARGETS];

static const char* const uas[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
    "Safari/604.1",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 "
    "Firefox/121.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0 (x86_64-pc-linux-gnu) libcurl/8.5.0 OpenSSL/3.0.11",
    "python-requests/2.31.0 (generic HTTP client for scripts and monitors)",
};
static const char* const referers[] = {
    "-",
    "-",
    "-",
    "-",
    "https://example.com/",
    "https://example.com/",
    "https://example.com/",
    "https://www.google.com/",
    "https://www.google.com/",
    "https://example.com/products/42",
};

static char* xstrdup(const char* s) {
  char* d = strdup(s);
  if (!d) {
    perror("loggen: strdup");
    exit(1);
  }
  return d;
}

static void build_tables(void) {
  static const char* const named[] = {
      "/",
      "/static/app.js",
      "/static/app.css",
      "/favicon.ico",
      "/robots.txt",
      "/login",
      "/logout",
      "/cart",
      "/checkout",
      "/search?q=shoes",
      "/search?q=hat",
      "/search?q=coat",
      "/about",
      "/contact",
      "/static/logo.png",
      "/api/session",
      "/api/cart",
      "/sitemap.xml",
      "/blog",
      "/products",
  };
  char b[64];
  int n = 0;
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
    targets[n++] = xstrdup(named[i]);
  for (int i = 1; n < 260; i++) {
    snprintf(b, sizeof b, "/products/%d", i);
    targets[n++] = xstrdup(b);
  }
  for (int i = 1; n < 460; i++) {
    snprintf(b, sizeof b, "/api/items?id=%d", i);
    targets[n++] = xstrdup(b);
  }
  for (int i = 1; n < NTARGETS; i++) {
    snprintf(b, sizeof b, "/blog/post-%d", i);
    targets[n++] = xstrdup(b);
  }
  /* A fixed shuffle (not the --seed one) gives the Zipf ranks. */
  uint64_t saved = rng;
  rng = 0x5eed;
  for (int i = NTARGETS - 1; i > 0; i--) {
    int j = (int)below((uint32_t)i + 1);
    char* t = targets[i];
    targets[i] = targets[j];
    targets[j] = t;
  }
  rng = saved;
  double sum = 0;
  for (int i = 0; i < NTARGETS; i++) sum += 1.0 / (i + 1);
  double acc = 0;
  for (int i = 0; i < NTARGETS; i++) {
    acc += 1.0 / (i + 1) / sum;
    zipf_cdf[i] = acc;
  }
  zipf_cdf[NTARGETS - 1] = 2; /* catches rounding */
  for (int i = 0; i < NTARGETS; i++) {
    size_t len = strcspn(targets[i], "?");
    int k;
    for (k = 0; k < npaths; k++)
      if (strlen(paths[k]) == len && memcmp(paths[k], targets[i], len) == 0)
        break;
    if (k == npaths) {
      paths[npaths] = xstrdup(targets[i]);
      paths[npaths++][len] = 0;
    }
    target_path[i] = k;
  }
  /* Clients: documentation ranges and a private one. */
  static const char* const nets[] = {"203.0.113", "198.51.100", "192.0.2"};
  for (int i = 0; i < NIPS; i++) {
    if (i < 3 * 254)
      snprintf(ips[i], sizeof ips[i], "%s.%d", nets[i / 254], i % 254 + 1);
    else
      snprintf(ips[i], sizeof ips[i], "10.%d.%d.%d", (i >> 16) & 255,
               (i >> 8) & 255, i & 255);
  }
}

static int zipf(void) {
  double u = unif();
  int lo = 0, hi = NTARGETS - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (zipf_cdf[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static char* put_u(char* p, uint64_t v) {
  char t[24];
  int n = 0;
  do {
    t[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = t[--n];
  return p;
}
static char* put_s(char* p, const char* s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

static int out_fd;
static char* buf;
static size_t blen;
static uint64_t total_bytes;

static void flush_buf(void) {
  size_t off = 0;
  while (off < blen) {
    ssize_t w = write(out_fd, buf + off, blen - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      perror("loggen: write");
      exit(1);
    }
    off += (size_t)w;
  }
  blen = 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loggen OUT MIB [--start EPOCH] [--rate LINES_PER_SEC] "
          "[--anomaly MINUTE] [--seed N] [--latency]\n");
  exit(2);
}

static int64_t num(const char* s, int64_t min) {
  char* end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min) usage();
  return v;
}

static void iso_minute(int64_t t, char* out, size_t n) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, n, "%Y-%m-%dT%H:%MZ", &tm);
}

static void json_str(FILE* f, const char* s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static uint64_t lat_hist[MAX_MS + 1], nlat;

static int lat_q(double p) {
  uint64_t want = (uint64_t)(p * (double)nlat);
  if ((double)want < p * (double)nlat) want++; /* ceil */
  if (want == 0) want = 1;
  uint64_t seen = 0;
  for (int v = 0; v <= MAX_MS; v++) {
    seen += lat_hist[v];
    if (seen >= want) return v;
  }
  return MAX_MS;
}

int main(int argc, char** argv) {
  if (argc < 3) usage();
  const char* out = argv[1];
  char* end;
  double mib = strtod(argv[2], &end);
  if (end == argv[2] || *end || !(mib > 0)) usage();
  int64_t start = 1796119200, rate = 200, anomaly = -1;
  uint64_t seed = 1;
  int latency = 0;
  for (int i = 3; i < argc; i++) {
    if (strcmp(argv[i], "--latency") == 0)
      latency = 1;
    else if (i + 1 >= argc)
      usage();
    else if (strcmp(argv[i], "--start") == 0)
      start = num(argv[++i], 0);
    else if (strcmp(argv[i], "--rate") == 0)
      rate = num(argv[++i], 1);
    else if (strcmp(argv[i], "--anomaly") == 0)
      anomaly = num(argv[++i], 0);
    else if (strcmp(argv[i], "--seed") == 0)
      seed = (uint64_t)num(argv[++i], 0);
    else
      usage();
  }
  uint64_t limit = (uint64_t)(mib * 1048576.0);
  if (limit == 0) limit = 1;

  build_tables();
  rng = seed;
  out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    fprintf(stderr, "loggen: %s: %s\n", out, strerror(errno));
    return 1;
  }
  buf = malloc(BUFSZ);
  size_t mcap = 1024;
  uint64_t* req_min = calloc(mcap, sizeof *req_min);
  uint64_t* err_min = calloc(mcap, sizeof *err_min);
  if (!buf || !req_min || !err_min) {
    perror("loggen: malloc");
    return 1;
  }

  static const char* const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char stamp[40]; /* "[01/Dec/2026:10:00:00 +0000]" of the current second */
  size_t stamp_len = 0;
  int64_t sec = 0;           /* seconds from the start */
  int64_t in_sec = 0;        /* lines written in this second */
  int64_t last_req_min = -1; /* minute of the last request */
  uint64_t lines = 0, malformed = 0, cls[6] = {0};
  char line[1024];

  while (total_bytes < limit) {
    int64_t minute = sec / 60;
    int64_t per_sec = minute == anomaly ? rate * 10 : rate;
    if (in_sec == per_sec) {
      sec++;
      in_sec = 0;
      stamp_len = 0;
      continue;
    }
    if (stamp_len == 0) {
      time_t tt = (time_t)(start + sec);
      struct tm tm;
      gmtime_r(&tt, &tm);
      stamp_len = (size_t)snprintf(
          stamp, sizeof stamp, "[%02d/%s/%04d:%02d:%02d:%02d +0000]",
          tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
          tm.tm_sec);
    }
    in_sec++;
    lines++;
    int bad = lines % 1000 == 0;
    int kind = (int)((lines / 1000) % 3);
    char* p = line;
    if (bad && kind == 0) {
      /* an empty line */
    } else if (bad && kind == 2) {
      int n = 20 + (int)below(100);
      *p++ = (char)(0x80 + below(128));
      for (int k = 1; k < n; k++) {
        uint32_t r = below(3);
        char c;
        if (r == 0) {
          c = (char)(0x80 + below(128));
        } else {
          do c = (char)(0x20 + below(95));
          while (c == '"' || c == '[');
        }
        *p++ = c;
      }
    } else {
      int t = zipf();
      uint32_t r = below(10000);
      const char* method = r < 9000   ? "GET"
                           : r < 9700 ? "POST"
                           : r < 9900 ? "HEAD"
                           : r < 9950 ? "PUT"
                                      : "DELETE";
      int status;
      if (minute == anomaly && below(100) < 30) {
        status = 500;
      } else {
        r = below(1000);
        status = r < 950   ? 200
                 : r < 970 ? 304
                 : r < 980 ? 301
                 : r < 995 ? 404
                           : 500;
      }
      uint64_t bytes = status == 304   ? 0
                       : status == 301 ? 169
                       : status == 404 ? 153
                       : status == 500 ? 177
                                       : 200 + below(60000);
      const char* ip = ips[below(NIPS)];
      p = put_s(p, ip);
      p = put_s(p, " - - ");
      memcpy(p, stamp, stamp_len);
      p += stamp_len;
      p = put_s(p, " \"");
      p = put_s(p, method);
      *p++ = ' ';
      p = put_s(p, targets[t]);
      p = put_s(p, " HTTP/1.1\" ");
      p = put_u(p, (uint64_t)status);
      *p++ = ' ';
      p = put_u(p, bytes);
      p = put_s(p, " \"");
      p = put_s(p, referers[below(sizeof referers / sizeof referers[0])]);
      p = put_s(p, "\" \"");
      p = put_s(p, uas[below(sizeof uas / sizeof uas[0])]);
      char* ua_end = p; /* the user agent's closing quote goes here */
      *p++ = '"';
      int ms = 0;
      if (latency) {
        /* Irwin-Hall: 12 uniforms minus 6 is close to a standard normal. */
        double z = -6;
        for (int k = 0; k < 12; k++) z += unif();
        double v = 30 * expo(0.5 * z);
        if (status == 500) v *= 3;
        ms = v < 1 ? 1 : v > MAX_MS ? MAX_MS : (int)(v + 0.5);
        *p++ = ' ';
        p = put_u(p, (uint64_t)(ms / 1000));
        *p++ = '.';
        *p++ = (char)('0' + ms / 100 % 10);
        *p++ = (char)('0' + ms / 10 % 10);
        *p++ = (char)('0' + ms % 10);
      }
      if (bad) {
        /* kind 1: cut at half its length, before the closing quote */
        char* cut = line + (p - line) / 2;
        p = cut < ua_end ? cut : ua_end;
      } else {
        if (minute >= (int64_t)mcap) {
          size_t ncap = mcap * 2;
          while ((size_t)minute >= ncap) ncap *= 2;
          req_min = realloc(req_min, ncap * sizeof *req_min);
          err_min = realloc(err_min, ncap * sizeof *err_min);
          if (!req_min || !err_min) {
            perror("loggen: realloc");
            return 1;
          }
          memset(req_min + mcap, 0, (ncap - mcap) * sizeof *req_min);
          memset(err_min + mcap, 0, (ncap - mcap) * sizeof *err_min);
          mcap = ncap;
        }
        req_min[minute]++;
        if (status >= 500) err_min[minute]++;
        last_req_min = minute;
        cls[status / 100]++;
        path_count[target_path[t]]++;
        if (latency) {
          lat_hist[ms]++;
          nlat++;
        }
      }
    }
    if (bad) malformed++;
    *p++ = '\n';
    size_t n = (size_t)(p - line);
    if (blen + n > BUFSZ) flush_buf();
    memcpy(buf + blen, line, n);
    blen += n;
    total_bytes += n;
  }
  flush_buf();
  if (close(out_fd) < 0) {
    perror("loggen: close");
    return 1;
  }

  int64_t minutes = last_req_min + 1;
  int has_anomaly = anomaly >= 0 && anomaly < minutes;
  char jpath[4096];
  snprintf(jpath, sizeof jpath, "%s.json", out);
  FILE* j = fopen(jpath, "w");
  if (!j) {
    fprintf(stderr, "loggen: %s: %s\n", jpath, strerror(errno));
    return 1;
  }
  char iso[32];
  fprintf(j,
          "{\"lines\":%llu,\"malformed\":%llu,\"status\":{\"2xx\":%llu,"
          "\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},\"minutes\":%lld,",
          (unsigned long long)lines, (unsigned long long)malformed,
          (unsigned long long)cls[2], (unsigned long long)cls[3],
          (unsigned long long)cls[4], (unsigned long long)cls[5],
          (long long)minutes);
  if (has_anomaly) {
    iso_minute(start + anomaly * 60, iso, sizeof iso);
    fprintf(j, "\"anomaly_minute\":%lld,\"anomaly_utc\":\"%s\",",
            (long long)anomaly, iso);
  } else {
    fprintf(j, "\"anomaly_minute\":null,\"anomaly_utc\":null,");
  }
  fprintf(j,
          "\"bytes\":%llu,\"start\":%lld,\"rate\":%lld,\"seed\":%llu,"
          "\"latency\":%s,\"top\":[",
          (unsigned long long)total_bytes, (long long)start, (long long)rate,
          (unsigned long long)seed, latency ? "true" : "false");
  int used[NTARGETS] = {0};
  for (int k = 0; k < 10 && k < npaths; k++) {
    int best = -1;
    for (int i = 0; i < npaths; i++) {
      if (used[i] || path_count[i] == 0) continue;
      if (best < 0 || path_count[i] > path_count[best] ||
          (path_count[i] == path_count[best] &&
           strcmp(paths[i], paths[best]) < 0))
        best = i;
    }
    if (best < 0) break;
    used[best] = 1;
    fprintf(j, "%s[", k ? "," : "");
    json_str(j, paths[best]);
    fprintf(j, ",%llu]", (unsigned long long)path_count[best]);
  }
  fprintf(j, "],");
  if (latency && nlat)
    fprintf(j, "\"latency_ms\":{\"p50\":%d,\"p90\":%d,\"p99\":%d},",
            lat_q(0.50), lat_q(0.90), lat_q(0.99));
  fprintf(j, "\"requests_per_minute\":[");
  for (int64_t m = 0; m < minutes; m++)
    fprintf(j, "%s%llu", m ? "," : "", (unsigned long long)req_min[m]);
  fprintf(j, "],\"errors_per_minute\":[");
  for (int64_t m = 0; m < minutes; m++)
    fprintf(j, "%s%llu", m ? "," : "", (unsigned long long)err_min[m]);
  fprintf(j, "]}\n");
  if (fclose(j) != 0) {
    perror("loggen: writing the JSON");
    return 1;
  }
  if (has_anomaly)
    fprintf(stderr,
            "loggen: %llu lines, %llu malformed, %lld minutes, anomaly at "
            "minute %lld\n",
            (unsigned long long)lines, (unsigned long long)malformed,
            (long long)minutes, (long long)anomaly);
  else
    fprintf(stderr,
            "loggen: %llu lines, %llu malformed, %lld minutes, no anomaly%s\n",
            (unsigned long long)lines, (unsigned long long)malformed,
            (long long)minutes,
            anomaly >= 0 ? " (the log ends before its minute)" : "");
  free(req_min);
  free(err_min);
  free(buf);
  return 0;
}
