/* The library's version and those of the libraries it stands on. It sits
 * above the layers, since it names what each of them links. */
#include <isa-l.h>
#include <libdeflate.h>
#include <llhttp.h>
#include <stdio.h>
#include <uv.h>
#include <zlib.h>

#include "sluice.h"

#define SL__STR_(x) #x
#define SL__STR(x)  SL__STR_(x)

unsigned sl_version(void) {
  return (SL_VERSION_MAJOR << 16) | (SL_VERSION_MINOR << 8) | SL_VERSION_PATCH;
}

const char* sl_version_string(void) {
  return SL__STR(SL_VERSION_MAJOR) "." SL__STR(SL_VERSION_MINOR) "." SL__STR(
      SL_VERSION_PATCH);
}

const char* sl_version_deps(void) {
  static char buf[128];
  if (buf[0] == '\0')
    snprintf(
        buf, sizeof buf,
        "libuv %s, zlib %s, libdeflate %s, isa-l %d.%d.%d, llhttp %d.%d.%d",
        uv_version_string(), zlibVersion(), LIBDEFLATE_VERSION_STRING,
        ISAL_MAJOR_VERSION, ISAL_MINOR_VERSION, ISAL_PATCH_VERSION,
        LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
  return buf;
}
