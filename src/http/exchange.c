/* One request and its response held together across callbacks: a handler
 * that answers later (after a timer, a child, a pipeline) passes one
 * pointer instead of a struct of its own, and both streams stay allocated
 * (though a client that leaves may destroy them) until it lets go. */
#include "http/http_int.h"

sl_http_exchange_t* sl_http_hold(sl_stream_t* req, sl_stream_t* res) {
  sl_http_exchange_t* x = sl__malloc(sizeof *x);
  if (x == NULL) return NULL;
  x->req = req != NULL ? sl_stream_ref(req) : NULL;
  x->res = res != NULL ? sl_stream_ref(res) : NULL;
  return x;
}

void sl_http_release(sl_http_exchange_t* x) {
  if (x == NULL) return;
  if (x->req != NULL) sl_stream_unref(x->req);
  if (x->res != NULL) sl_stream_unref(x->res);
  sl__free(x);
}
