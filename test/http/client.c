/* The HTTP client against servers no one here wrote (a Node.js `http`
 * server started per case on port 0, raw TCP servers that answer garbage or
 * close-delimited bodies) and against the sluice server: GET, streamed POST,
 * chunked and close-delimited bodies, HEAD, status codes, keep-alive reuse
 * and max_sockets, connection refused, malformed responses, backpressure on
 * a large body, timeouts, and an agent that leaves nothing open. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* --- a Node.js server ---------------------------------------------------- */

static const char* const node_script =
    "const http=require('http');let conns=0;"
    "const s=http.createServer((req,res)=>{"
    " const u=new URL(req.url,'http://x');const p=u.pathname;"
    " if(p==='/hello'){res.setHeader('Content-Type','text/plain');"
    "  res.setHeader('Content-Length',12);"
    "  res.end('hello world\\n');}"
    " else if(p==='/chunked'){res.write('one,');"
    "  setTimeout(()=>{res.write('two,');res.end('three');},10);}"
    " else if(p==='/echo'){"
    "  res.setHeader('x-req-te',String(req.headers['transfer-encoding']));"
    "  res.setHeader('x-req-cl',String(req.headers['content-length']));"
    "  req.pipe(res);}"
    " else if(p==='/count'){req.resume();"
    "  req.on('end',()=>res.end(String(conns)));}"
    " else if(p==='/big'){const n=+u.searchParams.get('n');"
    "  res.setHeader('Content-Length',n);const b=Buffer.alloc(65536);"
    "  for(let i=0;i<b.length;i++)b[i]=(i*7)&255;let sent=0;"
    "  const go=()=>{while(sent<n){const k=Math.min(b.length,n-sent);"
    "   sent+=k;if(!res.write(k===b.length?b:b.subarray(0,k)))"
    "   return res.once('drain',go);}res.end();};go();}"
    " else if(p==='/slow'){}"
    " else if(p==='/headers'){res.end(JSON.stringify(req.headers));}"
    " else{res.statusCode=404;res.end('not found');}"
    "});"
    "s.on('connection',()=>conns++);"
    "s.listen(0,'127.0.0.1',()=>console.log(s.address().port));";

typedef struct {
  pid_t pid;
  int port;
} node_t;

/* Starts the Node server and reads the port it prints (blocking: the loop
 * is not running yet). */
static void node_start(node_t* n) {
  if (!sl_test_have("node")) SKIP("node is not installed");
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  n->pid = fork();
  ASSERT(n->pid >= 0);
  if (n->pid == 0) {
    dup2(fds[1], 1);
    execlp("node", "node", "-e", node_script, (char*)NULL);
    _exit(127);
  }
  close(fds[1]);
  char buf[32] = "";
  size_t len = 0;
  while (len < sizeof buf - 1 && memchr(buf, '\n', len) == NULL) {
    ssize_t r = read(fds[0], buf + len, sizeof buf - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fds[0]);
  n->port = atoi(buf);
  ASSERT_GT(n->port, 0);
}

static void node_stop(node_t* n) {
  kill(n->pid, SIGTERM);
  int st;
  waitpid(n->pid, &st, 0);
}

/* --- collecting responses ------------------------------------------------ */

typedef struct {
  int err, status, called, ended, closed, res_err;
  char msg[256];     /* the request stream's error message */
  char res_msg[256]; /* the response stream's error message */
  char te[64], cl[64], ctype[64], xte[64], xcl[64];
  char* body;
  size_t len, cap;
  sl_stream_t* res;
  size_t max_buffered;
  void (*on_end)(void* arg);
  void* end_arg;
} resp_t;

static void copy_header(sl_stream_t* res, const char* name, char* out,
                        size_t cap) {
  const char* v = sl_http_header(res, name);
  snprintf(out, cap, "%s", v ? v : "");
}

static void on_res_event(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  resp_t* r = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      size_t n = sl_chunk_len(ev->chunk);
      if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->body = realloc(r->body, r->cap);
      }
      memcpy(r->body + r->len, sl_chunk_data(ev->chunk), n);
      r->len += n;
      r->body[r->len] = '\0';
      break;
    }
    case SL_EV_END:
      r->ended++;
      if (r->on_end != NULL) r->on_end(r->end_arg);
      break;
    case SL_EV_ERROR:
      r->res_err = ev->err;
      snprintf(r->res_msg, sizeof r->res_msg, "%s", ev->message);
      break;
    case SL_EV_CLOSE: {
      sl_stream_stats_t st;
      sl_stream_stats(s, &st);
      r->max_buffered = st.max_buffered;
      r->closed++;
      break;
    }
    default:
      break;
  }
}

static void on_response(int err, sl_stream_t* res, void* arg) {
  resp_t* r = arg;
  r->called++;
  r->err = err;
  if (res == NULL) return;
  r->res = res;
  r->status = sl_http_status(res);
  copy_header(res, "transfer-encoding", r->te, sizeof r->te);
  copy_header(res, "content-length", r->cl, sizeof r->cl);
  copy_header(res, "content-type", r->ctype, sizeof r->ctype);
  copy_header(res, "x-req-te", r->xte, sizeof r->xte);
  copy_header(res, "x-req-cl", r->xcl, sizeof r->xcl);
  static const sl_event_type_t t[] = {SL_EV_DATA, SL_EV_END, SL_EV_ERROR,
                                      SL_EV_CLOSE};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    ASSERT_EQ(sl_stream_on(res, t[i], on_res_event, r), 0);
}

static void on_req_error(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)s;
  resp_t* r = arg;
  snprintf(r->msg, sizeof r->msg, "%s", ev->message ? ev->message : "");
}

/* Starts `method url` with an empty body (ended at once). */
static sl_stream_t* request(const char* method, const char* url,
                            sl_http_agent_t* agent, resp_t* r) {
  sl_http_request_opts_t o = {.method = method, .url = url, .agent = agent};
  sl_stream_t* req = sl_http_request(&o, on_response, r);
  ASSERT(req != NULL);
  ASSERT_EQ(sl_stream_on(req, SL_EV_ERROR, on_req_error, r), 0);
  ASSERT_EQ(sl_stream_end(req, NULL, NULL, NULL), 0);
  return req;
}

static const char* url_of(int port, const char* path) {
  static char buf[4][128];
  static int i;
  char* u = buf[i++ % 4];
  snprintf(u, sizeof buf[0], "http://127.0.0.1:%d%s", port, path);
  return u;
}

/* --- against Node.js ----------------------------------------------------- */

TEST(client_get_node) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  request(NULL, url_of(n.port, "/hello"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.called, 1);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.ctype, "text/plain");
  ASSERT_STR_EQ(r.cl, "12");
  ASSERT_STR_EQ(r.body, "hello world\n");
  ASSERT_EQ(r.ended, 1);
  ASSERT_EQ(r.closed, 1);
  free(r.body);
}

/* Every header of the response is reachable by index, in order. */
TEST(client_header_at_and_request_headers) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  const char* hdrs[] = {"X-Trace: abc", "Accept: text/plain", NULL};
  sl_http_request_opts_t o = {.url = url_of(n.port, "/headers?q=1"),
                              .headers = hdrs};
  sl_stream_t* req = sl_http_request(&o, on_response, &r);
  sl_stream_end(req, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.status, 200);
  ASSERT(strstr(r.body, "\"x-trace\":\"abc\"") != NULL);
  ASSERT(strstr(r.body, "\"accept\":\"text/plain\"") != NULL);
  char host[64];
  snprintf(host, sizeof host, "\"host\":\"127.0.0.1:%d\"", n.port);
  ASSERT(strstr(r.body, host) != NULL);
  ASSERT(strstr(r.body, "transfer-encoding") == NULL); /* GET: no body */
  ASSERT(strstr(r.body, "content-length") == NULL);
  free(r.body);
}

/* A streamed body goes out chunked; the echo comes back intact. */
TEST(client_post_streamed_body_node) {
  node_t n;
  node_start(&n);
  size_t len = 3u << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 11);
  resp_t r = {0};
  sl_http_request_opts_t o = {.method = "POST", .url = url_of(n.port, "/echo")};
  sl_stream_t* req = sl_http_request(&o, on_response, &r);
  ASSERT(req != NULL);
  sl_test_feeder_t f = {.s = req, .data = data, .len = len};
  sl_test_feed(&f);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.xte, "chunked");
  ASSERT_STR_EQ(r.xcl, "undefined");
  ASSERT_EQ(r.len, len);
  ASSERT_MEM_EQ(r.body, data, len);
  free(r.body);
  free(data);
}

/* With a Content-Length header the body goes out as is, not chunked. */
TEST(client_post_content_length_node) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  const char* hdrs[] = {"Content-Length: 11", NULL};
  sl_http_request_opts_t o = {
      .method = "PUT", .url = url_of(n.port, "/echo"), .headers = hdrs};
  sl_stream_t* req = sl_http_request(&o, on_response, &r);
  sl_stream_write_str(req, "hello ");
  sl_chunk_t* last = sl_chunk_str("world");
  sl_stream_end(req, last, NULL, NULL);
  sl_chunk_unref(last);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.xte, "undefined");
  ASSERT_STR_EQ(r.xcl, "11");
  ASSERT_STR_EQ(r.body, "hello world");
  free(r.body);
}

TEST(client_chunked_response_node) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  request("GET", url_of(n.port, "/chunked"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.te, "chunked");
  ASSERT_STR_EQ(r.body, "one,two,three");
  ASSERT_EQ(r.ended, 1);
  free(r.body);
}

TEST(client_status_404_node) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  request("GET", url_of(n.port, "/nothing-here"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.status, 404);
  ASSERT_STR_EQ(r.body, "not found");
  free(r.body);
}

/* HEAD: the Content-Length of the GET, no body; the socket is then reused
 * for a GET, which would fail if the client had waited for 12 bytes. */
typedef struct {
  int port;
  resp_t* next;
  sl_http_agent_t* agent;
  const char* path;
} chain_t;

static void start_next(void* arg) {
  chain_t* c = arg;
  request("GET", url_of(c->port, c->path), c->agent, c->next);
}

TEST(client_head_then_get_node) {
  node_t n;
  node_start(&n);
  resp_t head = {0}, count = {0};
  chain_t ch = {.port = n.port, .next = &count, .path = "/count"};
  head.on_end = start_next;
  head.end_arg = &ch;
  request("HEAD", url_of(n.port, "/hello"), NULL, &head);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(head.status, 200);
  ASSERT_STR_EQ(head.cl, "12");
  ASSERT_EQ(head.len, 0);
  ASSERT_EQ(head.ended, 1);
  ASSERT_EQ(count.status, 200);
  ASSERT_STR_EQ(count.body, "1"); /* one connection for both */
  free(count.body);
}

/* Five requests one after the other share one connection. */
TEST(client_keepalive_reuse_node) {
  node_t n;
  node_start(&n);
  enum { N = 5 };
  resp_t r[N];
  chain_t ch[N];
  memset(r, 0, sizeof r);
  for (int i = 0; i + 1 < N; i++) {
    ch[i] = (chain_t){.port = n.port, .next = &r[i + 1], .path = "/count"};
    r[i].on_end = start_next;
    r[i].end_arg = &ch[i];
  }
  request("GET", url_of(n.port, "/count"), NULL, &r[0]);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(r[i].status, 200);
    ASSERT_STR_EQ(r[i].body, "1");
    free(r[i].body);
  }
}

/* Twelve requests at once through an agent of 3 sockets: the server sees
 * 3 connections, and every request is answered. */
TEST(client_agent_max_sockets_node) {
  node_t n;
  node_start(&n);
  enum { N = 12 };
  resp_t r[N];
  memset(r, 0, sizeof r);
  sl_http_agent_t* a = sl_http_agent_new(3);
  for (int i = 0; i < N; i++)
    request("GET", url_of(n.port, "/count"), a, &r[i]);
  ASSERT_EQ(sl_run(), 0);
  sl_http_agent_close(a);
  node_stop(&n);
  int most = 0;
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(r[i].status, 200);
    if (atoi(r[i].body) > most) most = atoi(r[i].body);
    free(r[i].body);
  }
  ASSERT_EQ(most, 3);
}

/* An agent's idle sockets close with sl_http_agent_close() while the loop
 * still has other work (a timer here). */
static void close_agent_timer(sl_timer_t* t, void* arg) {
  (void)t;
  sl_http_agent_close(arg);
}

TEST(client_agent_close_idle_node) {
  node_t n;
  node_start(&n);
  sl_http_agent_t* a = sl_http_agent_new(0);
  resp_t r = {0};
  request("GET", url_of(n.port, "/hello"), a, &r);
  sl_timer_start(100, 0, close_agent_timer, a);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.status, 200);
  free(r.body);
}

/* A 32 MiB body read by a consumer that pauses for 50 ms every 4 MiB: the
 * response buffer never holds more than its mark plus one read, because
 * the parser pauses and the socket stops reading. */
typedef struct {
  resp_t r;
  size_t next_pause;
  size_t max_len;
  int bad;
} slow_t;

static void resume_cb(sl_timer_t* t, void* arg) {
  (void)t;
  slow_t* sl = arg;
  size_t l = sl_stream_readable_length(sl->r.res);
  if (l > sl->max_len) sl->max_len = l;
  sl_stream_resume(sl->r.res);
}

static void on_slow_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  slow_t* sl = arg;
  const unsigned char* d = (const unsigned char*)sl_chunk_data(ev->chunk);
  size_t n = sl_chunk_len(ev->chunk);
  for (size_t i = 0; i < n; i++)
    if (d[i] != (unsigned char)(((sl->r.len + i) % 65536) * 7)) sl->bad = 1;
  sl->r.len += n;
  if (sl->r.len >= sl->next_pause) {
    sl->next_pause += 4u << 20;
    sl_stream_pause(s);
    sl_timer_start(50, 0, resume_cb, sl);
  }
}

static void on_slow_response(int err, sl_stream_t* res, void* arg) {
  slow_t* sl = arg;
  sl->r.err = err;
  if (res == NULL) return;
  sl->r.res = sl_stream_ref(res);
  sl->r.status = sl_http_status(res);
  sl_stream_on(res, SL_EV_DATA, on_slow_data, sl);
  sl_stream_on(res, SL_EV_END, on_res_event, &sl->r);
}

TEST(client_backpressure_large_response_node) {
  node_t n;
  node_start(&n);
  size_t total = 32u << 20;
  char path[64];
  snprintf(path, sizeof path, "/big?n=%zu", total);
  slow_t sl = {.next_pause = 4u << 20};
  sl_http_request_opts_t o = {.url = url_of(n.port, path),
                              .high_water_mark = 64 * 1024};
  sl_stream_t* req = sl_http_request(&o, on_slow_response, &sl);
  sl_stream_end(req, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(sl.r.status, 200);
  ASSERT_EQ(sl.r.len, total);
  ASSERT_EQ(sl.bad, 0);
  ASSERT_EQ(sl.r.ended, 1);
  /* During each pause the buffer filled to the mark and stopped there. */
  ASSERT_GE(sl.max_len, 64 * 1024);
  ASSERT_LE(sl.max_len, 2 * 64 * 1024);
  sl_stream_stats_t st;
  sl_stream_stats(sl.r.res, &st);
  ASSERT_LE(st.max_buffered, 2 * 64 * 1024);
  sl_stream_unref(sl.r.res);
}

/* No byte from the server within timeout_ms: ETIMEDOUT through the
 * callback and on the request stream. */
TEST(client_timeout_node) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  sl_http_request_opts_t o = {.url = url_of(n.port, "/slow"),
                              .timeout_ms = 200};
  sl_stream_t* req = sl_http_request(&o, on_response, &r);
  sl_stream_on(req, SL_EV_ERROR, on_req_error, &r);
  sl_stream_end(req, NULL, NULL, NULL);
  uint64_t t0 = sl_now_ms();
  ASSERT_EQ(sl_run(), 0);
  uint64_t took = sl_now_ms() - t0;
  node_stop(&n);
  ASSERT_EQ(r.called, 1);
  ASSERT_EQ(r.err, SL_ETIMEDOUT);
  ASSERT_GE(took, 190);
  ASSERT(strstr(r.msg, "ETIMEDOUT") == r.msg);
}

/* --- errors and raw servers ---------------------------------------------- */

TEST(client_connection_refused) {
  int fd;
  int port = sl_test_unused_port(&fd);
  resp_t r = {0};
  request("POST", url_of(port, "/"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  close(fd);
  ASSERT_EQ(r.called, 1);
  ASSERT_EQ(r.err, SL_ECONNREFUSED);
  char want[128];
  snprintf(want, sizeof want,
           "ECONNREFUSED: connection refused, connect 127.0.0.1:%d", port);
  ASSERT_STR_EQ(r.msg, want);
}

TEST(client_invalid_url) {
  resp_t r = {0};
  sl_http_request_opts_t o = {.url = "https://127.0.0.1/"};
  ASSERT(sl_http_request(&o, on_response, &r) == NULL);
  o.url = "http://127.0.0.1:99999/";
  ASSERT(sl_http_request(&o, on_response, &r) == NULL);
  o.url = "http:///x";
  ASSERT(sl_http_request(&o, on_response, &r) == NULL);
  const char* bad[] = {"X-Evil: a\r\nInjected: 1", NULL};
  o.url = "http://127.0.0.1:1/";
  o.headers = bad;
  ASSERT(sl_http_request(&o, on_response, &r) == NULL);
  o.headers = NULL;
  o.method = "GET /x";
  ASSERT(sl_http_request(&o, on_response, &r) == NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.called, 0);
}

/* A raw TCP server that answers each connection with `reply`, then ends. */
static void raw_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  sl_stream_resume(conn); /* read and drop the request */
  sl_chunk_t* c = sl_chunk_str(arg);
  sl_stream_end(conn, c, NULL, NULL);
  sl_chunk_unref(c);
  sl_tcp_server_close(srv, NULL, NULL);
}

static int raw_server(const char* reply) {
  sl_tcp_server_t* srv;
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", 0, NULL, raw_conn, (void*)reply, &srv),
            0);
  return sl_tcp_server_port(srv);
}

TEST(client_malformed_response) {
  int port = raw_server("SSH-2.0-OpenSSH_9.2\r\n");
  resp_t r = {0};
  request("GET", url_of(port, "/"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.called, 1);
  ASSERT_EQ(r.err, SL_EPROTO);
  char peer[64];
  snprintf(peer, sizeof peer, "127.0.0.1:%d", port);
  ASSERT(strstr(r.msg, "EPROTO: protocol error, HPE_") == r.msg);
  ASSERT(strstr(r.msg, peer) != NULL);
}

/* A malformed body (a bad chunk size) fails the response stream. */
TEST(client_malformed_chunk) {
  int port = raw_server(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\nzz\r\n");
  resp_t r = {0};
  request("GET", url_of(port, "/"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.err, 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.res_err, SL_EPROTO);
  ASSERT(strstr(r.res_msg, "HPE_INVALID_CHUNK_SIZE") != NULL);
  ASSERT_EQ(r.ended, 0);
  ASSERT_EQ(r.closed, 1);
}

/* No Content-Length, no chunking: the body runs to the server's close. */
TEST(client_close_delimited_response) {
  int port = raw_server(
      "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
      "until the end");
  resp_t r = {0};
  sl_http_request_opts_t o = {.url = url_of(port, "/")};
  sl_stream_t* req = sl_http_request(&o, on_response, &r);
  sl_stream_end(req, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.body, "until the end");
  ASSERT_EQ(r.ended, 1);
  free(r.body);
}

/* The server closes after the head, inside a fixed-length body. */
TEST(client_truncated_body) {
  int port = raw_server(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
      "only this");
  resp_t r = {0};
  request("GET", url_of(port, "/"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.res_err, SL_ECONNRESET);
  ASSERT_EQ(r.ended, 0);
  ASSERT_STR_EQ(r.body, "only this");
  free(r.body);
}

/* The server closes without answering. */
TEST(client_hang_up) {
  int port = raw_server("");
  resp_t r = {0};
  request("GET", url_of(port, "/"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.called, 1);
  ASSERT_EQ(r.err, SL_ECONNRESET);
  ASSERT(strstr(r.msg, "socket hang up") != NULL);
}

/* Repeated headers join with ", "; header_at walks them in order. */
static void on_repeat(int err, sl_stream_t* res, void* arg) {
  resp_t* r = arg;
  on_response(err, res, arg);
  if (res == NULL) return;
  snprintf(r->te, sizeof r->te, "%s", sl_http_header(res, "x-a"));
  const char *name, *value;
  ASSERT_EQ(sl_http_header_at(res, 1, &name, &value), 0);
  ASSERT_STR_EQ(name, "X-A");
  ASSERT_STR_EQ(value, "2");
  ASSERT_EQ(sl_http_header_at(res, 3, &name, &value), SL_ENOENT);
}

TEST(client_repeated_headers) {
  int port = raw_server(
      "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\n"
      "Content-Length: 0\r\n\r\n");
  resp_t r = {0};
  sl_http_request_opts_t o = {.url = url_of(port, "/")};
  sl_stream_t* req = sl_http_request(&o, on_repeat, &r);
  sl_stream_end(req, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_STR_EQ(r.te, "1, 2");
  ASSERT_EQ(r.ended, 1);
}

/* 100 Continue before the final answer is skipped. */
TEST(client_interim_response) {
  int port = raw_server(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  resp_t r = {0};
  request("POST", url_of(port, "/"), NULL, &r);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r.status, 201);
  ASSERT_STR_EQ(r.body, "ok");
  free(r.body);
}

/* --- against the sluice server ------------------------------------------- */

typedef struct {
  sl_http_server_t* srv;
  int requests;
  char remotes[8][64];
} sl_srv_t;

static void sl_handler(sl_stream_t* req, sl_stream_t* res, void* arg) {
  sl_srv_t* s = arg;
  if (s->requests < 8)
    snprintf(s->remotes[s->requests], 64, "%s", sl_http_remote(req));
  s->requests++;
  if (strcmp(sl_http_path(req), "/echo") == 0) {
    sl_http_set_header(res, "X-Method", sl_http_method(req));
    sl_stream_pipe(req, res, NULL);
  } else {
    sl_stream_resume(req);
    sl_http_respond(res, 200, "text/plain", "sluice\n", 7);
  }
}

static void close_srv(void* arg) {
  sl_srv_t* s = arg;
  sl_http_server_close(s->srv, NULL, NULL);
}

TEST(client_sluice_server_keepalive_and_echo) {
  sl_srv_t s = {0};
  sl_http_server_opts_t so = {0};
  ASSERT_EQ(sl_http_listen(&so, sl_handler, &s, &s.srv), 0);
  int port = sl_http_server_port(s.srv);
  resp_t r1 = {0}, r2 = {0};
  chain_t ch = {.port = port, .next = &r2, .path = "/again"};
  r1.on_end = start_next;
  r1.end_arg = &ch;
  r2.on_end = close_srv;
  r2.end_arg = &s;
  request("GET", url_of(port, "/"), NULL, &r1);
  size_t len = 1u << 20;
  char* data = malloc(len);
  sl_test_fill_random(data, len, 3);
  resp_t e = {0};
  sl_http_request_opts_t o = {.method = "POST", .url = url_of(port, "/echo")};
  sl_stream_t* req = sl_http_request(&o, on_response, &e);
  sl_test_feeder_t f = {.s = req, .data = data, .len = len};
  sl_test_feed(&f);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_EQ(r1.status, 200);
  ASSERT_STR_EQ(r1.body, "sluice\n");
  ASSERT_STR_EQ(r2.body, "sluice\n");
  ASSERT_EQ(s.requests, 3);
  /* r2 went on r1's connection (the echo was on a second one) */
  int same = strcmp(s.remotes[0], s.remotes[2]) == 0 ||
             strcmp(s.remotes[1], s.remotes[2]) == 0;
  ASSERT(same);
  ASSERT_EQ(e.status, 200);
  ASSERT_EQ(e.len, len);
  ASSERT_MEM_EQ(e.body, data, len);
  free(data);
  free(e.body);
  free(r1.body);
  free(r2.body);
}

/* --- aborts and stale sockets -------------------------------------------- */

static void destroy_req_timer(sl_timer_t* t, void* arg) {
  (void)t;
  sl_stream_destroy(arg, 0);
}

/* Destroying the request before the answer aborts the exchange. */
TEST(client_abort_request_node) {
  node_t n;
  node_start(&n);
  resp_t r = {0};
  sl_stream_t* req = request("GET", url_of(n.port, "/slow"), NULL, &r);
  sl_timer_start(50, 0, destroy_req_timer, req);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(r.called, 1);
  ASSERT_EQ(r.err, SL_ECANCELED);
}

/* Destroying a response in the middle of its body closes its socket (the
 * rest cannot be skipped); the next request gets a fresh one. */
static void on_big_first_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  chain_t* c = arg;
  sl_stream_off(s, SL_EV_DATA, on_big_first_data, arg);
  sl_stream_destroy(s, 0);
  start_next(c);
}

static void on_big_response(int err, sl_stream_t* res, void* arg) {
  ASSERT_EQ(err, 0);
  sl_stream_on(res, SL_EV_DATA, on_big_first_data, arg);
}

TEST(client_destroy_response_midway_node) {
  node_t n;
  node_start(&n);
  resp_t count = {0};
  chain_t ch = {.port = n.port, .next = &count, .path = "/count"};
  sl_http_request_opts_t o = {.url = url_of(n.port, "/big?n=50000000")};
  sl_stream_t* req = sl_http_request(&o, on_big_response, &ch);
  sl_stream_end(req, NULL, NULL, NULL);
  ASSERT_EQ(sl_run(), 0);
  node_stop(&n);
  ASSERT_EQ(count.status, 200);
  ASSERT_STR_EQ(count.body, "2");
  free(count.body);
}

/* A server that answers the first request of its first connection, then
 * closes that connection when the second request arrives on it, unanswered
 * (as a server whose keep-alive timeout just expired). */
typedef struct {
  int conns;
  int first_requests;
  sl_tcp_server_t* srv;
} stale_t;

static void on_stale_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  stale_t* st = arg;
  static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  if (++st->first_requests == 1)
    sl_stream_write_bytes(s, ok, sizeof ok - 1, NULL, NULL);
  else
    sl_stream_destroy(s, 0);
}

static void on_fresh_data(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  (void)ev;
  (void)arg;
  static const char ok[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfresh";
  sl_stream_write_bytes(s, ok, sizeof ok - 1, NULL, NULL);
  sl_stream_end(s, NULL, NULL, NULL);
}

static void stale_conn(sl_tcp_server_t* srv, sl_stream_t* conn, void* arg) {
  stale_t* st = arg;
  if (++st->conns == 1) {
    sl_stream_on(conn, SL_EV_DATA, on_stale_data, st);
  } else {
    sl_stream_on(conn, SL_EV_DATA, on_fresh_data, st);
    sl_tcp_server_close(srv, NULL, NULL);
  }
}

TEST(client_retry_on_stale_socket) {
  stale_t st = {0};
  ASSERT_EQ(sl_tcp_listen("127.0.0.1", 0, NULL, stale_conn, &st, &st.srv), 0);
  int port = sl_tcp_server_port(st.srv);
  resp_t r1 = {0}, r2 = {0};
  chain_t ch = {.port = port, .next = &r2, .path = "/second"};
  r1.on_end = start_next;
  r1.end_arg = &ch;
  request("GET", url_of(port, "/first"), NULL, &r1);
  ASSERT_EQ(sl_run(), 0);
  ASSERT_STR_EQ(r1.body, "ok");
  ASSERT_EQ(r2.err, 0);
  ASSERT_EQ(r2.status, 200);
  ASSERT_STR_EQ(r2.body, "fresh");
  ASSERT_EQ(st.conns, 2);
  free(r1.body);
  free(r2.body);
}
