/* HTTP client agents: a pool of sockets per host:port, at most max_sockets
 * each, and the idle sockets of every agent. An idle socket expires after
 * SL__CLIENT_IDLE_MS and never keeps the loop alive on its own: a prepare
 * handle closes them all when they are all that is left. The exchanges and
 * the protocol on the sockets are client.c's. */
#include "http/client_int.h"

#include <strings.h>

#define SWEEP_MS              1000 /* how often idle sockets are checked */
#define DEFAULT_AGENT_SOCKETS 256  /* the default agent, per host:port */
#define AGENT_SOCKETS         8    /* sl_http_agent_new(0) */

/* Idle sockets of every agent, and the two handles that watch them while
 * there are any: a prepare handle that closes them all when nothing else
 * would keep the loop alive, and a timer that expires old ones. */
typedef struct {
  uv_prepare_t prep;
  uv_timer_t timer;
  int open;
} idle_hd_t;

static struct {
  sl__queue_t list;
  int init;
  size_t n;
  idle_hd_t* hd;
  sl_http_agent_t* default_agent;
} idles;

/* --- idle sockets ------------------------------------------------------- */

static void idle_hd_closed(uv_handle_t* h) {
  idle_hd_t* hd = h->data;
  if (--hd->open == 0) sl__free(hd);
}

/* Closes the idle sockets `pick` selects (NULL: all), searching from the
 * head again after each, since closing one may close others. */
static void idle_close_if(int (*pick)(conn_t* c, void* arg), void* arg) {
  for (;;) {
    conn_t* found = NULL;
    sl__queue_t* q;
    for (q = idles.list.next; q != &idles.list && found == NULL; q = q->next) {
      conn_t* c = sl__container_of(q, conn_t, inode);
      if (pick == NULL || pick(c, arg)) found = c;
    }
    if (found == NULL) return;
    sl__client_conn_destroy(found);
  }
}

/* Closes the idle sockets when they are all that keeps the loop alive: the
 * loop would otherwise poll forever for a server that may never close. */
static void on_idle_prepare(uv_prepare_t* h) {
  (void)h;
  sl__queue_t* q;
  for (q = idles.list.next; q != &idles.list; q = q->next) {
    conn_t* c = sl__container_of(q, conn_t, inode);
    uv_unref((uv_handle_t*)sl__uv_stream_handle(c->sock));
  }
  int alive = uv_loop_alive(sl__loop());
  for (q = idles.list.next; q != &idles.list; q = q->next) {
    conn_t* c = sl__container_of(q, conn_t, inode);
    uv_ref((uv_handle_t*)sl__uv_stream_handle(c->sock));
  }
  if (!alive) idle_close_if(NULL, NULL);
}

static int idle_expired(conn_t* c, void* arg) {
  return *(uint64_t*)arg - c->idle_since >= SL__CLIENT_IDLE_MS;
}

static void on_idle_sweep(uv_timer_t* h) {
  (void)h;
  uint64_t now = uv_now(sl__loop());
  idle_close_if(idle_expired, &now);
}

static void idle_watch(int on) {
  if (on && idles.hd == NULL) {
    idle_hd_t* hd = sl__calloc(1, sizeof *hd);
    if (hd == NULL) return; /* idle sockets then close with the loop idle */
    uv_prepare_init(sl__loop(), &hd->prep);
    uv_timer_init(sl__loop(), &hd->timer);
    hd->prep.data = hd->timer.data = hd;
    hd->open = 2;
    uv_prepare_start(&hd->prep, on_idle_prepare);
    uv_timer_start(&hd->timer, on_idle_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t*)&hd->prep);
    uv_unref((uv_handle_t*)&hd->timer);
    idles.hd = hd;
  } else if (!on && idles.hd != NULL) {
    uv_close((uv_handle_t*)&idles.hd->prep, idle_hd_closed);
    uv_close((uv_handle_t*)&idles.hd->timer, idle_hd_closed);
    idles.hd = NULL;
  }
}

void sl__idle_add(conn_t* c) {
  if (!idles.init) {
    sl__queue_init(&idles.list);
    idles.init = 1;
  }
  c->idle = 1;
  c->idle_since = uv_now(sl__loop());
  sl__queue_insert_tail(&idles.list, &c->inode);
  idles.n++;
  idle_watch(1);
}

void sl__idle_remove(conn_t* c) {
  if (!c->idle) return;
  c->idle = 0;
  sl__queue_remove(&c->inode);
  if (--idles.n == 0) idle_watch(0);
}

/* --- pools -------------------------------------------------------------- */

pool_t* sl__pool_get(sl_http_agent_t* a, const char* host, int port) {
  sl__queue_t* q;
  for (q = a->pools.next; q != &a->pools; q = q->next) {
    pool_t* p = sl__container_of(q, pool_t, node);
    if (p->port == port && strcasecmp(p->host, host) == 0) return p;
  }
  pool_t* p = sl__calloc(1, sizeof *p);
  if (p == NULL || (p->host = sl__strdup(host)) == NULL) {
    sl__free(p);
    return NULL;
  }
  p->agent = a;
  p->port = port;
  sl__queue_init(&p->conns);
  sl__queue_init(&p->waiting);
  sl__queue_insert_tail(&a->pools, &p->node);
  return p;
}

void sl__pool_maybe_free(pool_t* p) {
  if (p->in_next || p->nconns != 0 || !sl__queue_empty(&p->waiting)) return;
  sl_http_agent_t* a = p->agent;
  sl__queue_remove(&p->node);
  sl__free(p->host);
  sl__free(p);
  if (a->closing == 1 && sl__queue_empty(&a->pools)) sl__free(a);
}

/* An idle socket of `p` that has not expired (expired ones close). */
static conn_t* pool_idle(pool_t* p) {
  uint64_t now = uv_now(sl__loop());
  sl__queue_t* q = p->conns.next;
  while (q != &p->conns) {
    conn_t* c = sl__container_of(q, conn_t, node);
    q = q->next;
    if (!c->idle) continue;
    if (now - c->idle_since < SL__CLIENT_IDLE_MS) return c;
    sl__client_conn_destroy(
        c); /* p lives on: the caller's exchange waits in it */
  }
  return NULL;
}

/* Hands sockets to waiting requests while there are sockets to hand, then
 * frees the pool if nothing is left in it. */
void sl__pool_next(pool_t* p) {
  if (p->in_next) return;
  p->in_next = 1;
  while (!sl__queue_empty(&p->waiting)) {
    xchg_t* x = sl__container_of(p->waiting.next, xchg_t, node);
    conn_t* c = pool_idle(p);
    if (c == NULL && p->nconns >= p->agent->max_sockets) break;
    sl__queue_remove(&x->node);
    x->waiting = 0;
    x->pool = NULL;
    if (c == NULL && (c = sl__client_conn_new(p)) == NULL) {
      sl__client_fail(x, SL_ENOMEM, "connect %s", x->peer);
      continue;
    }
    sl__client_conn_assign(c, x);
  }
  p->in_next = 0;
  sl__pool_maybe_free(p);
}

sl_http_agent_t* sl__agent_default(void) {
  if (idles.default_agent == NULL)
    idles.default_agent = sl_http_agent_new(DEFAULT_AGENT_SOCKETS);
  return idles.default_agent;
}

sl_http_agent_t* sl_http_agent_new(size_t max_sockets) {
  sl_http_agent_t* a = sl__calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  sl__queue_init(&a->pools);
  a->max_sockets = max_sockets ? max_sockets : AGENT_SOCKETS;
  return a;
}

static int idle_of_agent(conn_t* c, void* arg) { return c->pool->agent == arg; }

void sl_http_agent_close(sl_http_agent_t* a) {
  if (a == NULL || a->closing) return;
  if (a == idles.default_agent) idles.default_agent = NULL;
  a->closing = 2; /* pools do not free the agent while this runs */
  if (idles.init) idle_close_if(idle_of_agent, a);
  a->closing = 1; /* from now on the last pool to go frees it */
  if (sl__queue_empty(&a->pools)) sl__free(a);
}
