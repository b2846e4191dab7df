/* File streams (src/stream/fs.c): reads and writes with Node's semantics,
 * ranges, flags, descriptors given by the caller, Node-style errors, and the
 * descriptor lifecycle (close-on-exec, closed exactly once, nothing leaked:
 * the runner checks). */
#define _GNU_SOURCE /* pipe2, splice */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

/* fs.c counts the write requests it issues. */
extern uint64_t sl__fs_write_calls;

/* Events of one stream, in order, as letters: d(ata) e(nd) E(rror)
 * c(lose) f(inish) w(rite callback). */
typedef struct {
  char log[64];
  size_t nlog;
  char* data;
  size_t len, cap, nchunks, max_chunk;
  int err;
  char msg[512];
} rec_t;

/* Consecutive data events log as one 'd'. */
static void rec_add(rec_t* r, char c) {
  int repeat = c == 'd' && r->nlog > 0 && r->log[r->nlog - 1] == 'd';
  if (!repeat && r->nlog + 1 < sizeof r->log) r->log[r->nlog++] = c;
}

static void on_rec(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  rec_t* r = arg;
  switch (ev->type) {
    case SL_EV_DATA: {
      size_t n = sl_chunk_len(ev->chunk);
      if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2;
        r->data = realloc(r->data, r->cap);
      }
      memcpy(r->data + r->len, sl_chunk_data(ev->chunk), n);
      r->len += n;
      r->nchunks++;
      if (n > r->max_chunk) r->max_chunk = n;
      rec_add(r, 'd');
      break;
    }
    case SL_EV_END:
      rec_add(r, 'e');
      break;
    case SL_EV_FINISH:
      rec_add(r, 'f');
      break;
    case SL_EV_CLOSE:
      rec_add(r, 'c');
      break;
    case SL_EV_ERROR:
      r->err = ev->err;
      snprintf(r->msg, sizeof r->msg, "%s", ev->message ? ev->message : "");
      rec_add(r, 'E');
      break;
    default:
      break;
  }
}

static void listen_all(sl_stream_t* s, rec_t* r) {
  sl_stream_on(s, SL_EV_DATA, on_rec, r);
  sl_stream_on(s, SL_EV_END, on_rec, r);
  sl_stream_on(s, SL_EV_FINISH, on_rec, r);
  sl_stream_on(s, SL_EV_ERROR, on_rec, r);
  sl_stream_on(s, SL_EV_CLOSE, on_rec, r);
}

static void listen_no_data(sl_stream_t* s, rec_t* r) {
  sl_stream_on(s, SL_EV_FINISH, on_rec, r);
  sl_stream_on(s, SL_EV_ERROR, on_rec, r);
  sl_stream_on(s, SL_EV_CLOSE, on_rec, r);
}

TEST(fs_read_whole_file) {
  char* want = sl_test_make_file("in.bin", 300000, 1);
  sl_stream_t* s = sl_stream_ref(sl_file_reader(sl_test_path("in.bin"), NULL));
  rec_t r = {0};
  listen_all(s, &r);
  sl_run();
  ASSERT_STR_EQ(r.log, "dec");
  ASSERT_EQ(r.len, 300000);
  ASSERT_MEM_EQ(r.data, want, r.len);
  ASSERT_EQ(r.max_chunk, 64 * 1024); /* the default mark sizes the reads */
  sl_stream_stats_t st;
  sl_stream_stats(s, &st);
  ASSERT_EQ(st.bytes_read, 300000);
  ASSERT_LE(st.max_buffered, 64 * 1024);
  sl_stream_unref(s);
  free(want);
  free(r.data);
}

TEST(fs_read_range_and_mark) {
  char* want = sl_test_make_file("in.bin", 100000, 2);
  sl_file_opts_t o = {.start = 1234, .end = 98765, .high_water_mark = 1000};
  sl_stream_t* s = sl_file_reader(sl_test_path("in.bin"), &o);
  rec_t r = {0};
  listen_all(s, &r);
  sl_run();
  ASSERT_STR_EQ(r.log, "dec");
  ASSERT_EQ(r.len, 98765 - 1234);
  ASSERT_MEM_EQ(r.data, want + 1234, r.len);
  ASSERT_LE(r.max_chunk, 1000);
  /* start past the end of the file, and an empty range: no data. */
  rec_t r2 = {0}, r3 = {0};
  sl_file_opts_t past = {.start = 200000};
  sl_file_opts_t none = {.start = 10, .end = 10};
  listen_all(sl_file_reader(sl_test_path("in.bin"), &past), &r2);
  listen_all(sl_file_reader(sl_test_path("in.bin"), &none), &r3);
  sl_run();
  ASSERT_STR_EQ(r2.log, "ec");
  ASSERT_STR_EQ(r3.log, "ec");
  free(want);
  free(r.data);
}

TEST(fs_read_empty_file) {
  sl_test_write_file(sl_test_path("empty"), "", 0);
  rec_t r = {0};
  listen_all(sl_file_reader(sl_test_path("empty"), NULL), &r);
  sl_run();
  ASSERT_STR_EQ(r.log, "ec");
  ASSERT_EQ(r.len, 0);
}

TEST(fs_read_missing_file) {
  const char* path = sl_test_path("missing.txt");
  rec_t r = {0};
  sl_stream_t* s = sl_file_reader(path, NULL);
  ASSERT(s != NULL);
  listen_all(s, &r);
  sl_run();
  ASSERT_STR_EQ(r.log, "Ec");
  ASSERT_EQ(r.err, SL_ENOENT);
  char want[600];
  snprintf(want, sizeof want, "ENOENT: no such file or directory, open '%s'",
           path);
  ASSERT_STR_EQ(r.msg, want);
}

TEST(fs_read_directory_is_eisdir) {
  rec_t r = {0};
  listen_all(sl_file_reader(sl_test_tmpdir(), NULL), &r);
  sl_run();
  ASSERT_STR_EQ(r.log, "Ec");
  ASSERT_EQ(r.err, SL_EISDIR);
  ASSERT(strstr(r.msg, "EISDIR: illegal operation on a directory") != NULL);
  ASSERT(strstr(r.msg, sl_test_tmpdir()) != NULL);
}

/* --- writer ------------------------------------------------------------- */

static int nwrite_cb, write_cb_err;
static void on_write(sl_stream_t* s, int err, void* arg) {
  nwrite_cb++;
  if (err != 0) write_cb_err = err;
  if (arg != NULL) rec_add(arg, 'w');
}

TEST(fs_write_file) {
  const char* path = sl_test_path("out.txt");
  sl_stream_t* w = sl_stream_ref(sl_file_writer(path, NULL));
  rec_t r = {0};
  listen_no_data(w, &r);
  ASSERT_EQ(sl_stream_write_bytes(w, "hello ", 6, on_write, NULL), 1);
  ASSERT_EQ(sl_stream_write_str(w, "world"), 1);
  ASSERT_EQ(sl_stream_end_str(w, "!\n"), 0);
  sl_run();
  ASSERT_STR_EQ(r.log, "fc");
  ASSERT_EQ(nwrite_cb, 1);
  size_t n;
  char* got = sl_test_read_file(path, &n);
  ASSERT_STR_EQ(got, "hello world!\n");
  struct stat st;
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0666 & ~umask(022)); /* default mode 0666 */
  sl_stream_stats_t ss;
  sl_stream_stats(w, &ss);
  ASSERT_EQ(ss.bytes_written, 13);
  sl_stream_unref(w);
  free(got);
}

TEST(fs_write_batches_with_writev) {
  const char* path = sl_test_path("out.txt");
  sl_stream_t* w = sl_file_writer(path, NULL);
  rec_t r = {0};
  listen_no_data(w, &r);
  /* 2000 small writes queued while the open is in flight. */
  for (int i = 0; i < 2000; i++) {
    char line[16];
    int n = snprintf(line, sizeof line, "%05d\n", i);
    ASSERT(sl_stream_write_bytes(w, line, (size_t)n, on_write, NULL) >= 0);
  }
  sl_stream_end(w, NULL, NULL, NULL);
  uint64_t before = sl__fs_write_calls;
  sl_run();
  ASSERT_STR_EQ(r.log, "fc");
  ASSERT_EQ(nwrite_cb, 2000);
  ASSERT_EQ(write_cb_err, 0);
  uint64_t calls = sl__fs_write_calls - before;
  ASSERT_LE(calls, 2000 / 64 + 1); /* batches of up to 64 chunks */
  size_t n;
  char* got = sl_test_read_file(path, &n);
  ASSERT_EQ(n, 2000 * 6);
  for (int i = 0; i < 2000; i++) {
    char line[16];
    snprintf(line, sizeof line, "%05d\n", i);
    ASSERT_MEM_EQ(got + i * 6, line, 6);
  }
  free(got);
}

TEST(fs_write_flags_start_and_append) {
  const char* path = sl_test_path("f.txt");
  sl_test_write_file(path, "0123456789", 10);
  /* Patch in place: no O_TRUNC, start at 3. */
  sl_file_opts_t patch = {.flags = O_WRONLY, .start = 3};
  sl_stream_t* w = sl_file_writer(path, &patch);
  sl_stream_end_str(w, "abc");
  sl_run();
  size_t n;
  char* got = sl_test_read_file(path, &n);
  ASSERT_STR_EQ(got, "012abc6789");
  free(got);
  sl_file_opts_t app = {.flags = O_WRONLY | O_APPEND, .start = 3};
  w = sl_file_writer(path, &app);
  sl_stream_write_str(w, "XY");
  sl_stream_end_str(w, "Z");
  sl_run();
  got = sl_test_read_file(path, &n);
  ASSERT_STR_EQ(got, "012abc6789XYZ");
  free(got);
  sl_file_opts_t excl = {.flags = O_WRONLY | O_CREAT | O_EXCL, .mode = 0600};
  rec_t r = {0};
  listen_no_data(sl_file_writer(path, &excl), &r);
  sl_run();
  ASSERT_EQ(r.err, SL_EEXIST);
  ASSERT(strstr(r.msg, "EEXIST: file already exists, open '") != NULL);
}

TEST(fs_write_dev_full_is_enospc) {
  sl_stream_t* w = sl_file_writer("/dev/full", NULL);
  rec_t r = {0};
  listen_no_data(w, &r);
  sl_stream_write_bytes(w, "x", 1, on_write, &r);
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  /* The write's callback gets the error, then error, then close. */
  ASSERT_STR_EQ(r.log, "wEc");
  ASSERT_EQ(write_cb_err, SL_ENOSPC);
  ASSERT_EQ(r.err, SL_ENOSPC);
  ASSERT_STR_EQ(r.msg, "ENOSPC: no space left on device, write '/dev/full'");
}

TEST(fs_write_unwritable_path) {
  const char* path = sl_test_path("no/such/dir/out");
  rec_t r = {0};
  sl_stream_t* w = sl_file_writer(path, NULL);
  listen_no_data(w, &r);
  sl_stream_write_str(w, "data");
  sl_stream_end(w, NULL, NULL, NULL);
  sl_run();
  ASSERT_STR_EQ(r.log, "Ec"); /* never a finish */
  ASSERT_EQ(r.err, SL_ENOENT);
  char want[600];
  snprintf(want, sizeof want, "ENOENT: no such file or directory, open '%s'",
           path);
  ASSERT_STR_EQ(r.msg, want);
  if (geteuid() != 0) { /* root ignores permission bits */
    const char* dir = sl_test_path("ro");
    ASSERT_EQ(mkdir(dir, 0555), 0);
    rec_t r2 = {0};
    listen_no_data(sl_file_writer(sl_test_path("ro/x"), NULL), &r2);
    sl_run();
    ASSERT_EQ(r2.err, SL_EACCES);
  }
}

TEST(fs_write_after_end) {
  const char* path = sl_test_path("out.txt");
  sl_stream_t* w = sl_file_writer(path, NULL);
  rec_t r = {0};
  listen_no_data(w, &r);
  sl_stream_write_str(w, "one");
  sl_stream_end(w, NULL, NULL, NULL);
  ASSERT_EQ(sl_stream_write_bytes(w, "two", 3, on_write, NULL),
            SL_EWRITEAFTEREND);
  ASSERT_EQ(sl_stream_end(w, NULL, NULL, NULL), SL_EWRITEAFTEREND);
  sl_run();
  ASSERT_EQ(nwrite_cb, 0);
  ASSERT_EQ(r.err, SL_EWRITEAFTEREND);
  ASSERT_EQ(r.log[r.nlog - 1], 'c');
  ASSERT(strchr(r.log, 'f') == NULL);
}

static void destroy_later(sl_timer_t* t, void* arg) {
  sl_stream_destroy(arg, SL_ECANCELED);
}

TEST(fs_destroy_during_pending_write) {
  const char* path = sl_test_path("big.bin");
  sl_stream_t* w = sl_file_writer(path, NULL);
  rec_t r = {0};
  listen_no_data(w, &r);
  sl_chunk_t* c = sl_chunk_new(32 << 20);
  memset(sl_chunk_data(c), 'x', 32 << 20);
  sl_stream_write(w, c, on_write, &r);
  sl_chunk_unref(c); /* the stream and the request keep theirs */
  sl_stream_write_bytes(w, "tail", 4, on_write, &r);
  sl_timer_start(1, 0, destroy_later, w);
  sl_run();
  /* Both writes fail (or the first completed before), then error, then
   * close; the file was closed by the destroy (the runner checks). */
  ASSERT_EQ(nwrite_cb, 2);
  ASSERT_EQ(r.err, SL_ECANCELED);
  ASSERT_STR_EQ(r.log, "wwEc");
  ASSERT_EQ(write_cb_err, SL_ECANCELED);
}

TEST(fs_destroy_before_open) {
  rec_t r = {0}, r2 = {0};
  sl_stream_t* w = sl_file_writer(sl_test_path("x"), NULL);
  sl_stream_t* rd = sl_file_reader("/etc/hostname", NULL);
  listen_no_data(w, &r);
  listen_all(rd, &r2);
  sl_stream_destroy(w, 0);
  sl_stream_destroy(rd, 0);
  sl_run();
  ASSERT_STR_EQ(r.log, "c");
  ASSERT_STR_EQ(r2.log, "c");
}

/* The descriptor a reader opened is close-on-exec. */
static int checked_cloexec;
static void check_cloexec(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  if (checked_cloexec) return;
  for (int fd = 3; fd < 1024; fd++) {
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (strcmp(target, (const char*)arg) == 0) {
      ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
      checked_cloexec++;
    }
  }
}

TEST(fs_descriptors_are_cloexec) {
  free(sl_test_make_file("in.bin", 1000, 3));
  char path[4096];
  ASSERT(realpath(sl_test_path("in.bin"), path) != NULL);
  sl_stream_t* s = sl_file_reader(path, NULL);
  sl_stream_on(s, SL_EV_DATA, check_cloexec, path);
  sl_run();
  ASSERT_EQ(checked_cloexec, 1);
}

TEST(fs_use_fd_pipe_and_keep_fd) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "through a pipe", 14), 14);
  /* The writer side: a stream over p[1] that keeps it open. */
  sl_file_opts_t wo = {.use_fd = 1, .fd = p[1], .keep_fd = 1};
  sl_stream_t* w = sl_file_writer(NULL, &wo);
  sl_stream_end_str(w, "!");
  sl_run();
  ASSERT_EQ(fcntl(p[1], F_GETFD) >= 0, 1); /* still open */
  close(p[1]);
  /* The reader takes p[0] and closes it at the end. */
  sl_file_opts_t ro = {.use_fd = 1, .fd = p[0]};
  rec_t r = {0};
  listen_all(sl_file_reader(NULL, &ro), &r);
  sl_run();
  ASSERT_STR_EQ(r.log, "dec");
  ASSERT_EQ(r.len, 15);
  ASSERT_MEM_EQ(r.data, "through a pipe!", 15);
  ASSERT_EQ(fcntl(p[0], F_GETFD), -1); /* closed by the stream */
  free(r.data);
}

/* Readers over dup()s of one descriptor share its file offset (the
 * static server's open-file cache hands out such copies). Each must read
 * the whole file by position and leave the offset where it stood; a reader
 * that moved it made the next start at the end and deliver nothing. */
TEST(fs_use_fd_shared_offset_reads_by_position) {
  char* want = sl_test_make_file("shared.bin", 200000, 7);
  int fd = open(sl_test_path("shared.bin"), O_RDONLY | O_CLOEXEC);
  ASSERT(fd >= 0);
  for (int round = 0; round < 2; round++) { /* one after another */
    sl_file_opts_t o = {.use_fd = 1, .fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)};
    rec_t r = {0};
    listen_all(sl_file_reader(NULL, &o), &r);
    sl_run();
    ASSERT_STR_EQ(r.log, "dec");
    ASSERT_EQ(r.len, 200000);
    ASSERT_MEM_EQ(r.data, want, r.len);
    ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0);
    free(r.data);
  }
  rec_t a = {0}, b = {0}; /* and two at once */
  sl_file_opts_t oa = {.use_fd = 1, .fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)};
  sl_file_opts_t ob = {.use_fd = 1, .fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)};
  listen_all(sl_file_reader(NULL, &oa), &a);
  listen_all(sl_file_reader(NULL, &ob), &b);
  sl_run();
  ASSERT_EQ(a.len, 200000);
  ASSERT_EQ(b.len, 200000);
  ASSERT_MEM_EQ(a.data, want, a.len);
  ASSERT_MEM_EQ(b.data, want, b.len);
  /* A descriptor the caller positioned is read from there on. */
  ASSERT_EQ(lseek(fd, 150000, SEEK_SET), 150000);
  sl_file_opts_t oc = {.use_fd = 1, .fd = fd};
  rec_t c = {0};
  listen_all(sl_file_reader(NULL, &oc), &c);
  sl_run();
  ASSERT_EQ(c.len, 50000);
  ASSERT_MEM_EQ(c.data, want + 150000, c.len);
  free(a.data), free(b.data), free(c.data), free(want);
}

/* --- chunks of 4 GiB and more --------------------------------------------- */

#include <pthread.h>
#include <sys/mman.h>

#define FS_HUGE (((size_t)4 << 30) + 3) /* past what 32 bits can count */

/* Drains a pipe into /dev/null on a thread, counting the bytes. */
typedef struct {
  int fd;
  uint64_t got;
} drain_t;

static void* drain_main(void* arg) {
  drain_t* d = arg;
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ssize_t n;
  while ((n = splice(d->fd, NULL, null, NULL, 1 << 20, 0)) > 0) d->got += n;
  close(null);
  return NULL;
}

static void unmap_huge(void* data, void* arg) {
  (void)arg;
  munmap(data, FS_HUGE);
}

/* A chunk of zeros that costs no memory: untouched anonymous pages. */
static sl_chunk_t* huge_chunk(void) {
  void* p = mmap(NULL, FS_HUGE, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT(p != MAP_FAILED);
  return sl_chunk_wrap(p, FS_HUGE, unmap_huge, NULL);
}

TEST(fs_write_chunk_over_4gib) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  drain_t d = {.fd = fds[0]};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, NULL, drain_main, &d), 0);
  sl_file_opts_t o = {.use_fd = 1, .fd = fds[1]};
  sl_stream_t* w = sl_file_writer(NULL, &o);
  sl_chunk_t* c = huge_chunk();
  sl_stream_end(w, c, NULL, NULL);
  sl_chunk_unref(c);
  sl_run(); /* the writer closes fds[1]: the thread sees EOF */
  pthread_join(t, NULL);
  close(fds[0]);
  ASSERT_EQ(d.got, FS_HUGE);
}
