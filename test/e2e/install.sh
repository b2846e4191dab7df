#!/usr/bin/env bash
# Installed as a packager installs it: `cmake --install` into a temporary
# prefix puts the header, libsluice.a (hidden symbols local: no llhttp or
# sl__ internals for a program to clash with), libsluice.so.0 with its
# soname, the CLI with its demo site, the man page, sluice.pc and the CMake
# package. A small program is then built four ways: pkg-config (shared and
# --static), find_package(sluice), and add_subdirectory() of the source
# tree; each runs. The README's C example compiles with -Wall -Werror as C
# and as C++. Skipped under sanitizers (the consumers would need them too).
. "$(dirname "$0")/lib.bash"
if grep -q '^SLUICE_SANITIZE:BOOL=ON' "$SL_BUILD/CMakeCache.txt"; then
  skip_all "a sanitizer build (consumers would need -fsanitize)"
fi
P="$T/prefix"
cmake --install "$SL_BUILD" --prefix "$P" > "$T/install.log"
check "installs the header and its layer headers" \
  [ -f "$P/include/sluice.h" -a -f "$P/include/sluice/core.h" -a -f "$P/include/sluice/cluster.h" ]
check "installs libsluice.a" [ -f "$P/lib/libsluice.a" ]
so=$(ls "$P"/lib/libsluice.so.0.* 2>/dev/null | head -1)
check "installs libsluice.so.0.x" [ -n "$so" ]
check "the shared library's soname is libsluice.so.0" \
  bash -c "objdump -p '$so' | grep -q 'SONAME *libsluice.so.0$'"
check "installs the CLI" [ -x "$P/bin/sluice" ]
check "installs the demo site" [ -f "$P/share/sluice/site/index.html" ]
check "installs the man page" [ -f "$P/share/man/man1/sluice.1" ]
check "installs sluice.pc" [ -f "$P/lib/pkgconfig/sluice.pc" ]
check "installs the CMake package" [ -f "$P/lib/cmake/sluice/sluiceConfig.cmake" ]
check "installs the licence" [ -f "$P/share/doc/sluice/LICENSE" ]
check "the man page renders" bash -c "man -l '$P/share/man/man1/sluice.1' 2>/dev/null | grep -q 'dotfiles' || grep -q 'dotfiles' '$P/share/man/man1/sluice.1'"
check "installs the API reference (HTML and sluice(3))" \
  [ -f "$P/share/doc/sluice/sluice-api.html" -a -f "$P/share/man/man3/sluice.3" ]
missing=""
public=$(grep -hoE '^SL_EXTERN[^(]*\bsl_[a-z0-9_]+\(' "$SL_SRC"/include/sluice.h "$SL_SRC"/include/sluice/*.h | grep -oE 'sl_[a-z0-9_]+\($' | tr -d '(')
check "the headers declare the public functions ($(wc -w <<<"$public") found)" [ "$(wc -w <<<"$public")" -gt 150 ]
for f in $public; do
  grep -q "id=\"$f\"" "$P/share/doc/sluice/sluice-api.html" || missing="$missing $f"
  grep -q "$f(" "$P/share/man/man3/sluice.3" || missing="$missing $f(3)"
done
check "the API reference documents every public function ($missing)" [ -z "$missing" ]
globals=$(nm -g --defined-only "$P/lib/libsluice.a" | awk 'NF==3 {print $3}')
check "libsluice.a defines only public sl_ symbols" \
  bash -c '! grep -v "^sl_" <<<"$0" | grep -q .' "$globals"
check "libsluice.a exports no llhttp symbol" bash -c '! grep -q llhttp <<<"$0"' "$globals"
check "libsluice.so exports no llhttp or sl__ symbol" \
  bash -c "! nm -D --defined-only '$so' | awk '{print \$3}' | grep -qE '^(llhttp|sl__)'"

# The installed CLI finds its demo site relative to its prefix.
out=$(cd / && env -u SLUICE_SITE "$P/bin/sluice" --version)
check "--version names sluice and its libraries" \
  grep -qE '^sluice [0-9]+\.[0-9]+\.[0-9]+ \(libuv [0-9.]+, zlib [0-9.]+, libdeflate [0-9.]+, isa-l [0-9.]+, llhttp [0-9.]+\)$' <<<"$out"

# A consumer that has its own llhttp_init: the static library must not
# clash with it.
mkdir -p "$T/app"
cat > "$T/app/app.c" <<'C'
#include <sluice.h>
#include <stdio.h>
#include <string.h>
int llhttp_init(void);
int llhttp_init(void) { return 42; } /* the program's own */
static void done(int err, const sl_pipeline_result_t* pr, void* arg) {
  (void)arg;
  printf("%s %s\n", err ? pr->message : "ok", sl_version_string());
}
int main(int argc, char** argv) {
  sl_init(argc, argv);
  if (llhttp_init() != 42) return 3;
  sl_pipeline(done, NULL, sl_file_reader(argv[1], NULL), sl_gzip(NULL),
              sl_file_writer(argv[2], NULL));
  return sl_run();
}
C
head -c 100000 /dev/urandom | base64 > "$T/in.txt"
runs() { # runs BINARY: it gzips in.txt and gunzip gives it back
  rm -f "$T/out.gz"
  LD_LIBRARY_PATH="$P/lib" "$1" "$T/in.txt" "$T/out.gz" > "$T/run.out" 2>&1 &&
    grep -q "^ok " "$T/run.out" && gunzip -c "$T/out.gz" | cmp -s - "$T/in.txt"
}
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
check "pkg-config --modversion" [ "$(pkg-config --modversion sluice)" = "$("$P/bin/sluice" --version | cut -d' ' -f2)" ]
cc -Wall -Werror -o "$T/app-shared" "$T/app/app.c" $(pkg-config --cflags --libs sluice)
check "pkg-config, shared: builds and runs" runs "$T/app-shared"
check "pkg-config, shared: linked to libsluice.so.0" \
  bash -c "LD_LIBRARY_PATH='$P/lib' ldd '$T/app-shared' | grep -q 'libsluice.so.0 => $P/lib'"
# --static: libsluice.a itself (-lsluice between -Bstatic and -Bdynamic),
# with what its Requires.private and Libs.private name (Debian ships libuv
# as a shared library; libuv-static.pc is there for a fully static link).
static_libs=$(pkg-config --static --libs sluice | sed 's/-lsluice/-Wl,-Bstatic -lsluice -Wl,-Bdynamic/')
cc -Wall -Werror -o "$T/app-static" "$T/app/app.c" $(pkg-config --cflags sluice) $static_libs
check "pkg-config --static: builds and runs" runs "$T/app-static"
check "pkg-config --static: no libsluice.so needed" \
  bash -c "! ldd '$T/app-static' | grep -q libsluice"

# find_package(sluice)
mkdir -p "$T/fp"
cat > "$T/fp/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.22)
project(app C)
find_package(sluice 0.1 REQUIRED)
add_executable(app $T/app/app.c)
target_link_libraries(app PRIVATE sluice::sluice)
CM
(cmake -S "$T/fp" -B "$T/fp/build" -DCMAKE_PREFIX_PATH="$P" > "$T/fp.log" 2>&1 &&
 cmake --build "$T/fp/build" >> "$T/fp.log" 2>&1) || cat "$T/fp.log"
check "find_package(sluice): builds and runs" runs "$T/fp/build/app"

# add_subdirectory() of the source tree: no tests, examples or CLI built.
mkdir -p "$T/sub"
cat > "$T/sub/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.22)
project(app C)
add_subdirectory($SL_SRC sluice)
add_executable(app $T/app/app.c)
target_link_libraries(app PRIVATE sluice::sluice)
CM
(cmake -S "$T/sub" -B "$T/sub/build" -G Ninja > "$T/sub.log" 2>&1 &&
 cmake --build "$T/sub/build" --target app >> "$T/sub.log" 2>&1) || cat "$T/sub.log"
check "add_subdirectory(): builds and runs" runs "$T/sub/build/app"
check "add_subdirectory(): no test target" \
  bash -c "! cmake --build '$T/sub/build' --target help | grep -q sluice_tests"

# The README's example, as a newcomer pastes it.
awk '/^```c$/ {on=1; next} /^```$/ {if (on) exit} on' "$SL_SRC/README.md" > "$T/readme.c"
check "README example: found" grep -q "sl_pipeline" "$T/readme.c"
check "README example: gcc -Wall -Werror" \
  cc -Wall -Werror -c -o /dev/null "$T/readme.c" -I"$P/include"
cp "$T/readme.c" "$T/readme.cc"
check "README example: g++ -Wall -Werror (as C++)" \
  g++ -Wall -Werror -c -o /dev/null "$T/readme.cc" -I"$P/include"
done_tests
