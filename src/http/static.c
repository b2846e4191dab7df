/* Static files: sl_static_serve answers a GET or HEAD with the file its
 * path names under the root. The path is decoded once and checked before
 * any system call (no "..", no NUL, no encoded '/'); the file is opened
 * with openat2(RESOLVE_BENEATH) from the root's descriptor, or, when that
 * refuses or is missing, opened plainly and its real path (/proc/self/fd)
 * checked against the root's: no symlink leads out. Then: MIME type,
 * ETag / Last-Modified and 304, one Range (206 / 416), gzip on the fly
 * for compressible types, and the body piped from the open descriptor,
 * which the server turns into sendfile(2) when nothing transforms it
 * (bodies up to 32 KiB are read at once instead). Directories get their
 * index file, a listing, or a 301 to the slash form. open/fstat (and
 * small reads) run on the loop thread, as nginx does without aio: cheaper
 * than a pool round trip for the small files that dominate. Small
 * regular files stay open in a bounded open-file cache (like nginx's
 * open_file_cache): a hit costs one pread instead of openat2 + fstat +
 * pread + close. The price is staleness: for up to STATIC_CACHE_VALID_MS
 * after a file was opened, its answers use that descriptor and stat (a
 * replaced file's old bytes, a deleted file still served); after the
 * window it is opened afresh. */
#define _GNU_SOURCE
#include "http/http_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Files smaller than this go uncompressed: gzip would not pay. */
#define STATIC_GZIP_MIN 256
/* Bodies up to this size are read at once on the loop thread (see
 * send_small); larger ones stream with sendfile. */
#define STATIC_INLINE_MAX (32 * 1024)
/* The open-file cache: direct-mapped slots keyed by the resolved path;
 * an entry is trusted for this long after it was opened. */
#define STATIC_CACHE_SLOTS    64
#define STATIC_CACHE_VALID_MS 1000

typedef struct {
  char* path; /* the resolved path; NULL: an empty slot */
  int fd;     /* never handed out: pread only, or dup()ed */
  struct stat sb;
  uint64_t opened; /* uv_now() when opened */
} cache_entry_t;

struct sl_static_s {
  char* root; /* realpath of the root */
  size_t root_len;
  int root_fd;     /* the root, for openat() */
  int64_t lm_time; /* Last-Modified of the last file answered ... */
  char lm[32];     /* ... formatted */
  char* index;
  unsigned no_gzip : 1, no_listing : 1;
  int dotfiles; /* SL_DOTFILES_* */
  cache_entry_t cache[STATIC_CACHE_SLOTS];
};

/* --- path resolution ---------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The path part of a target: origin form, or absolute form
 * ("http://host/p"). NULL for "*" and the authority form. */
static const char* target_path(const char* target, size_t* n) {
  const char* p = target;
  if (p[0] != '/') {
    const char* scheme = strstr(p, "://");
    if (scheme == NULL) return NULL;
    p = strchr(scheme + 3, '/');
    if (p == NULL) p = "/";
  }
  *n = strcspn(p, "?#");
  return p;
}

int sl__static_resolve(const char* target, char* out, size_t cap, int* dir) {
  size_t n;
  const char* p = target_path(target, &n);
  if (p == NULL) return 400;
  if (n > SL__STATIC_MAX_PATH) return 414;
  *dir = n > 0 && p[n - 1] == '/';
  /* Every kept segment is copied to out followed by '/'; `seg` is where
   * the segment being decoded starts. */
  size_t o = 0, seg = 0;
  for (size_t i = 1; i <= n; i++) { /* p[0] is the leading '/' */
    if (i == n || p[i] == '/') {
      size_t len = o - seg;
      if (len == 2 && out[seg] == '.' && out[seg + 1] == '.') return 403;
      if (len == 0 || (len == 1 && out[seg] == '.')) {
        o = seg;
      } else {
        if (o + 1 >= cap) return 414;
        out[o++] = '/';
      }
      seg = o;
      continue;
    }
    int c = (unsigned char)p[i];
    if (c == '%') {
      int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
      int lo = hi >= 0 ? hexval(p[i + 2]) : -1;
      if (hi < 0 || lo < 0) return 400;
      c = hi * 16 + lo;
      i += 2;
      if (c == '/') return 403; /* an encoded slash: never a separator */
    }
    if (c == '\0') return 400;
    if (o + 2 >= cap) return 414;
    out[o++] = (char)c;
  }
  if (o > 0) o--; /* the '/' after the last segment */
  out[o] = '\0';
  return 0;
}

/* Whether a segment of `rel` names a dotfile or dot-directory (.git,
 * .env, a/.ssh/id); ".well-known" (RFC 8615) is meant to be served. */
static int has_dot_segment(const char* rel) {
  for (const char* p = rel; *p != '\0'; p += strcspn(p, "/"), p += *p == '/') {
    if (p[0] != '.') continue;
    size_t n = strcspn(p, "/");
    if (!(n == 11 && memcmp(p, ".well-known", 11) == 0)) return 1;
  }
  return 0;
}

/* --- conditional requests ---------------------------------------------- */

int sl__static_precondition_failed(const char* im, const char* ius,
                                   const char* etag, int64_t mtime) {
  int64_t since;
  if (im != NULL) return !sl__http_etag_match(im, etag);
  if (ius != NULL && sl__http_parse_date(ius, &since) == 0)
    return mtime > since;
  return 0;
}

int sl__static_not_modified(const char* inm, const char* ims, const char* etag,
                            int64_t mtime) {
  int64_t since;
  if (inm != NULL) return sl__http_etag_match(inm, etag);
  if (ims != NULL && sl__http_parse_date(ims, &since) == 0)
    return mtime <= since;
  return 0;
}

/* --- answers ------------------------------------------------------------ */

/* A plain-text answer: the status's reason phrase and a newline. */
static int answer(sl_stream_t* res, int status) {
  char text[64];
  int n = snprintf(text, sizeof text, "%s\n", sl__http_reason(status));
  return sl_http_respond(res, status, "text/plain; charset=utf-8", text,
                         (size_t)n);
}

/* A string for listings and Location headers: a buffer whose first
 * failure sticks, so a builder checks once at the end. */
typedef struct {
  sl_buf_t b;
  int err;
} sb_t;

static void sb_add(sb_t* b, const char* s, size_t n) {
  if (b->err == 0) b->err = sl_buf_append(&b->b, s, n);
}

static void sb_str(sb_t* b, const char* s) { sb_add(b, s, strlen(s)); }

/* Percent-encodes everything but unreserved characters (and '/' when
 * keep_slash), so the result is safe in a Location or an href. */
static void sb_url(sb_t* b, const char* s, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~' || (keep_slash && c == '/')) {
      sb_add(b, (const char*)&c, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_add(b, e, 3);
    }
  }
}

static void sb_html(sb_t* b, const char* s) {
  for (; *s != '\0'; s++) {
    switch (*s) {
      case '&':
        sb_str(b, "&amp;");
        break;
      case '<':
        sb_str(b, "&lt;");
        break;
      case '>':
        sb_str(b, "&gt;");
        break;
      case '"':
        sb_str(b, "&quot;");
        break;
      case '\'':
        sb_str(b, "&#39;");
        break;
      default:
        sb_add(b, s, 1);
    }
  }
}

/* 301 to the slash form, built from the resolved path (never from the raw
 * target, so "//evil.example" cannot become a protocol-relative URL). */
static int redirect_dir(sl_stream_t* req, sl_stream_t* res, const char* rel) {
  sb_t b = {0};
  sb_str(&b, "/");
  sb_url(&b, rel, 1);
  sb_str(&b, "/");
  const char* q = strchr(sl_http_url(req), '?');
  if (q != NULL) sb_str(&b, q);
  int rc = b.err ? b.err : sl_http_set_header(res, "Location", b.b.data);
  sl_buf_free(&b.b);
  if (rc != 0) return rc;
  static const char text[] = "Moved Permanently\n";
  return sl_http_respond(res, 301, "text/plain; charset=utf-8", text,
                         sizeof text - 1);
}

/* --- opening inside the root -------------------------------------------- */

static int inside_root(const sl_static_t* st, const char* real) {
  if (st->root_len == 1) return real[0] == '/';
  return strncmp(real, st->root, st->root_len) == 0 &&
         (real[st->root_len] == '\0' || real[st->root_len] == '/');
}

/* Where `fd` really is (the kernel's view, whatever symlinks the path
 * took), or realpath(root/rel) without /proc. */
static int fd_inside(const sl_static_t* st, int fd, const char* rel) {
  char link[64], real[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, real, sizeof real - 1);
  if (n >= 0) {
    real[n] = '\0';
    return inside_root(st, real);
  }
  char* path = sl__asprintf("%s/%s", st->root, rel);
  int ok =
      path != NULL && realpath(path, real) != NULL && inside_root(st, real);
  sl__free(path);
  return ok;
}

static int errno_status(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
      return 404;
    case EACCES:
    case EPERM:
      return 403;
    case ENAMETOOLONG:
      return 414;
    default:
      return 500;
  }
}

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* openat2(RESOLVE_BENEATH): the kernel refuses (EXDEV) any resolution that
 * would leave the root, so a descriptor it returns needs no check. It also
 * refuses absolute symlinks that stay inside; those, and kernels without
 * openat2, take the slower path: a plain openat, then fd_inside(). */
static int open_beneath(int dirfd, const char* path) {
#ifdef SYS_openat2
  struct open_how how = {.flags = OPEN_FLAGS,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
#else
  (void)dirfd, (void)path;
  errno = ENOSYS;
  return -1;
#endif
}

/* The path openat2 would not resolve beneath the root: located with
 * O_PATH (which opens nothing: no FIFO, device or file of someone else's
 * is ever opened), checked to be inside the root and a regular file or
 * directory, and only then opened for reading through its /proc link, so
 * that what was checked is what is read. Fails closed: without /proc the
 * path is refused. Returns the descriptor, -1 with errno, or -2 for a
 * location outside the root (403). */
static int open_checked(const sl_static_t* st, const char* path) {
  int pfd = openat(st->root_fd, path, O_PATH | O_CLOEXEC);
  if (pfd < 0) return -1;
  struct stat sb;
  char link[64];
  int fd = -2;
  if (fd_inside(st, pfd, path) && fstat(pfd, &sb) == 0 &&
      (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))) {
    snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
    fd = open(link, OPEN_FLAGS);
    if (fd < 0) fd = errno == ENOENT ? -2 : -1; /* no /proc: refuse */
  }
  int e = errno;
  close(pfd);
  errno = e;
  return fd;
}

/* Opens rel (or rel/name) under the root's descriptor; returns 0 with the
 * descriptor and its stat, or the HTTP status. Never blocks on a FIFO
 * (O_NONBLOCK). */
static int open_inside(const sl_static_t* st, const char* rel, const char* name,
                       int* fd, struct stat* sb) {
  char path[PATH_MAX];
  size_t rl = strlen(rel), nl = name ? strlen(name) : 0;
  if (rl + nl + 3 > sizeof path) return 414;
  memcpy(path, rl ? rel : ".", rl ? rl + 1 : 2);
  if (name != NULL) {
    size_t at = rl ? rl : 1;
    path[at] = '/';
    memcpy(path + at + 1, name, nl + 1);
  }
  int status = 0;
  *fd = open_beneath(st->root_fd, path);
  if (*fd < 0 && errno != ENOENT && errno != ENOTDIR && errno != EACCES)
    *fd = open_checked(st, path); /* EXDEV: a symlink leaves the root or
                                     is absolute; ENOSYS, EPERM (seccomp),
                                     E2BIG: no openat2 here */
  if (*fd < 0)
    status = *fd == -2 ? 403 : errno_status(errno);
  else if (fstat(*fd, sb) != 0)
    status = 500;
  else if (!S_ISREG(sb->st_mode) && !S_ISDIR(sb->st_mode))
    status = 403;
  if (status != 0 && *fd >= 0) {
    close(*fd);
    *fd = -1;
  }
  return status;
}

/* --- the open-file cache ------------------------------------------------- */

static void cache_drop(cache_entry_t* e) {
  if (e->path == NULL) return;
  close(e->fd);
  sl__free(e->path);
  e->path = NULL;
  e->fd = -1;
}

static cache_entry_t* cache_slot(sl_static_t* st, const char* rel) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char* p = rel; *p != '\0'; p++)
    h = (h ^ (unsigned char)*p) * 16777619u;
  return &st->cache[h % STATIC_CACHE_SLOTS];
}

/* open_inside() for rel through the cache. *own is 1 when the caller owns
 * *fd (and closes it), 0 when it is the cache's: read it with pread only,
 * never close it. Only regular files small enough for send_small() are
 * kept; an entry older than the window is opened afresh (a deleted file
 * then gives 404), and a new entry evicts the slot's previous one. */
static int open_cached(sl_static_t* st, const char* rel, int* fd,
                       struct stat* sb, int* own) {
  cache_entry_t* e = cache_slot(st, rel);
  uint64_t now = uv_now(sl__loop());
  int same = e->path != NULL && strcmp(e->path, rel) == 0;
  if (same && now - e->opened < STATIC_CACHE_VALID_MS) {
    *fd = e->fd;
    *sb = e->sb;
    *own = 0;
    return 0;
  }
  if (same) cache_drop(e); /* stale */
  *own = 1;
  int status = open_inside(st, rel, NULL, fd, sb);
  if (status != 0 || !S_ISREG(sb->st_mode) || sb->st_size > STATIC_INLINE_MAX)
    return status;
  char* path = sl__strdup(rel);
  if (path == NULL) return 0; /* served uncached */
  cache_drop(e);
  e->path = path;
  e->fd = *fd;
  e->sb = *sb;
  e->opened = now;
  *own = 0;
  return 0;
}

/* Lets go of a descriptor open_cached() or open_inside() gave. */
static void put_fd(int fd, int own) {
  if (own) close(fd);
}

/* --- directory listings ------------------------------------------------- */

typedef struct {
  char* name;
  int dir;
} entry_t;

static int entry_cmp(const void* a, const void* b) {
  return strcmp(((const entry_t*)a)->name, ((const entry_t*)b)->name);
}

/* Reads the directory (takes `dfd`) into a sorted array. */
static int read_entries(int dfd, int dots, entry_t** out, size_t* n) {
  *out = NULL;
  *n = 0;
  DIR* d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return SL_ENOMEM;
  }
  entry_t* v = NULL;
  size_t cap = 0, k = 0;
  int rc = 0;
  struct dirent* e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (!dots && has_dot_segment(e->d_name)) continue;
    struct stat sb;
    int dir =
        e->d_type == DT_DIR ||
        ((e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) &&
         fstatat(dirfd(d), e->d_name, &sb, 0) == 0 && S_ISDIR(sb.st_mode));
    if (k == cap) {
      cap = cap ? cap * 2 : 32;
      entry_t* nv = sl__realloc(v, cap * sizeof *v);
      if (nv == NULL) {
        rc = SL_ENOMEM;
        break;
      }
      v = nv;
    }
    v[k].name = sl__strdup(e->d_name);
    v[k].dir = dir;
    if (v[k++].name == NULL) rc = SL_ENOMEM;
  }
  closedir(d);
  if (k > 0) qsort(v, k, sizeof *v, entry_cmp);
  *out = v;
  *n = k;
  return rc;
}

static int serve_listing(const sl_static_t* st, sl_stream_t* res, int dfd,
                         const char* rel) {
  entry_t* v;
  size_t n;
  int rc = read_entries(dfd, st->dotfiles == SL_DOTFILES_ALLOW, &v, &n);
  sb_t b = {0};
  sb_str(&b,
         "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
         "<title>Index of /");
  sb_html(&b, rel);
  sb_str(&b, "</title></head>\n<body><h1>Index of /");
  sb_html(&b, rel);
  sb_str(&b, rel[0] ? "/</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n"
                    : "</h1>\n<ul>\n");
  for (size_t i = 0; i < n; i++) {
    sb_str(&b, "<li><a href=\"");
    sb_url(&b, v[i].name, 0);
    sb_str(&b, v[i].dir ? "/\">" : "\">");
    sb_html(&b, v[i].name);
    sb_str(&b, v[i].dir ? "/</a></li>\n" : "</a></li>\n");
    sl__free(v[i].name);
  }
  sl__free(v);
  sb_str(&b, "</ul></body></html>\n");
  if (rc == 0) rc = b.err;
  if (rc == 0)
    rc = sl_http_respond(res, 200, "text/html; charset=utf-8", b.b.data,
                         b.b.len);
  sl_buf_free(&b.b);
  return rc;
}

/* --- files -------------------------------------------------------------- */

static void on_body_done(int err, const sl_pipeline_result_t* pr, void* arg) {
  /* A client that goes away mid-body is routine; the server logs the
   * exchange. Nothing else to do: every stage is destroyed already. */
  (void)err, (void)pr, (void)arg;
}

/* Status, Content-Range and the byte range to send; 0 or 416. */
static int choose_range(sl_stream_t* req, sl_stream_t* res,
                        const struct stat* sb, const char* lm, uint64_t* start,
                        uint64_t* end) {
  uint64_t size = (uint64_t)sb->st_size;
  const char* ir = sl_http_header(req, "If-Range");
  /* A weak ETag never satisfies If-Range; a date must be ours exactly. */
  int range_ok = ir == NULL || strcmp(ir, lm) == 0;
  int r = range_ok ? sl__http_parse_range(sl_http_header(req, "Range"), size,
                                          start, end)
                   : SL__RANGE_NONE;
  char cr[80];
  if (r == SL__RANGE_UNSAT) {
    snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
    sl_http_set_header(res, "Content-Range", cr);
    return 416;
  }
  if (r == SL__RANGE_OK) {
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, *start,
             *end - 1, size);
    sl_http_set_header(res, "Content-Range", cr);
    return 206;
  }
  *start = 0;
  *end = size;
  return 200;
}

/* A small body: one pread on the loop thread, the whole body handed to
 * end(). A page-cached file then costs no thread-pool round trip (the
 * reader's fstat and read), which is most of the cost of a small file;
 * nginx reads small files on its event loop the same way. Takes `fd` when
 * `own`. */
static int send_small(sl_stream_t* res, int fd, int own, uint64_t start,
                      size_t len) {
  sl_chunk_t* c = sl_chunk_new(len);
  size_t got = 0;
  while (c != NULL && got < len) {
    ssize_t n =
        pread(fd, sl_chunk_data(c) + got, len - got, (off_t)(start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  put_fd(fd, own);
  if (c == NULL) return SL_ENOMEM;
  int rc = got == len ? sl_stream_end(res, c, NULL, NULL)
                      : answer(res, 500); /* truncated meanwhile */
  sl_chunk_unref(c);
  return rc;
}

/* The body: nothing (HEAD, empty), a small one read at once, or the
 * descriptor (always our own by then) piped into `res` (sendfile), through
 * gzip when asked. Takes `fd` when `own`. */
static int send_body(sl_stream_t* req, sl_stream_t* res, int fd, int own,
                     const char* path, uint64_t start, uint64_t end, int gzip) {
  if (strcmp(sl_http_method(req), "HEAD") == 0 || end == start) {
    put_fd(fd, own);
    return sl_stream_end(res, NULL, NULL, NULL);
  }
  if (!gzip && end - start <= STATIC_INLINE_MAX)
    return send_small(res, fd, own, start, (size_t)(end - start));
  SL_ASSERT(own); /* serve_file() made the copy */
  sl_file_opts_t fo = {
      .fd = fd, .use_fd = 1, .start = start, .end = end, .strict_end = 1};
  sl_stream_t* file = sl_file_reader(path, &fo);
  /* Level 1, nginx's gzip_comp_level default: a quarter of level 6's CPU
   * for 24% of the input instead of 20% on text (ISA-L, design.md). */
  sl_stream_t* z = gzip ? sl_gzip(&(sl_zlib_opts_t){.level = 1}) : NULL;
  if (file == NULL || (gzip && z == NULL)) {
    if (file != NULL)
      sl_stream_destroy(file, 0); /* closes fd */
    else
      close(fd);
    if (z != NULL) sl_stream_destroy(z, 0);
    return SL_ENOMEM;
  }
  if (gzip) return sl_pipeline(on_body_done, NULL, file, z, res);
  return sl_pipeline(on_body_done, NULL, file, res);
}

/* ETag, Last-Modified, Accept-Ranges and (for types that may be gzipped)
 * Vary: on every answer about the file, 304 and 416 included. */
static int set_validators(sl_static_t* st, sl_stream_t* res,
                          const struct stat* sb, int vary, char* etag,
                          char* lm) {
  int64_t mtime_ns =
      (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
  sl__http_etag((uint64_t)sb->st_size, mtime_ns, etag, 64);
  if (st->lm_time != sb->st_mtim.tv_sec || st->lm[0] == '\0') {
    sl__http_date(sb->st_mtim.tv_sec, st->lm); /* one-entry cache */
    st->lm_time = sb->st_mtim.tv_sec;
  }
  memcpy(lm, st->lm, sizeof st->lm);
  int rc = sl_http_set_header(res, "ETag", etag);
  if (rc == 0) rc = sl_http_set_header(res, "Last-Modified", lm);
  if (rc == 0) rc = sl_http_set_header(res, "Accept-Ranges", "bytes");
  if (rc == 0 && vary) rc = sl_http_set_header(res, "Vary", "Accept-Encoding");
  return rc;
}

/* Takes `fd` when `own`. */
static int serve_file(sl_static_t* st, sl_stream_t* req, sl_stream_t* res,
                      int fd, int own, const struct stat* sb,
                      const char* name) {
  int compressible;
  const char* type = sl__mime_type(name, &compressible);
  int gzip_able = compressible && !st->no_gzip;
  char etag[64], lm[32], num[32];
  int rc = set_validators(st, res, sb, gzip_able, etag, lm);
  if (rc != 0) goto fail;
  /* RFC 9110 13.2.2: If-Match, else If-Unmodified-Since, before the
   * cache validators. */
  if (sl__static_precondition_failed(sl_http_header(req, "If-Match"),
                                     sl_http_header(req, "If-Unmodified-Since"),
                                     etag, sb->st_mtim.tv_sec)) {
    put_fd(fd, own);
    return answer(res, 412);
  }
  if (sl__static_not_modified(sl_http_header(req, "If-None-Match"),
                              sl_http_header(req, "If-Modified-Since"), etag,
                              sb->st_mtim.tv_sec)) {
    put_fd(fd, own);
    sl_http_set_status(res, 304);
    return sl_stream_end(res, NULL, NULL, NULL);
  }
  uint64_t start, end;
  int status = choose_range(req, res, sb, lm, &start, &end);
  if (status == 416) {
    put_fd(fd, own);
    return answer(res, 416);
  }
  int gzip = gzip_able && status == 200 && end >= STATIC_GZIP_MIN &&
             sl_http_header(req, "Range") == NULL &&
             sl__http_accepts_gzip(sl_http_header(req, "Accept-Encoding"));
  /* A streamed body reads its own copy of a cached descriptor (the reader
   * reads it by position, so sharing the file offset is safe); made
   * before the framing headers, so that failing here is a plain 500. */
  int streamed = gzip || end - start > STATIC_INLINE_MAX;
  if (streamed && !own && strcmp(sl_http_method(req), "HEAD") != 0) {
    if ((fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) return answer(res, 500);
    own = 1;
  }
  sl_http_set_status(res, status);
  rc = sl_http_set_header(res, "Content-Type", type);
  *sl__http_put_u64(num, end - start, 10) = '\0';
  if (rc == 0)
    rc = gzip ? sl_http_set_header(res, "Content-Encoding", "gzip")
              : sl_http_set_header(res, "Content-Length", num);
  /* A compressed body's length is known only at its end: chunked, said
   * up front, so that a HEAD tells how the GET would be framed (HTTP/1.0
   * has no chunks: the close delimits it). */
  if (rc == 0 && gzip && sl_http_version_minor(req) >= 1)
    rc = sl_http_set_header(res, "Transfer-Encoding", "chunked");
  if (rc != 0) goto fail;
  return send_body(req, res, fd, own, name, start, end, gzip);
fail:
  put_fd(fd, own);
  return rc;
}

/* A directory: 301 without the trailing slash, else its index file, else
 * a listing (or 404). Takes `dfd`. */
static int serve_dir(sl_static_t* st, sl_stream_t* req, sl_stream_t* res,
                     int dfd, const char* rel, int slash) {
  if (!slash) {
    close(dfd);
    return redirect_dir(req, res, rel);
  }
  int fd;
  struct stat sb;
  int status = open_inside(st, rel, st->index, &fd, &sb);
  if (status == 0 && S_ISREG(sb.st_mode)) {
    close(dfd);
    return serve_file(st, req, res, fd, 1, &sb, st->index);
  }
  if (status == 0) close(fd);
  if (status != 404 && status != 0) {
    close(dfd);
    return answer(res, status);
  }
  if (st->no_listing) {
    close(dfd);
    return answer(res, 404);
  }
  return serve_listing(st, res, dfd, rel);
}

int sl_static_serve(sl_static_t* st, sl_stream_t* req, sl_stream_t* res) {
  SL_ASSERT(st != NULL && req != NULL && res != NULL);
  if (sl_http_headers_sent(res)) return SL_EBUSY;
  const char* m = sl_http_method(req);
  if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
    int rc = sl_http_set_header(res, "Allow", "GET, HEAD");
    return rc != 0 ? rc : answer(res, 405);
  }
  char rel[SL__STATIC_MAX_PATH + 1];
  int slash, fd, own;
  int status = sl__static_resolve(sl_http_url(req), rel, sizeof rel, &slash);
  if (status == 0 && st->dotfiles != SL_DOTFILES_ALLOW && has_dot_segment(rel))
    status = st->dotfiles == SL_DOTFILES_DENY ? 403 : 404;
  struct stat sb;
  if (status == 0) status = open_cached(st, rel, &fd, &sb, &own);
  if (status != 0) return answer(res, status);
  if (S_ISDIR(sb.st_mode)) {
    SL_ASSERT(own); /* directories are never cached */
    return serve_dir(st, req, res, fd, rel, slash);
  }
  if (slash) { /* "/file.txt/": not a directory */
    put_fd(fd, own);
    return answer(res, 404);
  }
  return serve_file(st, req, res, fd, own, &sb, rel);
}

/* --- lifetime ----------------------------------------------------------- */

sl_static_t* sl_static_new(const sl_static_opts_t* o, int* err) {
  SL_ASSERT(o != NULL && o->root != NULL);
  char real[PATH_MAX];
  int e = 0, fd = -1;
  if (realpath(o->root, real) == NULL)
    e = -errno;
  else if ((fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    e = -errno;
  sl_static_t* st = e ? NULL : sl__calloc(1, sizeof *st);
  if (e == 0 && st == NULL) e = SL_ENOMEM;
  if (st != NULL) {
    st->root_fd = fd;
    st->root = sl__strdup(real);
    st->index = sl__strdup(o->index ? o->index : "index.html");
    st->root_len = strlen(real);
    st->no_gzip = o->no_gzip != 0;
    st->no_listing = o->no_listing != 0;
    st->dotfiles = o->dotfiles;
    if (st->root == NULL || st->index == NULL) {
      sl_static_free(st);
      st = NULL;
      e = SL_ENOMEM;
    }
  } else if (fd >= 0) {
    close(fd);
  }
  if (err != NULL) *err = e;
  return st;
}

void sl_static_free(sl_static_t* st) {
  if (st == NULL) return;
  for (size_t i = 0; i < STATIC_CACHE_SLOTS; i++) cache_drop(&st->cache[i]);
  if (st->root_fd >= 0) close(st->root_fd);
  sl__free(st->root);
  sl__free(st->index);
  sl__free(st);
}
