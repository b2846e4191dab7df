/* The client's URL parser: the absolute http:// URLs sl_http_request()
 * takes (and the ws:// ones of sl_ws_connect), split into what a request needs (the host to connect to, the
 * port, the authority for the Host header, and the path with its query).
 * It checks the shape and the port, not the host's syntax: the resolver
 * judges names. Nothing is allocated; the path points into the URL. */
#include "http/http_int.h"

#include <strings.h>

int sl__http_parse_url(const char* url, sl__http_url_t* u) {
  size_t skip = url == NULL                           ? 0
                : strncasecmp(url, "http://", 7) == 0 ? 7
                : strncasecmp(url, "ws://", 5) == 0   ? 5
                                                      : 0;
  if (skip == 0) return SL_EINVAL;
  const char* a = url + skip;
  size_t alen = strcspn(a, "/?#");
  const char* at = memchr(a, '@', alen);
  if (at != NULL) {
    alen -= (size_t)(at + 1 - a);
    a = at + 1;
  }
  const char* hend;
  const char* colon;
  u->port = 80;
  if (alen > 0 && a[0] == '[') {
    hend = memchr(a, ']', alen);
    if (hend == NULL) return SL_EINVAL;
    colon = hend + 1 < a + alen && hend[1] == ':' ? hend + 1 : NULL;
    if (colon == NULL && hend + 1 != a + alen) return SL_EINVAL;
    a++;
  } else {
    colon = memchr(a, ':', alen);
    hend = colon != NULL ? colon : a + alen;
  }
  size_t hlen = (size_t)(hend - a);
  if (hlen == 0 || hlen >= sizeof u->host || alen >= sizeof u->authority)
    return SL_EINVAL;
  memcpy(u->host, a, hlen);
  u->host[hlen] = '\0';
  if (colon != NULL) {
    const char* end = (a[-1] == '[' ? a - 1 : a) + alen;
    char* stop;
    long port = strtol(colon + 1, &stop, 10);
    if (stop != end || port <= 0 || port > 65535) return SL_EINVAL;
    u->port = (int)port;
  }
  const char* auth = a[-1] == '[' ? a - 1 : a;
  memcpy(u->authority, auth, alen);
  u->authority[alen] = '\0';
  u->path = auth + alen;
  u->path_len = strcspn(u->path, "#");
  return 0;
}
