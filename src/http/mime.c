/* Content types by file extension for the static file server: one sorted
 * table searched with bsearch(), case-insensitively. Each entry says whether
 * the type is worth compressing on the fly (text, JSON, SVG, WebAssembly,
 * uncompressed fonts); media, archives and already-compressed formats are
 * not. Text types carry "; charset=utf-8" as Node's `mime` and nginx's
 * charset module would. Unknown extensions are application/octet-stream. */
#include "http/http_int.h"

#include <strings.h>

typedef struct {
  const char* ext;
  const char* type;
  int compressible;
} mime_t;

#define UTF8 "; charset=utf-8"

/* Sorted by extension (strcasecmp order: all lower case here). */
static const mime_t mime_table[] = {
    {"7z", "application/x-7z-compressed", 0},
    {"aac", "audio/aac", 0},
    {"avif", "image/avif", 0},
    {"bmp", "image/bmp", 1},
    {"bz2", "application/x-bzip2", 0},
    {"c", "text/plain" UTF8, 1},
    {"cjs", "text/javascript" UTF8, 1},
    {"css", "text/css" UTF8, 1},
    {"csv", "text/csv" UTF8, 1},
    {"eot", "application/vnd.ms-fontobject", 1},
    {"flac", "audio/flac", 0},
    {"gif", "image/gif", 0},
    {"gz", "application/gzip", 0},
    {"h", "text/plain" UTF8, 1},
    {"htm", "text/html" UTF8, 1},
    {"html", "text/html" UTF8, 1},
    {"ico", "image/x-icon", 1},
    {"ics", "text/calendar" UTF8, 1},
    {"jpeg", "image/jpeg", 0},
    {"jpg", "image/jpeg", 0},
    {"js", "text/javascript" UTF8, 1},
    {"json", "application/json", 1},
    {"jsonld", "application/ld+json", 1},
    {"log", "text/plain" UTF8, 1},
    {"m3u8", "application/vnd.apple.mpegurl", 1},
    {"m4a", "audio/mp4", 0},
    {"m4v", "video/mp4", 0},
    {"map", "application/json", 1},
    {"md", "text/markdown" UTF8, 1},
    {"mjs", "text/javascript" UTF8, 1},
    {"mkv", "video/x-matroska", 0},
    {"mov", "video/quicktime", 0},
    {"mp3", "audio/mpeg", 0},
    {"mp4", "video/mp4", 0},
    {"mpd", "application/dash+xml", 1},
    {"oga", "audio/ogg", 0},
    {"ogg", "audio/ogg", 0},
    {"ogv", "video/ogg", 0},
    {"opus", "audio/ogg", 0},
    {"otf", "font/otf", 1},
    {"pdf", "application/pdf", 0},
    {"png", "image/png", 0},
    {"rss", "application/rss+xml", 1},
    {"sh", "text/plain" UTF8, 1},
    {"svg", "image/svg+xml", 1},
    {"tar", "application/x-tar", 1},
    {"tif", "image/tiff", 0},
    {"tiff", "image/tiff", 0},
    {"ttf", "font/ttf", 1},
    {"txt", "text/plain" UTF8, 1},
    {"wasm", "application/wasm", 1},
    {"wav", "audio/wav", 0},
    {"weba", "audio/webm", 0},
    {"webm", "video/webm", 0},
    {"webmanifest", "application/manifest+json", 1},
    {"webp", "image/webp", 0},
    {"woff", "font/woff", 0},
    {"woff2", "font/woff2", 0},
    {"xhtml", "application/xhtml+xml", 1},
    {"xml", "application/xml", 1},
    {"xz", "application/x-xz", 0},
    {"yaml", "text/yaml" UTF8, 1},
    {"yml", "text/yaml" UTF8, 1},
    {"zip", "application/zip", 0},
    {"zst", "application/zstd", 0},
};

static int mime_cmp(const void* key, const void* elem) {
  return strcasecmp(key, ((const mime_t*)elem)->ext);
}

/* The extension of the last path segment: after its last dot, if that dot
 * is neither its first nor its last character (".bashrc" has none). */
static const char* extension(const char* path) {
  const char* base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char* dot = strrchr(base, '.');
  if (dot == NULL || dot == base || dot[1] == '\0') return NULL;
  return dot + 1;
}

const char* sl__mime_type(const char* path, int* compressible) {
  const char* ext = extension(path);
  const mime_t* m = NULL;
  if (ext != NULL && strlen(ext) < 16)
    m = bsearch(ext, mime_table, sizeof mime_table / sizeof mime_table[0],
                sizeof mime_table[0], mime_cmp);
  if (compressible != NULL) *compressible = m ? m->compressible : 0;
  return m ? m->type : "application/octet-stream";
}
