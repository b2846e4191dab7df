/* The access log: never blocks the loop (a full stderr pipe loses lines,
 * counted and reported), its formats (sluice's, combined as log tools read
 * it, JSON lines), a file opened O_APPEND and reopened after logrotate's
 * rename, and a file that cannot be opened. */
#include "http/server_util.h"

#include <fcntl.h>

#include "http/http_int.h"

/* Sends fd 2 into a new pipe (p[0] is its read end); returns the old fd 2
 * for dup2() back, which closes the pipe's last write end. */
static int stderr_to_pipe(int p[2]) {
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  fflush(stderr);
  int saved = dup(2);
  ASSERT_EQ(dup2(p[1], 2), 2);
  close(p[1]);
  return saved;
}

typedef struct {
  int port, n, answered;
  volatile int done;
  pthread_t th;
} hammer_t;

/* `n` keep-alive requests, one at a time; counts the answers. */
static void* hammer_main(void* arg) {
  hammer_t* h = arg;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)h->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) == 0) {
    static const char req[] =
        "GET /a-rather-long-path-to-fill-the-log-faster HTTP/1.1\r\n"
        "Host: x\r\n\r\n";
    char buf[4096];
    for (int i = 0; i < h->n; i++) {
      if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) <= 0) break;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, 5000) <= 0) break; /* the loop is stuck */
      if (recv(fd, buf, sizeof buf, 0) <= 0) break;
      h->answered++;
    }
  }
  close(fd);
  h->done = 1;
  return NULL;
}

static void hammer_poll(sl_timer_t* t, void* arg) {
  void** a = arg;
  hammer_t* h = a[0];
  if (!h->done) return;
  pthread_join(h->th, NULL);
  sl_timer_stop(t);
  sl_http_server_close(a[1], NULL, NULL);
}

typedef struct {
  int fd;
  hammer_t* h;
  size_t lines;
  int notice;
  pthread_t th;
} drain_t;

/* Reads the pipe only once the client is done (until then nobody reads
 * it), then to EOF. */
static void* drain_main(void* arg) {
  drain_t* d = arg;
  while (!d->h->done) sleep_ms(10);
  static char buf[1 << 20];
  size_t have = 0;
  ssize_t k;
  while ((k = read(d->fd, buf + have, sizeof buf - have - 1)) > 0) {
    for (ssize_t i = 0; i < k; i++) d->lines += buf[have + i] == '\n';
    have += (size_t)k;
    if (have > sizeof buf / 2) { /* keep the tail, where the notice is */
      memmove(buf, buf + have - 4096, 4096);
      have = 4096;
    }
    buf[have] = '\0';
    if (strstr(buf, "access log lines dropped")) d->notice = 1;
  }
  return NULL;
}

extern uint64_t sl__access_log_dropped;

/* stderr is a pipe nobody reads: the pipe fills after a few hundred lines;
 * the server must go on answering, drop lines past its bounded queue, and
 * say how many it dropped. */
TEST(http_server_access_log_full_pipe_never_blocks) {
  int p[2], saved = stderr_to_pipe(p);
  sl_http_server_opts_t o = {.access_log = 1};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  hammer_t h = {.port = sl_http_server_port(srv), .n = 5000};
  drain_t d = {.fd = p[0], .h = &h};
  ASSERT_EQ(pthread_create(&h.th, NULL, hammer_main, &h), 0);
  ASSERT_EQ(pthread_create(&d.th, NULL, drain_main, &d), 0);
  void* a[] = {&h, srv};
  sl_timer_start(5, 5, hammer_poll, a);
  ASSERT_EQ(sl_run(), 0);
  dup2(saved, 2); /* the last write end: the reader sees EOF */
  close(saved);
  pthread_join(d.th, NULL);
  close(p[0]);
  ASSERT_EQ(h.answered, 5000);
  ASSERT_GT(sl__access_log_dropped, 0);
  ASSERT_GT(d.lines, 100);
  ASSERT_LT(d.lines, 5000);
  ASSERT(d.notice);
}

/* --- access log formats, files, reopen ----------------------------------- */

typedef struct {
  sl_http_server_t* srv;
  const char* path; /* the log, renamed between the two requests */
  const char* rotated;
  int step, port;
  raw_t r[2];
} rot_t;

static const char* const rot_req =
    "GET /p?q=\"x\" HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\n"
    "User-Agent: test \"agent\"\r\nConnection: close\r\n\r\n";

/* Request 1, then logrotate's rename and a reopen, then request 2. */
static void rot_tick(sl_timer_t* t, void* arg) {
  rot_t* x = arg;
  if (x->step == 0) {
    x->r[0] = (raw_t){.parts = {rot_req}, .nparts = 1};
    raw_start(&x->r[0], x->port);
    x->step = 1;
  } else if (x->step == 1 && x->r[0].done) {
    pthread_join(x->r[0].th, NULL);
    x->step = 2; /* let the line reach the file */
  } else if (x->step == 2) {
    ASSERT_EQ(rename(x->path, x->rotated), 0);
    ASSERT_EQ(sl_http_access_log_reopen(), 0);
    x->r[1] = (raw_t){.parts = {rot_req}, .nparts = 1};
    raw_start(&x->r[1], x->port);
    x->step = 3;
  } else if (x->step == 3 && x->r[1].done) {
    pthread_join(x->r[1].th, NULL);
    sl_timer_stop(t);
    sl_http_server_close(x->srv, NULL, NULL);
  }
}

static void run_rotation(int format, char** first, char** second) {
  rot_t x = {.path = sl_test_path("access.log"),
             .rotated = sl_test_path("access.log.1")};
  char path[512], rotated[512];
  snprintf(path, sizeof path, "%s", x.path);
  snprintf(rotated, sizeof rotated, "%s", x.rotated);
  x.path = path, x.rotated = rotated;
  sl_http_server_opts_t o = {
      .access_log = 1, .access_log_format = format, .access_log_path = path};
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &x.srv), 0);
  x.port = sl_http_server_port(x.srv);
  sl_timer_start(20, 20, rot_tick, &x);
  ASSERT_EQ(sl_run(), 0);
  *first = sl_test_read_file(rotated, NULL);
  *second = sl_test_read_file(path, NULL);
  raw_free(&x.r[0]);
  raw_free(&x.r[1]);
}

/* Combined, as goaccess and fail2ban read it, with quotes escaped; a
 * reopen after a rename starts the new file (logrotate's create). */
TEST(http_access_log_combined_file_reopen) {
  char *a, *b;
  run_rotation(SL_ACCESS_LOG_COMBINED, &a, &b);
  const char* re_tail =
      "\"GET /p?q=\\x22x\\x22 HTTP/1.1\" 200 3 \"http://r.example/\" "
      "\"test \\x22agent\\x22\"\n";
  ASSERT(strncmp(a, "127.0.0.1 - - [", 15) == 0);
  ASSERT(strstr(a, " +0000] ") != NULL);
  if (strstr(a, re_tail) == NULL)
    sl_test_fail(__FILE__, __LINE__, "first file: %s", a);
  ASSERT(strchr(a, '\n') == a + strlen(a) - 1); /* one line each */
  ASSERT(strstr(b, re_tail) != NULL);
  ASSERT(strchr(b, '\n') == b + strlen(b) - 1);
  free(a), free(b);
}

TEST(http_access_log_json_lines) {
  char *a, *b;
  run_rotation(SL_ACCESS_LOG_JSON, &a, &b);
  ASSERT(strncmp(a, "{\"time\":\"", 9) == 0);
  ASSERT(strstr(a,
                "\"remote\":\"127.0.0.1\",\"method\":\"GET\","
                "\"url\":\"/p?q=\\\"x\\\"\",\"version\":\"1.1\","
                "\"status\":200,\"bytes\":3,") != NULL);
  ASSERT(strstr(a, "\"user_agent\":\"test \\\"agent\\\"\"}\n") != NULL);
  ASSERT(strstr(b, "\"status\":200") != NULL);
  free(a), free(b);
}

/* A log file that cannot be opened is said on stderr, and the server
 * serves anyway. */
TEST(http_access_log_unopenable_file_serves) {
  const char* lp = sl_test_path("stderr.txt");
  log_capture(lp);
  sl_http_server_opts_t o = {.access_log = 1,
                             .access_log_path = "/nonexistent/dir/a.log"};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  raw_t r = {
      .parts = {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
      .nparts = 1};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  char* err = log_restore(lp);
  ASSERT(r.out != NULL && strncmp(r.out, "HTTP/1.1 200 ", 13) == 0);
  if (strstr(err, "ENOENT") == NULL ||
      strstr(err, "/nonexistent/dir/a.log") == NULL)
    sl_test_fail(__FILE__, __LINE__, "stderr: %s", err);
  free(err);
  raw_free(&r);
}

/* Requests refused before a handler ran are logged as nginx logs them:
 * 400 with what of the request line parsed, 408 with "-", and the server
 * goes on. */
TEST(http_access_log_rejected_requests) {
  const char* lp = sl_test_path("access.log");
  log_capture(lp);
  sl_http_server_opts_t o = {.access_log = 1,
                             .headers_timeout_ms = 200,
                             .max_body_size = 100,
                             .access_log_format = SL_ACCESS_LOG_COMBINED};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  int port = sl_http_server_port(srv);
  raw_t bad = {.parts = {"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                         "Content-Length: 2\r\n\r\n"},
               .nparts = 1};
  raw_t slow = {.parts = {"GET /slow HT"}, .nparts = 1, .timeout_ms = 3000};
  raw_t big = {.parts = {"POST /up HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 99999999999\r\n\r\n"},
               .nparts = 1};
  raw_start(&bad, port);
  raw_start(&slow, port);
  raw_start(&big, port);
  raw_t* v[] = {&bad, &slow, &big};
  drive(srv, v, 3);
  char* log = log_restore(lp);
  if (strstr(log, "\"GET /x HTTP/1.1\" 400 0 \"-\" \"-\"\n") == NULL ||
      strstr(log, "\"-\" 408 0 \"-\" \"-\"\n") == NULL ||
      strstr(log, "\"POST /up HTTP/1.1\" 413 0 ") == NULL)
    sl_test_fail(__FILE__, __LINE__, "log: %s", log);
  free(log);
  raw_free(&bad), raw_free(&slow), raw_free(&big);
}

/* --- X-Forwarded-For from trusted proxies only -------------------------- */

static const char* client_of(const char* spec, const char* peer,
                             const char* xff) {
  static char out[64];
  sl__cidr_t v[8];
  size_t n;
  ASSERT_EQ(sl__trust_parse(spec, v, 8, &n), 0);
  sl__trust_client(v, n, peer, xff, out, sizeof out);
  return out;
}

TEST(http_trust_proxy_rules) {
  const char* lan = "127.0.0.1, 10.0.0.0/8, fd00::/8";
  /* The proxy's own hop is skipped; the client is the next one left. */
  ASSERT_STR_EQ(client_of(lan, "127.0.0.1", "203.0.113.7, 10.1.2.3"),
                "203.0.113.7");
  /* What the client wrote itself, left of an untrusted hop, is ignored. */
  ASSERT_STR_EQ(client_of(lan, "127.0.0.1", "1.2.3.4, 203.0.113.7"),
                "203.0.113.7");
  /* An untrusted peer's header means nothing. */
  ASSERT_STR_EQ(client_of(lan, "198.51.100.1", "1.2.3.4"), "198.51.100.1");
  ASSERT_STR_EQ(client_of(NULL, "127.0.0.1", "1.2.3.4"), "127.0.0.1");
  /* Every hop trusted: the left-most. Garbage ends the walk. */
  ASSERT_STR_EQ(client_of(lan, "127.0.0.1", "10.0.0.9, 10.0.0.8"), "10.0.0.9");
  ASSERT_STR_EQ(client_of(lan, "127.0.0.1", "junk, 10.0.0.8"), "10.0.0.8");
  ASSERT_STR_EQ(client_of(lan, "fd00::1", "2001:db8::5"), "2001:db8::5");
  ASSERT_STR_EQ(client_of("10.1.0.0/16", "10.2.0.1", "1.1.1.1"), "10.2.0.1");
  sl__cidr_t v[2];
  size_t n;
  ASSERT_EQ(sl__trust_parse("10.0.0.0/33", v, 2, &n), SL_EINVAL);
  ASSERT_EQ(sl__trust_parse("nope", v, 2, &n), SL_EINVAL);
  /* An empty prefix is not /0 (which would trust everyone). */
  ASSERT_EQ(sl__trust_parse("127.0.0.1/", v, 2, &n), SL_EINVAL);
  ASSERT_EQ(sl__trust_parse("::1/+8", v, 2, &n), SL_EINVAL);
  ASSERT_EQ(sl__trust_parse("1.1.1.1,2.2.2.2,3.3.3.3", v, 2, &n), SL_E2BIG);
  sl_http_server_opts_t o = {.trusted_proxies = "10.0.0.0/99"};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), SL_EINVAL);
  ASSERT(srv == NULL);
}

/* Through a server: the log names the client behind a trusted proxy. */
TEST(http_access_log_trusted_forwarded_for) {
  const char* lp = sl_test_path("access.log");
  log_capture(lp);
  sl_http_server_opts_t o = {.access_log = 1,
                             .access_log_format = SL_ACCESS_LOG_COMBINED,
                             .trusted_proxies = "127.0.0.1"};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  raw_t r = {.parts = {"GET /f HTTP/1.1\r\nHost: x\r\n"
                       "X-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n"
                       "Connection: close\r\n\r\n"},
             .nparts = 1};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  char* log = log_restore(lp);
  if (strncmp(log, "203.0.113.9 - - [", 17) != 0)
    sl_test_fail(__FILE__, __LINE__, "log: %s", log);
  free(log);
  raw_free(&r);
}

/* The program's own stderr stream survives a logging server: the log
 * writes through a stream (and, for a pipe, a file description) of its
 * own, so fd 2 stays blocking for whoever shares it. */
TEST(http_access_log_leaves_stderr_alone) {
  int p[2], saved = stderr_to_pipe(p);
  sl_http_server_opts_t o = {.access_log = 1};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  int fl = fcntl(2, F_GETFL);
  raw_t r = {
      .parts = {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
      .nparts = 1};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  int rc = sl_stream_write_str(sl_stderr(), "still mine\n");
  sl_stream_end(sl_stderr(), NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  dup2(saved, 2);
  close(saved);
  char buf[4096];
  ssize_t k = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  ASSERT(k > 0);
  buf[k] = '\0';
  ASSERT_EQ(fl & O_NONBLOCK, 0);
  ASSERT_GE(rc, 0);
  ASSERT(strstr(buf, "\"GET / HTTP/1.1\" 200 ") != NULL);
  ASSERT(strstr(buf, "still mine\n") != NULL);
  raw_free(&r);
}

/* Serves one raw request `req` with the JSON access log on; returns the
 * log's text (malloc'd). */
static char* json_log_of(const char* req) {
  const char* lp = sl_test_path("access.log");
  log_capture(lp);
  sl_http_server_opts_t o = {.access_log = 1,
                             .access_log_format = SL_ACCESS_LOG_JSON};
  sl_http_server_t* srv = NULL;
  ASSERT_EQ(sl_http_listen(&o, tiny, NULL, &srv), 0);
  raw_t r = {.parts = {req}, .nparts = 1};
  raw_start(&r, sl_http_server_port(srv));
  raw_t* v[] = {&r};
  drive(srv, v, 1);
  char* log = log_restore(lp);
  raw_free(&r);
  return log;
}

/* Client strings at their worst (bytes that escape to 6 characters in
 * every field) still make one whole JSON object per line. */
TEST(http_access_log_json_line_never_cut) {
  static char req[4096];
  char hi[251];
  memset(hi, '\xff', 250);
  hi[250] = '\0';
  snprintf(req, sizeof req,
           "GET /%s HTTP/1.1\r\nHost: x\r\nUser-Agent: %s\r\nReferer: %s\r\n"
           "Connection: close\r\n\r\n",
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           "aaaaaaaaaaaaaaaaaaaaaaaaaa",
           hi, hi);
  char* log = json_log_of(req);
  size_t len = strlen(log);
  ASSERT(len > 2 && strchr(log, '\n') == log + len - 1);
  if (strncmp(log + len - 2, "}\n", 2) != 0)
    sl_test_fail(__FILE__, __LINE__, "cut line: %s", log);
  free(log);
}

/* The JSON format writes strings as JSON.stringify does: UTF-8 stays as it
 * is (it once became one \u00XX per byte, which decodes to mojibake),
 * a tab is escaped, ill-formed bytes become U+FFFD, and a value
 * longer than its budget is cut inside the string, never the line. A
 * python3 json parser reads the line back. */
TEST(http_access_log_json_utf8_reads_back) {
  if (!sl_test_have("python3")) SKIP("python3 is not installed");
  static char req[8192];
  char longref[1501];
  memset(longref, 'r', 1500);
  longref[1500] = '\0';
  snprintf(req, sizeof req,
           "GET /caf%%C3%%A9 HTTP/1.1\r\nHost: x\r\n"
           "User-Agent: caf\xc3\xa9 \xf0\x9d\x84\x9e \t \xff \"q\"\r\n"
           "Referer: %s\r\nConnection: close\r\n\r\n",
           longref);
  char* log = json_log_of(req);
  sl_test_write_file(sl_test_path("line.json"), log, strlen(log));
  char cmd[1024];
  snprintf(
      cmd, sizeof cmd,
      "python3 -c 'import json,sys; d=json.loads(open(sys.argv[1], "
      "encoding=\"utf-8\").read()); "
      "want=\"caf\\u00e9 \\U0001d11e \\t \\ufffd \\\"q\\\"\"; "
      "r=d[\"referer\"]; "
      "sys.exit(0 if d[\"user_agent\"]==want and d[\"url\"]==\"/caf%%C3%%A9\""
      " and 0<len(r)<1500 and set(r)=={\"r\"} else 1)' %s",
      sl_test_path("line.json"));
  if (sl_test_sh("%s", cmd) != 0)
    sl_test_fail(__FILE__, __LINE__, "log line does not read back: %s", log);
  free(log);
}
