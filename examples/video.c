/* Manual 5.3, system 1: a video processing platform. "HTTP server receives
 * uploads -> Stream; upload request handled by worker -> Cluster; video
 * frames processed in parallel -> Child Processes; output streamed back to
 * the user -> Transform Streams."
 *
 * Uploads: the workers take `POST /videos` (or PUT) and stream the body to
 * disk, and resumable uploads with the tus 1.0 core protocol (OPTIONS,
 * POST /files with Upload-Length, HEAD for the offset, PATCH at
 * Upload-Offset, 409 on a wrong one, 423 while another PATCH holds the
 * upload, DELETE: the termination extension), so a client whose connection
 * dropped goes on from the last byte on disk. Memory is bounded by the
 * streams' marks whatever the size. A finished upload is checked with
 * ffprobe (a child): not a video is a 422 that says what ffprobe saw, and
 * the file is dropped.
 *
 * Jobs run in the primary: a thumbnail, the audio once (AAC), and each
 * rendition (360p, 720p, at most the source's height) cut into --segment
 * second pieces, each piece encoded to H.264 by its own ffmpeg child. At
 * most --jobs children run at once (one per core by default), over every
 * job. The pieces are joined without re-encoding (ffmpeg's concat demuxer,
 * -c copy, +faststart) and packaged as HLS (copy). Progress comes from
 * each child's `-progress pipe:1`; the workers serve it as JSON and as
 * Server-Sent Events. Cancel (DELETE /api/videos/ID) or --job-timeout
 * SIGKILLs the job's process groups. A job is ready only when ffprobe
 * finds in each output the source's duration and frame count: an ffmpeg
 * that exits 0 having written nothing is caught here, not trusted.
 *
 * Streamed back: /videos/ID/360p.mp4 and the HLS playlists and segments
 * (Range, ETag: the static file server); /videos/ID/live.mp4, fragmented
 * MP4 (frag_keyframe+empty_moov) encoded while it is sent; and POST
 * /transcode, the Transform: the request body in, fragmented MP4 out in the
 * same exchange. Its input goes through a pipe into ffmpeg only when the
 * container can be read from a pipe (WebM/Matroska, MPEG-TS, an MP4 whose
 * moov comes before its mdat); otherwise (an MP4 with its index at the end)
 * it is spooled to a file first, since ffmpeg reading such a file from a
 * pipe exits having produced next to nothing.
 *
 * Usage: video [--port P] [--workers N] [--data DIR] [--jobs N]
 *              [--segment S] [--job-timeout S] [--max-upload BYTES]
 *              [--renditions 360,720] [--preset P] [--access-log FILE|-]
 *        (8080, CPUs, ./video-data, CPUs, 10, 3600, 8 GiB, 360,720,
 *         veryfast, none; "-" is stderr; the format is nginx's combined) */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sluice.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "video_page.h" /* video.html, embedded by CMake */

#define MAX_REND 4
#define ID_LEN   16

static struct {
  int port, workers, jobs, nrend, cpus;
  int rend[MAX_REND];
  const char* data;
  const char* preset;
  const char* access_log; /* a path, or "-": stderr */
  double segment;
  uint64_t job_timeout_ms;
  uint64_t max_upload;
} cfg = {.port = 8080,
         .data = "video-data",
         .preset = "veryfast",
         .segment = 10,
         .job_timeout_ms = 3600 * 1000,
         .max_upload = 8ull << 30,
         .nrend = 2,
         .rend = {360, 720}};

static void say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("video: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* DIR/<fmt>: a path under the data directory. */
static const char* dpath(char* out, size_t cap, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char* dpath(char* out, size_t cap, const char* fmt, ...) {
  int n = snprintf(out, cap, "%s/", cfg.data);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out + n, cap - (size_t)n, fmt, ap);
  va_end(ap);
  return out;
}

static int valid_id(const char* s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
      return 0;
  return n == ID_LEN;
}

static void new_id(char out[ID_LEN + 1]) {
  unsigned char r[ID_LEN / 2];
  if (getrandom(r, sizeof r, 0) != sizeof r) abort();
  for (int i = 0; i < ID_LEN / 2; i++) sprintf(out + 2 * i, "%02x", r[i]);
}

/* "/api/videos/<id>..." -> the id, copied; NULL when it is not one. */
static const char* path_id(const char* path, const char* prefix, char* id) {
  size_t n = strlen(prefix);
  if (strncmp(path, prefix, n) != 0) return NULL;
  snprintf(id, ID_LEN + 1, "%s", path + n);
  return valid_id(id) ? path + n + ID_LEN : NULL;
}

static void rm_tree(const char* dir) {
  DIR* d = opendir(dir);
  if (d == NULL) {
    unlink(dir);
    return;
  }
  struct dirent* e;
  char p[4096];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    rm_tree(p);
  }
  closedir(d);
  rmdir(dir);
}

/* --- ffprobe: what a file holds ------------------------------------------- */

typedef struct probe_s {
  double duration;
  int width, height, audio;
  int64_t frames; /* video packets: one per frame */
  char format[48], vcodec[24], acodec[24];
} probe_t;

/* ffprobe -of compact lines ("stream|codec_type=video|width=640|...",
 * "format|duration=10.0|..."). Returns NULL or what is missing. */
static const char* probe_parse(const char* text, probe_t* p) {
  memset(p, 0, sizeof *p);
  int video = 0;
  for (const char* l = text; *l;) {
    const char* e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l) : strlen(l);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)n, l);
    l += n + (e != NULL);
    int is_stream = strncmp(line, "stream|", 7) == 0;
    int is_video = is_stream && strstr(line, "|codec_type=video") != NULL;
    int is_audio = is_stream && strstr(line, "|codec_type=audio") != NULL;
    if (is_video && video++) continue; /* the first video stream counts */
    if (is_audio && p->audio++) continue;
    for (char *save, *f = strtok_r(line, "|", &save); f;
         f = strtok_r(NULL, "|", &save)) {
      char* v = strchr(f, '=');
      if (v == NULL) continue;
      *v++ = '\0';
      if (is_video && strcmp(f, "codec_name") == 0)
        snprintf(p->vcodec, sizeof p->vcodec, "%s", v);
      else if (is_audio && strcmp(f, "codec_name") == 0)
        snprintf(p->acodec, sizeof p->acodec, "%s", v);
      else if (is_video && strcmp(f, "width") == 0)
        p->width = atoi(v);
      else if (is_video && strcmp(f, "height") == 0)
        p->height = atoi(v);
      else if (is_video && strcmp(f, "nb_read_packets") == 0)
        p->frames = atoll(v);
      else if (!is_stream && strcmp(f, "duration") == 0)
        p->duration = atof(v);
      else if (!is_stream && strcmp(f, "format_name") == 0)
        snprintf(p->format, sizeof p->format, "%s", v);
    }
  }
  if (!video) return "no video stream";
  if (p->width <= 0 || p->height <= 0) return "no frame size";
  if (!(p->duration > 0)) return "no duration";
  if (p->frames <= 0) return "no frames";
  return NULL;
}

typedef void (*probe_cb)(int err, const char* why, const probe_t* p, void* arg);
typedef struct {
  probe_cb cb;
  void* arg;
  char file[4096];
} probing_t;

/* The last `n` lines of a child's stderr, joined with "; ", each without
 * a leading "<strip>: " (ffmpeg names the file it read: ours, not the
 * client's business). */
static void last_lines(const char* text, int n, const char* strip, char* out,
                       size_t cap) {
  size_t len = strlen(text), sl = strip ? strlen(strip) : 0, at = 0;
  while (len && text[len - 1] == '\n') len--;
  const char* from = text + len;
  for (int k = 0; k < n && from > text;) {
    from--;
    if (from > text && from[-1] == '\n') k++;
  }
  out[0] = '\0';
  while (from < text + len && at + 1 < cap) {
    size_t l = strcspn(from, "\n");
    if (l > (size_t)(text + len - from)) l = (size_t)(text + len - from);
    const char* p = from;
    if (sl && l > sl + 2 && memcmp(p, strip, sl) == 0 && p[sl] == ':')
      p += sl + 2;
    at += (size_t)snprintf(out + at, cap - at, "%s%.*s", at ? "; " : "",
                           (int)(from + l - p), p);
    from += l + 1;
  }
}

static void on_probed(int err, const sl_exec_result_t* r, void* arg) {
  probing_t pr = *(probing_t*)arg;
  free(arg);
  probe_t p;
  char why[512];
  if (err != 0) {
    /* ffprobe's own words: "moov atom not found; Invalid data found when
     * processing input" */
    char words[400];
    last_lines(r->err_len   ? r->err
               : r->message ? r->message
                            : "",
               2, pr.file, words, sizeof words);
    snprintf(why, sizeof why, "ffprobe could not read it: %s", words);
    pr.cb(err, why, NULL, pr.arg);
    return;
  }
  const char* miss = probe_parse(r->out, &p);
  if (miss != NULL) {
    snprintf(why, sizeof why, "not a video: ffprobe found %s in it (format %s)",
             miss, p.format[0] ? p.format : "unknown");
    pr.cb(SL_EINVAL, why, NULL, pr.arg);
    return;
  }
  pr.cb(0, NULL, &p, pr.arg);
}

/* Runs ffprobe on `file` (packets counted: every frame is read, none
 * decoded); cb from the loop. */
static int probe(const char* file, probe_cb cb, void* arg) {
  probing_t* pr = malloc(sizeof *pr);
  if (pr == NULL) return SL_ENOMEM;
  pr->cb = cb, pr->arg = arg;
  snprintf(pr->file, sizeof pr->file, "%s", file);
  const char* argv[] = {"ffprobe",
                        "-v",
                        "error",
                        "-count_packets",
                        "-show_entries",
                        "stream=codec_type,codec_name,width,height,nb_read_"
                        "packets:format=duration,format_name",
                        "-of",
                        "compact",
                        file,
                        NULL};
  sl_exec_opts_t o = {.spawn.timeout_ms = 120000, .max_buffer = 1 << 20};
  int rc = sl_exec_file("ffprobe", argv, &o, on_probed, pr);
  if (rc != 0) free(pr);
  return rc;
}

/* ======================================================================= */
/* The primary: jobs, and the ffmpeg children that do them.                */

enum { T_THUMB, T_AUDIO, T_SEGMENT, T_JOIN, T_HLS };
enum { P_ENCODE, P_JOIN, P_HLS, P_VERIFY, P_DONE };

typedef struct job_s job_t;
typedef struct task_s {
  job_t* job;
  int kind, rend, seg;
  double start, len, done; /* seconds of media: where, how long, how far */
  int index;               /* in job->tasks */
  sl_child_t* child;
  sl_stream_t* lines;  /* its stdout's lines (a reference held) */
  sl_buf_t err;        /* the child's stderr (its last 4 KiB) */
  struct task_s* next; /* the queue */
  char* argv[128];
  int argc;
} task_t;

struct job_s {
  char id[ID_LEN + 1];
  const char* state; /* queued transcoding joining packaging verifying
                        ready failed canceled */
  int phase, pending, running, peak;
  probe_t src;
  int nrend, rend[MAX_REND], nseg;
  probe_t out[MAX_REND];
  task_t** tasks; /* every task of the current phase */
  int ntasks;
  uint64_t t0, t_end;
  sl_timer_t* deadline;
  char error[600];
  double progress;
  uint64_t published_ms;
  struct verify_s {
    struct job_s* j;
    int r;
  } verify[MAX_REND];
  struct job_s* next;
};

static job_t* jobs;
static task_t *queue_head, *queue_tail;
static int running; /* children, over every job */

static void job_publish(job_t* j, int force);
static void sched_pump(void);

static job_t* job_find(const char* id) {
  for (job_t* j = jobs; j; j = j->next)
    if (strcmp(j->id, id) == 0) return j;
  return NULL;
}

static int job_over(const job_t* j) { return j->phase == P_DONE; }

static void task_arg(task_t* t, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void task_arg(task_t* t, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (t->argc < 127 && vasprintf(&t->argv[t->argc], fmt, ap) >= 0) t->argc++;
  va_end(ap);
}

static void task_args(task_t* t, const char* const* args) {
  for (; *args; args++) task_arg(t, "%s", *args);
}

static void on_task_progress(sl_stream_t* s, const sl_event_t* ev, void* arg);
static void task_free(task_t* t) {
  if (t->lines) {
    sl_stream_off(t->lines, SL_EV_DATA, on_task_progress, t);
    sl_stream_unref(t->lines);
  }
  for (int i = 0; i < t->argc; i++) free(t->argv[i]);
  sl_buf_free(&t->err);
  free(t);
}

static task_t* task_new(job_t* j, int kind, int rend) {
  task_t* t = calloc(1, sizeof *t);
  if (t == NULL) { /* as Redis's zmalloc does: no half-built job */
    fputs("video: out of memory\n", stderr);
    abort();
  }
  t->job = j, t->kind = kind, t->rend = rend;
  static const char* const head[] = {
      "ffmpeg",   "-nostdin",  "-hide_banner", "-v", "error",
      "-nostats", "-progress", "pipe:1",       "-y", NULL};
  task_args(t, head);
  return t;
}

/* Ends a job: its running children SIGKILLed (their whole groups), its
 * queued tasks dropped, its work files removed. */
static void job_end(job_t* j, const char* state, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_end(job_t* j, const char* state, const char* fmt, ...) {
  if (job_over(j)) return;
  j->phase = P_DONE;
  j->state = state;
  j->t_end = sl_now_ms();
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error, sizeof j->error, fmt, ap);
    va_end(ap);
  }
  if (j->deadline) sl_timer_stop(j->deadline), j->deadline = NULL;
  for (task_t **p = &queue_head, *t; (t = *p) != NULL;) {
    if (t->job == j) {
      *p = t->next; /* freed below, with the job's other tasks */
      j->pending--;
    } else {
      p = &t->next;
    }
  }
  queue_tail = NULL;
  for (task_t* t = queue_head; t; t = t->next) queue_tail = t;
  /* What runs is killed and freed when its exit comes; the rest now. */
  for (int i = 0; i < j->ntasks; i++) {
    task_t* t = j->tasks[i];
    if (t && t->child) {
      sl_child_kill_tree(t->child, SIGKILL);
    } else if (t) {
      task_free(t);
      j->tasks[i] = NULL;
    }
  }
  char p[4096];
  rm_tree(dpath(p, sizeof p, "videos/%s/work", j->id));
  if (strcmp(state, "ready") != 0) {
    say("job %s %s: %s", j->id, state, j->error);
  } else {
    say("job %s ready in %.2f s (%d children at most)", j->id,
        (double)(j->t_end - j->t0) / 1000, j->peak);
  }
  job_publish(j, 1);
}

static void job_phase(job_t* j);

static void task_exited(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  task_t* t = arg;
  job_t* j = t->job;
  t->child = NULL;
  running--;
  j->running--;
  if (job_over(j)) {
    j->tasks[t->index] = NULL;
    task_free(t);
  } else {
    if (ev->err != 0 || ev->exit_code != 0) {
      static const char* const what[] = {"thumbnail", "audio", "segment",
                                         "join", "HLS packaging"};
      char words[400], how[64];
      last_lines(t->err.len ? t->err.data : "", 2, NULL, words, sizeof words);
      if (ev->err)
        snprintf(how, sizeof how, "could not start");
      else if (ev->term_signal)
        snprintf(how, sizeof how, "was killed by signal %d", ev->term_signal);
      else
        snprintf(how, sizeof how, "exited with %d", ev->exit_code);
      char which[32] = "";
      if (t->kind == T_SEGMENT)
        snprintf(which, sizeof which, " %d of %d", t->seg + 1, j->nseg);
      else if (t->kind >= T_JOIN)
        snprintf(which, sizeof which, ", %dp", j->rend[t->rend]);
      job_end(j, "failed", "ffmpeg (%s%s) %s: %s", what[t->kind], which, how,
              ev->err ? ev->message : words);
    } else {
      t->done = t->len;
      if (--j->pending == 0) {
        j->phase++;
        job_phase(j);
      } else {
        job_publish(j, 0);
      }
    }
  }
  sched_pump();
}

/* A child's stderr, its last 4 KiB kept in the sl_buf_t `arg`: what an
 * error message quotes. */
static void keep_stderr(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  sl_buf_t* b = arg;
  sl_buf_append(b, sl_chunk_data(ev->chunk), sl_chunk_len(ev->chunk));
  if (b->len > 4096) sl_buf_consume(b, b->len - 4096);
}

/* -progress lines: "out_time_us=1234567", ..., "progress=continue". */
static void on_task_progress(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  task_t* t = arg;
  const char* l = sl_chunk_data(ev->chunk);
  size_t n = sl_chunk_len(ev->chunk);
  if (n > 12 && memcmp(l, "out_time_us=", 12) == 0 && l[12] != 'N') {
    double at = strtod(l + 12, NULL) / 1e6;
    if (at > t->len) at = t->len;
    if (at > t->done) t->done = at;
  } else if (n > 9 && memcmp(l, "progress=", 9) == 0 && !job_over(t->job)) {
    job_publish(t->job, 0);
  }
}

static void task_start(task_t* t) {
  job_t* j = t->job;
  t->argv[t->argc] = NULL;
  sl_spawn_opts_t o = {.stdio = {{SL_STDIO_IGNORE, 0}}};
  int rc = sl_spawn(t->argv[0], (const char* const*)t->argv, &o, &t->child);
  if (rc != 0) {
    job_end(j, "failed", "spawn ffmpeg: %s", sl_strerror(rc));
    return;
  }
  running++, j->running++;
  if (j->running > j->peak) j->peak = j->running;
  t->lines = sl_line_splitter(NULL);
  if (t->lines) {
    sl_stream_ref(t->lines);
    sl_stream_on(t->lines, SL_EV_DATA, on_task_progress, t);
    sl_stream_pipe(sl_child_stdout(t->child), t->lines, NULL);
  }
  sl_stream_on(sl_child_stderr(t->child), SL_EV_DATA, keep_stderr, &t->err);
  sl_child_wait(t->child, task_exited, t);
  if (strcmp(j->state, "queued") == 0) {
    j->state = "transcoding";
    job_publish(j, 1);
  }
}

static void sched_pump(void) {
  while (queue_head && running < cfg.jobs) {
    task_t* t = queue_head;
    queue_head = t->next;
    if (queue_head == NULL) queue_tail = NULL;
    task_start(t);
  }
}

static void enqueue(task_t* t) {
  job_t* j = t->job;
  t->argv[t->argc] = NULL;
  t->index = j->ntasks;
  j->tasks[j->ntasks++] = t;
  j->pending++;
  if (queue_tail)
    queue_tail->next = t;
  else
    queue_head = t;
  queue_tail = t;
}

/* The tasks of a phase replace the previous phase's (all finished). */
static void phase_reset(job_t* j, int n) {
  for (int i = 0; i < j->ntasks; i++) task_free(j->tasks[i]);
  free(j->tasks);
  j->tasks = calloc((size_t)n, sizeof *j->tasks);
  j->ntasks = 0;
}

static void verify_done(int err, const char* why, const probe_t* p, void* arg);

static void job_phase(job_t* j) {
  char src[4096], w[4096], o[4096];
  dpath(src, sizeof src, "videos/%s/source", j->id);
  dpath(w, sizeof w, "videos/%s/work", j->id);
  dpath(o, sizeof o, "videos/%s", j->id);
  if (j->phase == P_ENCODE) {
    phase_reset(j, 2 + j->nseg);
    if (j->tasks == NULL) return job_end(j, "failed", "out of memory");
    task_t* t = task_new(j, T_THUMB, 0);
    task_arg(t, "-ss"), task_arg(t, "%.3f", j->src.duration / 10);
    task_arg(t, "-i"), task_arg(t, "%s", src);
    task_arg(t, "-frames:v"), task_arg(t, "1");
    task_arg(t, "-vf"), task_arg(t, "scale=-2:180");
    task_arg(t, "%s/thumb.jpg", o);
    enqueue(t);
    if (j->src.audio) {
      t = task_new(j, T_AUDIO, 0);
      task_arg(t, "-i"), task_arg(t, "%s", src);
      static const char* const a[] = {"-map", "0:a:0", "-vn",  "-sn",
                                      "-c:a", "aac",   "-b:a", "128k",
                                      "-ac",  "2",     NULL};
      task_args(t, a);
      task_arg(t, "%s/audio.m4a", w);
      enqueue(t);
    }
    /* One child per segment, for every rendition at once: the source is
     * decoded once and split (a child per rendition would decode it
     * again for each). */
    for (int s = 0; s < j->nseg; s++) {
      t = task_new(j, T_SEGMENT, 0);
      t->seg = s;
      t->start = s * cfg.segment;
      t->len = fmin(cfg.segment, j->src.duration - t->start);
      task_arg(t, "-ss"), task_arg(t, "%.3f", t->start);
      if (s + 1 < j->nseg) task_arg(t, "-t"), task_arg(t, "%.3f", t->len);
      task_arg(t, "-i"), task_arg(t, "%s", src);
      sl_buf_t graph = {0};
      sl_buf_printf(&graph, "[0:v:0]split=%d", j->nrend);
      for (int r = 0; r < j->nrend; r++) sl_buf_printf(&graph, "[i%d]", r);
      for (int r = 0; r < j->nrend; r++)
        sl_buf_printf(&graph, ";[i%d]scale=-2:%d[o%d]", r, j->rend[r], r);
      task_arg(t, "-filter_complex"), task_arg(t, "%s", graph.data);
      sl_buf_free(&graph);
      for (int r = 0; r < j->nrend; r++) {
        task_arg(t, "-map"), task_arg(t, "[o%d]", r);
        static const char* const v[] = {"-an",
                                        "-sn",
                                        "-pix_fmt",
                                        "yuv420p",
                                        "-c:v",
                                        "libx264",
                                        "-crf",
                                        "23",
                                        "-force_key_frames",
                                        "expr:gte(t,n_forced*2)",
                                        NULL};
        task_args(t, v);
        task_arg(t, "-preset"), task_arg(t, "%s", cfg.preset);
        /* As many children as cores: one x264 thread each (its own
         * threads would only oversubscribe them); fewer: x264 spreads. */
        if (cfg.jobs >= cfg.cpus) task_arg(t, "-threads"), task_arg(t, "1");
        task_arg(t, "%s/%dp-%04d.mp4", w, j->rend[r], s);
      }
      enqueue(t);
    }
  } else if (j->phase == P_JOIN) {
    j->state = "joining";
    phase_reset(j, j->nrend);
    if (j->tasks == NULL) return job_end(j, "failed", "out of memory");
    for (int r = 0; r < j->nrend; r++) {
      char list[4096];
      dpath(list, sizeof list, "videos/%s/work/%dp.txt", j->id, j->rend[r]);
      FILE* f = fopen(list, "w");
      if (f == NULL)
        return job_end(j, "failed", "%s: %s", list, strerror(errno));
      for (int s = 0; s < j->nseg; s++)
        fprintf(f, "file '%dp-%04d.mp4'\n", j->rend[r], s);
      if (fclose(f) != 0)
        return job_end(j, "failed", "%s: %s", list, strerror(errno));
      task_t* t = task_new(j, T_JOIN, r);
      static const char* const c[] = {"-f", "concat", "-safe", "0", "-i", NULL};
      task_args(t, c);
      task_arg(t, "%s", list);
      if (j->src.audio) task_arg(t, "-i"), task_arg(t, "%s/audio.m4a", w);
      task_arg(t, "-map"), task_arg(t, "0:v");
      if (j->src.audio) task_arg(t, "-map"), task_arg(t, "1:a");
      static const char* const k[] = {"-c", "copy", "-movflags", "+faststart",
                                      NULL};
      task_args(t, k);
      task_arg(t, "%s/%dp.mp4", o, j->rend[r]);
      enqueue(t);
    }
  } else if (j->phase == P_HLS) {
    j->state = "packaging";
    phase_reset(j, j->nrend);
    if (j->tasks == NULL) return job_end(j, "failed", "out of memory");
    for (int r = 0; r < j->nrend; r++) {
      char d[4096];
      dpath(d, sizeof d, "videos/%s/hls", j->id);
      mkdir(d, 0755);
      dpath(d, sizeof d, "videos/%s/hls/%dp", j->id, j->rend[r]);
      mkdir(d, 0755);
      task_t* t = task_new(j, T_HLS, r);
      task_arg(t, "-i"), task_arg(t, "%s/%dp.mp4", o, j->rend[r]);
      static const char* const h[] = {
          "-c",  "copy", "-f", "hls", "-hls_time", "4", "-hls_playlist_type",
          "vod", NULL};
      task_args(t, h);
      task_arg(t, "-hls_segment_filename"), task_arg(t, "%s/s%%04d.ts", d);
      task_arg(t, "%s/index.m3u8", d);
      enqueue(t);
    }
  } else if (j->phase == P_VERIFY) {
    j->state = "verifying";
    phase_reset(j, 0);
    j->pending = j->nrend;
    for (int r = 0; r < j->nrend; r++) {
      char f[4096];
      dpath(f, sizeof f, "videos/%s/%dp.mp4", j->id, j->rend[r]);
      /* The job stays alive while probes run: P_DONE only in job_end. */
      j->verify[r] = (struct verify_s){j, r};
      int rc = probe(f, verify_done, &j->verify[r]);
      if (rc != 0) return job_end(j, "failed", "ffprobe: %s", sl_strerror(rc));
    }
  }
  job_publish(j, 1);
  sched_pump();
}

/* HLS master playlist, from the verified renditions. */
static int write_master(job_t* j) {
  char p[4096];
  FILE* f = fopen(dpath(p, sizeof p, "videos/%s/hls/master.m3u8", j->id), "w");
  if (f == NULL) return -1;
  fprintf(f, "#EXTM3U\n#EXT-X-VERSION:3\n");
  for (int r = 0; r < j->nrend; r++) {
    struct stat st;
    char m[4096];
    dpath(m, sizeof m, "videos/%s/%dp.mp4", j->id, j->rend[r]);
    double bits = stat(m, &st) == 0 ? (double)st.st_size * 8 : 0;
    fprintf(f,
            "#EXT-X-STREAM-INF:BANDWIDTH=%.0f,RESOLUTION=%dx%d\n"
            "%dp/index.m3u8\n",
            bits / j->src.duration * 1.2, j->out[r].width, j->out[r].height,
            j->rend[r]);
  }
  return fclose(f);
}

/* ffprobe of a rendition: H.264 at the rendition's height, the source's
 * frame count (a frame more or less at each cut is allowed) and duration
 * (within a frame at each cut, at least 0.1 s), AAC when the source has
 * audio. */
static void verify_done(int err, const char* why, const probe_t* p, void* arg) {
  struct verify_s* v = arg;
  job_t* j = v->j;
  int r = v->r;
  if (job_over(j)) return;
  double frame = j->src.duration / (double)j->src.frames;
  double tol = fmax(0.1, frame * j->nseg);
  if (err != 0) {
    job_end(j, "failed", "%dp.mp4: %s", j->rend[r], why);
    return;
  }
  j->out[r] = *p;
  if (strcmp(p->vcodec, "h264") != 0 || p->height != j->rend[r])
    return job_end(j, "failed", "%dp.mp4: %s %dx%d, not H.264 at %dp",
                   j->rend[r], p->vcodec, p->width, p->height, j->rend[r]);
  if (llabs(p->frames - j->src.frames) > j->nseg)
    return job_end(j, "failed",
                   "%dp.mp4: %" PRId64 " frames, the source has %" PRId64,
                   j->rend[r], p->frames, j->src.frames);
  if (fabs(p->duration - j->src.duration) > tol)
    return job_end(j, "failed", "%dp.mp4: %.3f s, the source has %.3f s",
                   j->rend[r], p->duration, j->src.duration);
  if (j->src.audio && strcmp(p->acodec, "aac") != 0)
    return job_end(j, "failed", "%dp.mp4: no AAC audio", j->rend[r]);
  if (--j->pending > 0) return;
  if (write_master(j) != 0)
    return job_end(j, "failed", "master.m3u8: %s", strerror(errno));
  j->progress = 1;
  job_end(j, "ready", NULL);
}

static void job_timed_out(sl_timer_t* t, void* arg) {
  job_t* j = arg;
  j->deadline = NULL;
  job_end(j, "failed", "timed out after %" PRIu64 " s (--job-timeout)",
          cfg.job_timeout_ms / 1000);
  sched_pump();
}

/* The job's status, as JSON: what GET /api/videos/ID answers. */
static int job_json(const job_t* j, sl_buf_t* b) {
  uint64_t end = j->t_end ? j->t_end : sl_now_ms();
  int rc = sl_buf_json(b,
                       "{\"id\":%s,\"state\":%s,\"progress\":%.4f,"
                       "\"duration\":%.3f,\"width\":%d,\"height\":%d,"
                       "\"frames\":%lld,\"segments\":%d,\"parallel\":%d,"
                       "\"elapsed_ms\":%llu,\"renditions\":[",
                       j->id, j->state, j->progress, j->src.duration,
                       j->src.width, j->src.height, (long long)j->src.frames,
                       j->nseg, j->peak, (unsigned long long)(end - j->t0));
  for (int r = 0; r < j->nrend && rc == 0; r++) {
    char mp4[64], hls[64];
    snprintf(mp4, sizeof mp4, "/videos/%s/%dp.mp4", j->id, j->rend[r]);
    snprintf(hls, sizeof hls, "/videos/%s/hls/%dp/index.m3u8", j->id,
             j->rend[r]);
    if (r) rc = sl_buf_append_str(b, ",");
    if (rc == 0)
      rc = sl_buf_json(b,
                       "{\"height\":%d,\"mp4\":%s,\"hls\":%s,\"frames\":%lld,"
                       "\"duration\":%.3f}",
                       j->rend[r], mp4, hls, (long long)j->out[r].frames,
                       j->out[r].duration);
  }
  char base[32];
  snprintf(base, sizeof base, "/videos/%s", j->id);
  if (rc == 0)
    rc = sl_buf_printf(b,
                       "],\"hls\":\"%s/hls/master.m3u8\",\"thumb\":\"%s/"
                       "thumb.jpg\",\"live\":\"%s/live.mp4\",\"error\":",
                       base, base, base);
  if (rc == 0)
    rc = sl_buf_json_str(b, j->error[0] ? j->error : NULL, strlen(j->error));
  if (rc == 0) rc = sl_buf_append_str(b, "}");
  return rc;
}

static void to_workers(const char* d, size_t n) {
  sl_worker_t* w[256];
  size_t k = sl_cluster_workers(w, 256);
  for (size_t i = 0; i < k && i < 256; i++)
    if (sl_worker_data(w[i]) != NULL) sl_worker_send(w[i], d, n);
}

/* {"status": "<the job's JSON>"} to every worker: on each change of state,
 * and for progress at most every 250 ms. */
static void job_publish(job_t* j, int force) {
  if (!job_over(j)) {
    double done = 0, total = j->src.duration;
    if (j->phase == P_ENCODE)
      for (int i = 0; i < j->ntasks; i++)
        if (j->tasks[i] && j->tasks[i]->kind == T_SEGMENT)
          done += j->tasks[i]->done;
    /* Encoding is 90% of the work; joining, packaging and checks the rest. */
    j->progress = j->phase == P_ENCODE ? 0.9 * done / total
                                       : 0.9 + 0.1 * (j->phase - 1) / 3.0;
  }
  uint64_t now = sl_now_ms();
  if (!force && now - j->published_ms < 250) return;
  j->published_ms = now;
  sl_buf_t s = {0}, m = {0};
  if (job_json(j, &s) == 0 && sl_buf_json(&m, "{\"status\":%s}", s.data) == 0)
    to_workers(m.data, m.len);
  sl_buf_free(&s);
  sl_buf_free(&m);
}

static void job_new(const char* id, const probe_t* p) {
  if (job_find(id)) return;
  job_t* j = calloc(1, sizeof *j);
  if (j == NULL) return;
  snprintf(j->id, sizeof j->id, "%s", id);
  j->src = *p;
  j->state = "queued";
  j->t0 = sl_now_ms();
  /* The renditions the source is tall enough for; a smaller source gets
   * one rendition at its own (even) height. */
  for (int r = 0; r < cfg.nrend; r++)
    if (cfg.rend[r] <= p->height) j->rend[j->nrend++] = cfg.rend[r];
  if (j->nrend == 0) j->rend[j->nrend++] = p->height & ~1;
  j->nseg = (int)ceil(p->duration / cfg.segment - 1e-6);
  if (j->nseg < 1) j->nseg = 1;
  j->next = jobs;
  jobs = j;
  char w[4096];
  mkdir(dpath(w, sizeof w, "videos/%s/work", id), 0755);
  j->deadline = sl_timer_start(cfg.job_timeout_ms, 0, job_timed_out, j);
  say("job %s: %dx%d %.2f s, %d renditions x %d segments", id, p->width,
      p->height, p->duration, j->nrend, j->nseg);
  job_phase(j);
}

static void on_worker_message(const sl_cluster_event_t* ev, void* arg) {
  const char* d = ev->msg->data;
  size_t n = ev->msg->len;
  char id[64];
  if (sl_json_get_string(d, n, "submit", id, sizeof id) == 0 && valid_id(id)) {
    probe_t p = {0};
    int64_t v;
    sl_json_get_number(d, n, "duration", &p.duration);
    if (sl_json_get_int(d, n, "width", &v) == 0) p.width = (int)v;
    if (sl_json_get_int(d, n, "height", &v) == 0) p.height = (int)v;
    if (sl_json_get_int(d, n, "audio", &v) == 0) p.audio = (int)v;
    if (sl_json_get_int(d, n, "frames", &v) == 0) p.frames = v;
    job_new(id, &p);
  } else if (sl_json_get_string(d, n, "cancel", id, sizeof id) == 0) {
    job_t* j = job_find(id);
    if (j) job_end(j, "canceled", "canceled by the client");
    sched_pump();
  }
}

static void on_worker_online(const sl_cluster_event_t* ev, void* arg) {
  sl_worker_set_data(ev->worker, (void*)1);
  for (job_t* j = jobs; j; j = j->next) {
    sl_buf_t s = {0}, m = {0};
    if (job_json(j, &s) == 0 && sl_buf_json(&m, "{\"status\":%s}", s.data) == 0)
      sl_worker_send(ev->worker, m.data, m.len);
    sl_buf_free(&s);
    sl_buf_free(&m);
  }
}

static int listening;
static void on_worker_listening(const sl_cluster_event_t* ev, void* arg) {
  if (++listening == cfg.workers)
    printf(
        "video: listening on http://127.0.0.1:%d/ (%d workers, %d ffmpeg "
        "children at most)\n",
        ev->port, cfg.workers, cfg.jobs);
  fflush(stdout);
}

static void on_stopped(void* arg) {
  say("stopped");
  exit(0);
}

static void on_signal(int sig, void* arg) {
  sl_signal_off(SIGINT, on_signal, NULL);
  sl_signal_off(SIGTERM, on_signal, NULL);
  for (job_t* j = jobs; j; j = j->next)
    job_end(j, "canceled", "the server stopped");
  sl_cluster_shutdown(on_stopped, NULL);
}

static int primary_main(void) {
  char p[4096];
  mkdir(cfg.data, 0755);
  mkdir(dpath(p, sizeof p, "videos"), 0755);
  mkdir(dpath(p, sizeof p, "uploads"), 0755);
  if (access(dpath(p, sizeof p, "videos"), W_OK) != 0) {
    fprintf(stderr, "video: %s: %s\n", p, strerror(errno));
    return 1;
  }
  sl_cluster_opts_t o = {.workers = cfg.workers, .shutdown_timeout_ms = 5000};
  sl_cluster_setup(&o);
  sl_cluster_stats_t st;
  sl_cluster_stats(&st);
  cfg.workers = (int)st.target;
  sl_cluster_on(SL_CLUSTER_ONLINE, on_worker_online, NULL);
  sl_cluster_on(SL_CLUSTER_LISTENING, on_worker_listening, NULL);
  sl_cluster_on(SL_CLUSTER_MESSAGE, on_worker_message, NULL);
  sl_signal_on(SIGINT, on_signal, NULL);
  sl_signal_on(SIGTERM, on_signal, NULL);
  if (sl_report(sl_cluster_start(&o), NULL)) return 1;
  return sl_run();
}

/* ======================================================================= */
/* A worker: uploads, status, events, media.                              */

/* The latest status of each job, as the primary sent it. */
typedef struct status_s {
  char id[ID_LEN + 1];
  sl_chunk_t* json;
  struct status_s* next;
} status_t;
static status_t* statuses;
typedef struct viewer_s {
  sl_stream_t* res;
  struct viewer_s *prev, *next;
} viewer_t;
static viewer_t* viewers;
static sl_static_t* media;

static status_t* status_find(const char* id) {
  for (status_t* s = statuses; s; s = s->next)
    if (strcmp(s->id, id) == 0) return s;
  return NULL;
}

static void on_primary(sl_channel_t* ch, const sl_child_event_t* ev,
                       void* arg) {
  static char text[1 << 16];
  char id[64];
  /* {"status": "<JSON text>"} */
  if (sl_json_get_string(ev->msg->data, ev->msg->len, "status", text,
                         sizeof text) != 0 ||
      sl_json_get_string(text, strlen(text), "id", id, sizeof id) != 0 ||
      !valid_id(id))
    return;
  status_t* s = status_find(id);
  if (s == NULL) {
    if ((s = calloc(1, sizeof *s)) == NULL) return;
    memcpy(s->id, id, ID_LEN);
    s->next = statuses;
    statuses = s;
  }
  sl_chunk_unref(s->json);
  s->json = sl_chunk_str(text);
  sl_chunk_t* e = sl_chunk_printf("event: job\ndata: %s\n\n", text);
  for (viewer_t* v = viewers; v && e; v = v->next) {
    if (sl_stream_writable_length(v->res) > (1 << 20))
      sl_stream_destroy(v->res, 0); /* a viewer that does not read */
    else
      sl_stream_write(v->res, e, NULL, NULL);
  }
  sl_chunk_unref(e);
}

static void viewer_gone(sl_stream_t* s, const sl_event_t* ev, void* arg) {
  viewer_t* v = arg;
  if (v->prev)
    v->prev->next = v->next;
  else
    viewers = v->next;
  if (v->next) v->next->prev = v->prev;
  free(v);
}

/* GET /events: every job's status now, then each change. */
static void events_req(sl_stream_t* res) {
  viewer_t* v = calloc(1, sizeof *v);
  if (v == NULL) {
    sl_http_replyf(res, 503, "out of memory\n");
    return;
  }
  sl_http_set_header(res, "Content-Type", "text/event-stream");
  sl_http_set_header(res, "Cache-Control", "no-cache");
  sl_stream_write_str(res, "retry: 2000\n\n");
  for (status_t* s = statuses; s; s = s->next) {
    sl_chunk_t* e =
        sl_chunk_printf("event: job\ndata: %.*s\n\n",
                        (int)sl_chunk_len(s->json), sl_chunk_data(s->json));
    if (e) sl_stream_write(res, e, NULL, NULL);
    sl_chunk_unref(e);
  }
  v->res = res;
  v->next = viewers;
  if (viewers) viewers->prev = v;
  viewers = v;
  sl_stream_on(res, SL_EV_CLOSE, viewer_gone, v);
}

static void json_reply(sl_stream_t* res, int status, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void json_reply(sl_stream_t* res, int status, const char* fmt, ...) {
  sl_buf_t b = {0};
  va_list ap;
  va_start(ap, fmt);
  int rc = sl_buf_vjson(&b, fmt, ap);
  va_end(ap);
  if (rc == 0) rc = sl_buf_append(&b, "\n", 1);
  if (rc == 0)
    sl_http_respond(res, status, "application/json", b.data, b.len);
  else
    sl_http_replyf(res, 500, "out of memory\n");
  sl_buf_free(&b);
}

static void api_status(sl_stream_t* res, const char* id) {
  status_t* s = status_find(id);
  char p[4096];
  if (s) {
    sl_http_set_header(res, "Content-Type", "application/json");
    sl_http_set_header(res, "Cache-Control", "no-store");
    sl_stream_end(res, s->json, NULL, NULL);
  } else if (access(dpath(p, sizeof p, "videos/%s/work", id), F_OK) == 0) {
    /* Submitted; the primary's first word is on its way. */
    json_reply(res, 200, "{\"id\":%s,\"state\":\"queued\",\"progress\":0}", id);
  } else if (access(dpath(p, sizeof p, "videos/%s/source", id), F_OK) == 0) {
    json_reply(res, 200, "{\"id\":%s,\"state\":\"stored\",\"progress\":0}", id);
  } else {
    char why[64];
    snprintf(why, sizeof why, "no video %s", id);
    json_reply(res, 404, "{\"error\":%s}", why);
  }
}

static void api_list(sl_stream_t* res) {
  sl_buf_t b = {0};
  sl_buf_append_str(&b, "[");
  for (status_t* s = statuses; s; s = s->next)
    sl_buf_printf(&b, "%s%.*s", b.len > 1 ? "," : "",
                  (int)sl_chunk_len(s->json), sl_chunk_data(s->json));
  sl_buf_append_str(&b, "]\n");
  sl_http_respond(res, 200, "application/json", b.data, b.len);
  sl_buf_free(&b);
}

/* --- the end of an upload: probe, keep, submit ------------------------------ */

typedef struct upload_s {
  sl_http_exchange_t* x;
  char id[ID_LEN + 1];
  char file[4096]; /* where the bytes are */
  uint64_t bytes, length;
  int process;
  int lock_fd;         /* tus: the .info file, flock()ed while a PATCH writes */
  int tus_done;        /* tus: the last PATCH: answered 204 once probed */
  sl_stream_t* cap;    /* tus: a PATCH's bytes, cut at Upload-Length */
  uint64_t left, over; /* what the upload still takes; bytes past it */
  int cut;             /* the client left mid-body */
  char why[160];
} upload_t;

static void upload_free(upload_t* u) {
  if (u->lock_fd >= 0) close(u->lock_fd); /* releases the flock */
  sl_http_release(u->x);
  free(u);
}

static void tus_headers(sl_stream_t* res) {
  sl_http_set_header(res, "Tus-Resumable", "1.0.0");
}

static void on_probe(int err, const char* why, const probe_t* p, void* arg) {
  upload_t* u = arg;
  sl_stream_t* res = u->x->res;
  char dir[4096], src[4096];
  if (err != 0) {
    unlink(u->file);
    if (u->tus_done) {
      char info[4096];
      unlink(dpath(info, sizeof info, "uploads/%s.info", u->id));
      tus_headers(res);
    }
    say("upload %s (%" PRIu64 " bytes) refused: %s", u->id, u->bytes, why);
    json_reply(res, 422, "{\"error\":%s,\"bytes\":%llu}", why,
               (unsigned long long)u->bytes);
    return upload_free(u);
  }
  dpath(dir, sizeof dir, "videos/%s", u->id);
  dpath(src, sizeof src, "videos/%s/source", u->id);
  if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || rename(u->file, src) != 0) {
    char msg[4200];
    snprintf(msg, sizeof msg, "%s: %s", src, strerror(errno));
    json_reply(res, 500, "{\"error\":%s}", msg);
    return upload_free(u);
  }
  if (u->process) {
    char w[4096];
    mkdir(dpath(w, sizeof w, "videos/%s/work", u->id), 0755);
    sl_channel_sendf(sl_parent(),
                     "{\"submit\":%s,\"duration\":%f,\"width\":%d,"
                     "\"height\":%d,\"audio\":%d,\"frames\":%lld}",
                     u->id, p->duration, p->width, p->height, p->audio,
                     (long long)p->frames);
  }
  if (u->tus_done) {
    tus_headers(res);
    sl_http_set_headerf(res, "Upload-Offset", "%" PRIu64, u->length);
    sl_http_set_headerf(res, "Location", "/api/videos/%s", u->id);
    sl_http_respond(res, 204, NULL, NULL, 0);
  } else {
    json_reply(res, 201,
               "{\"id\":%s,\"bytes\":%llu,\"state\":%s,\"duration\":%.3f,"
               "\"width\":%d,\"height\":%d,\"frames\":%lld,\"audio\":%d}",
               u->id, (unsigned long long)u->bytes,
               u->process ? "queued" : "stored", p->duration, p->width,
               p->height, (long long)p->frames, p->audio);
  }
  upload_free(u);
}

static void upload_finish(upload_t* u) {
  if (u->process) {
    int rc = probe(u->file, on_probe, u);
    if (rc != 0) {
      json_reply(u->x->res, 500, "{\"error\":%s}", sl_strerror(rc));
      upload_free(u);
    }
    return;
  }
  probe_t none = {0};
  on_probe(0, NULL, &none, u);
}

/* --- POST /videos: a plain upload ------------------------------------------ */

static void plain_done(int err, const sl_pipeline_result_t* r, void* arg) {
  upload_t* u = arg;
  sl_stream_stats_t st;
  sl_stream_stats(r->stages[1], &st);
  u->bytes = st.bytes_written;
  if (err != 0) {
    unlink(u->file);
    if (r->stage == 1) /* the disk: say so (the client is still there) */
      json_reply(u->x->res, 500, "{\"error\":%s}", r->message);
    else
      say("upload %s cut off after %" PRIu64 " bytes: %s", u->id, u->bytes,
          r->message);
    return upload_free(u);
  }
  upload_finish(u);
}

static upload_t* upload_new(sl_stream_t* req, sl_stream_t* res) {
  upload_t* u = calloc(1, sizeof *u);
  if (u == NULL || (u->x = sl_http_hold(req, res)) == NULL) {
    free(u);
    sl_http_replyf(res, 503, "out of memory\n");
    return NULL;
  }
  u->lock_fd = -1;
  return u;
}

static void plain_upload(sl_stream_t* req, sl_stream_t* res) {
  upload_t* u = upload_new(req, res);
  if (u == NULL) return;
  new_id(u->id);
  const char* q = sl_http_query(req, "process");
  u->process = !(q && strcmp(q, "0") == 0);
  dpath(u->file, sizeof u->file, "uploads/%s.plain", u->id);
  sl_file_opts_t fo = {.high_water_mark = 1 << 20};
  sl_pipeline(plain_done, u, req, sl_file_writer(u->file, &fo));
}

/* --- tus 1.0: resumable uploads -------------------------------------------- */

/* uploads/ID holds the bytes, uploads/ID.info the length and metadata. */
static int tus_info(const char* id, uint64_t* length) {
  char p[4096];
  FILE* f = fopen(dpath(p, sizeof p, "uploads/%s.info", id), "r");
  if (f == NULL) return -1;
  int ok = fscanf(f, "%" SCNu64, length) == 1;
  fclose(f);
  return ok ? 0 : -1;
}

static void tus_create(sl_stream_t* req, sl_stream_t* res) {
  const char* len = sl_http_header(req, "upload-length");
  const char* meta = sl_http_header(req, "upload-metadata");
  char* end;
  tus_headers(res);
  if (len == NULL || !*len || strtoull(len, &end, 10) == 0 || *end) {
    sl_http_replyf(res, 400,
                   "Upload-Length: a positive byte count is "
                   "required (Upload-Defer-Length is not "
                   "supported)\n");
    return;
  }
  uint64_t n = strtoull(len, NULL, 10);
  if (n > cfg.max_upload) {
    sl_http_set_headerf(res, "Tus-Max-Size", "%" PRIu64, cfg.max_upload);
    sl_http_replyf(res, 413,
                   "Upload-Length %" PRIu64 " passes the limit of %" PRIu64
                   " bytes (--max-upload)\n",
                   n, cfg.max_upload);
    return;
  }
  char id[ID_LEN + 1], p[4096];
  new_id(id);
  int fd = open(dpath(p, sizeof p, "uploads/%s", id),
                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  FILE* f = fopen(dpath(p, sizeof p, "uploads/%s.info", id), "w");
  if (fd < 0 || f == NULL ||
      fprintf(f, "%" PRIu64 "\n%s\n", n, meta ? meta : "") < 0 ||
      fclose(f) != 0) {
    if (fd >= 0) close(fd);
    sl_http_replyf(res, 500, "%s: %s\n", p, strerror(errno));
    return;
  }
  close(fd);
  sl_http_set_headerf(res, "Location", "/files/%s", id);
  sl_http_respond(res, 201, NULL, NULL, 0);
}

static int tus_offset(const char* id, uint64_t* off) {
  char p[4096];
  struct stat st;
  if (stat(dpath(p, sizeof p, "uploads/%s", id), &st) == 0) {
    *off = (uint64_t)st.st_size;
    return 0;
  }
  return -1;
}

static void tus_head(sl_stream_t* res, const char* id) {
  uint64_t len, off;
  char p[4096];
  tus_headers(res);
  sl_http_set_header(res, "Cache-Control", "no-store");
  if (tus_info(id, &len) != 0) {
    sl_http_respond(res, 404, NULL, NULL, 0);
    return;
  }
  if (tus_offset(id, &off) != 0) /* done: the bytes moved to videos/ */
    off =
        access(dpath(p, sizeof p, "videos/%s/source", id), F_OK) == 0 ? len : 0;
  sl_http_set_headerf(res, "Upload-Offset", "%" PRIu64, off);
  sl_http_set_headerf(res, "Upload-Length", "%" PRIu64, len);
  sl_http_respond(res, 200, NULL, NULL, 0);
}

/* The PATCH's bytes are on disk (or the disk failed). A client that left
 * mid-body loses nothing it sent that reached us: what was received is
 * written before the offset is counted. */
static void patch_cut(sl_stream_t* req, const sl_event_t* ev, void* arg);
static void patch_written(sl_stream_t* w, int err, void* arg) {
  upload_t* u = arg;
  sl_stream_t* res = u->x->res;
  uint64_t off = 0;
  sl_stream_off(u->x->req, SL_EV_ERROR, patch_cut, u);
  tus_offset(u->id, &off); /* what is on disk is what counts */
  if (err != 0) {
    sl_stream_unpipe(u->x->req, NULL);
    say("upload %s: PATCH failed at %" PRIu64 ": %s", u->id, off,
        sl_stream_error_message(w));
    json_reply(res, 500, "{\"error\":%s}", sl_stream_error_message(w));
    return upload_free(u);
  }
  if (u->cut) {
    say("upload %s: PATCH cut off at %" PRIu64 " of %" PRIu64 " bytes: %s",
        u->id, off, u->length, u->why);
    return upload_free(u);
  }
  tus_headers(res);
  sl_http_set_headerf(res, "Upload-Offset", "%" PRIu64, off);
  if (u->over) {
    sl_http_replyf(res, 413,
                   "the body passes Upload-Length (%" PRIu64 "): %" PRIu64
                   " bytes past it were dropped; the upload "
                   "is at %" PRIu64 "\n",
                   u->length, u->over, off);
    return upload_free(u);
  }
  if (off < u->length) {
    sl_http_respond(res, 204, NULL, NULL, 0);
    return upload_free(u);
  }
  u->bytes = off;
  u->tus_done = 1;
  u->process = 1;
  upload_finish(u); /* the lock is held until the probe answered */
}

static void patch_cut(sl_stream_t* req, const sl_event_t* ev, void* arg) {
  upload_t* u = arg;
  u->cut = 1;
  snprintf(u->why, sizeof u->why, "%s", ev->message ? ev->message : "");
  sl_stream_unpipe(req, u->cap);
  sl_stream_end(u->cap, NULL, NULL, NULL); /* write what came, then count */
}

/* Passes at most what is left of Upload-Length; the excess is counted and
 * dropped (answered 413 once the rest is written). */
static void cap_transform(sl_stream_t* s, sl_chunk_t* c) {
  upload_t* u = sl_stream_data(s);
  size_t n = sl_chunk_len(c);
  if (n > u->left) {
    u->over += n - u->left;
    n = (size_t)u->left;
  }
  u->left -= n;
  if (n == sl_chunk_len(c)) {
    sl_stream_push(s, c);
  } else if (n > 0) {
    sl_chunk_t* part = sl_chunk_slice(c, 0, n);
    sl_stream_push(s, part);
    sl_chunk_unref(part);
  }
  sl_stream_write_done(s, 0);
}

static void tus_patch(sl_stream_t* req, sl_stream_t* res, const char* id) {
  uint64_t len, off;
  const char* v = sl_http_header(req, "tus-resumable");
  const char* ct = sl_http_header(req, "content-type");
  const char* uo = sl_http_header(req, "upload-offset");
  tus_headers(res);
  if (v == NULL || strcmp(v, "1.0.0") != 0) {
    sl_http_set_header(res, "Tus-Version", "1.0.0");
    sl_http_replyf(res, 412, "Tus-Resumable: 1.0.0 is required\n");
    return;
  }
  if (ct == NULL || strcmp(ct, "application/offset+octet-stream") != 0) {
    sl_http_replyf(res, 415,
                   "Content-Type must be application/offset+octet-stream\n");
    return;
  }
  if (tus_info(id, &len) != 0 || tus_offset(id, &off) != 0) {
    sl_http_replyf(res, 404, "no upload %s\n", id);
    return;
  }
  char p[4096];
  int fd =
      open(dpath(p, sizeof p, "uploads/%s.info", id), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) close(fd);
    sl_http_replyf(res, 423, "upload %s is being written by another request\n",
                   id);
    return;
  }
  tus_offset(id, &off); /* again, under the lock */
  if (uo == NULL || strtoull(uo, NULL, 10) != off) {
    close(fd);
    sl_http_set_headerf(res, "Upload-Offset", "%" PRIu64, off);
    sl_http_replyf(res, 409,
                   "Upload-Offset is %s, the upload is at %" PRIu64 "\n",
                   uo ? uo : "missing", off);
    return;
  }
  const char* cl = sl_http_header(req, "content-length");
  if (cl && strtoull(cl, NULL, 10) > len - off) {
    close(fd);
    sl_http_set_headerf(res, "Upload-Offset", "%" PRIu64, off);
    sl_http_replyf(res, 413,
                   "Content-Length %s passes what the upload lacks (%" PRIu64
                   " bytes of Upload-Length %" PRIu64
                   "); nothing was written\n",
                   cl, len - off, len);
    return;
  }
  upload_t* u = upload_new(req, res);
  if (u == NULL) {
    close(fd);
    return;
  }
  u->lock_fd = fd;
  u->length = len;
  snprintf(u->id, sizeof u->id, "%s", id);
  dpath(u->file, sizeof u->file, "uploads/%s", id);
  u->left = len - off;
  static const sl_stream_hooks_t cap_hooks = {.transform = cap_transform};
  sl_stream_opts_t so = {
      .hooks = &cap_hooks, .data = u, .high_water_mark = 1 << 20};
  sl_file_opts_t fo = {
      .start = off, .flags = O_WRONLY, .high_water_mark = 1 << 20};
  u->cap = sl_transform_new(&so);
  sl_stream_t* w = sl_file_writer(u->file, &fo);
  if (u->cap == NULL || w == NULL || sl_stream_finished(w, patch_written, u)) {
    sl_http_replyf(res, 503, "out of memory\n");
    if (u->cap) sl_stream_destroy(u->cap, 0);
    if (w) sl_stream_destroy(w, 0);
    return upload_free(u);
  }
  sl_stream_on(req, SL_EV_ERROR, patch_cut, u);
  sl_stream_pipe(sl_stream_pipe(req, u->cap, NULL), w, NULL);
}

static void tus_delete(sl_stream_t* res, const char* id) {
  uint64_t len;
  char p[4096], q[4096];
  tus_headers(res);
  if (tus_info(id, &len) != 0) {
    sl_http_replyf(res, 404, "no upload %s\n", id);
    return;
  }
  int fd =
      open(dpath(p, sizeof p, "uploads/%s.info", id), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) close(fd);
    sl_http_replyf(res, 423, "upload %s is being written\n", id);
    return;
  }
  unlink(dpath(q, sizeof q, "uploads/%s", id));
  unlink(p);
  close(fd);
  sl_http_respond(res, 204, NULL, NULL, 0);
}

static void tus(sl_stream_t* req, sl_stream_t* res) {
  char id[ID_LEN + 1];
  const char* path = sl_http_path(req);
  const char* rest = path_id(path, "/files/", id);
  if (sl_http_is(req, "OPTIONS", NULL)) {
    tus_headers(res);
    sl_http_set_header(res, "Tus-Version", "1.0.0");
    sl_http_set_header(res, "Tus-Extension", "creation,termination");
    sl_http_set_headerf(res, "Tus-Max-Size", "%" PRIu64, cfg.max_upload);
    sl_http_respond(res, 204, NULL, NULL, 0);
  } else if (strcmp(path, "/files") == 0 || strcmp(path, "/files/") == 0) {
    if (sl_http_is(req, "POST", NULL))
      tus_create(req, res);
    else
      sl_http_replyf(res, 405, "POST /files creates an upload\n");
  } else if (rest == NULL || *rest) {
    sl_http_replyf(res, 404, "no upload at %s\n", path);
  } else if (sl_http_is(req, "HEAD", NULL)) {
    tus_head(res, id);
  } else if (sl_http_is(req, "PATCH", NULL)) {
    tus_patch(req, res, id);
  } else if (sl_http_is(req, "DELETE", NULL)) {
    tus_delete(res, id);
  } else {
    sl_http_set_header(res, "Allow", "HEAD, PATCH, DELETE, OPTIONS");
    sl_http_replyf(res, 405, "%s is not a tus request\n", sl_http_method(req));
  }
}

/* --- fragmented MP4 streamed back --------------------------------------- */

typedef struct live_s {
  sl_child_t* child;
  sl_http_exchange_t* x;
  char spool[4096]; /* POST /transcode of a container that needs seeking */
  sl_buf_t head;    /* the body's first bytes, until the container is known */
  int h;
  int refs;    /* the encoder's exit, and the pipeline once bytes came */
  int started; /* its first byte went out: the answer is 200 */
  int exited;
  sl_buf_t err; /* its stderr (the last 4 KiB) */
  struct live_s *prev, *next;
} live_t;
static live_t* lives; /* every encoder streaming to a client */

static void live_free(live_t* l) {
  if (l->prev)
    l->prev->next = l->next;
  else if (lives == l)
    lives = l->next;
  if (l->next) l->next->prev = l->prev;
  if (l->spool[0]) unlink(l->spool);
  sl_buf_free(&l->head);
  sl_buf_free(&l->err);
  sl_http_release(l->x);
  if (l->child) sl_child_unref(l->child);
  free(l);
}

/* The response is done (sent, or the client left): the encoder goes, with
 * its whole group, whatever it was doing. */
static void live_unref(live_t* l) {
  if (--l->refs == 0) live_free(l);
}

static void live_sent(int err, const sl_pipeline_result_t* r, void* arg) {
  live_t* l = arg;
  if (!l->exited) sl_child_kill_tree(l->child, SIGKILL);
  live_unref(l);
}

/* The first byte of MP4: the answer is a 200 from now on, the rest is
 * piped. */
static void live_first(sl_stream_t* out, const sl_event_t* ev, void* arg) {
  live_t* l = arg;
  sl_stream_off(out, SL_EV_DATA, live_first, l);
  l->started = 1;
  l->refs++;
  sl_http_set_header(l->x->res, "Content-Type", "video/mp4");
  sl_http_set_header(l->x->res, "Cache-Control", "no-store");
  sl_stream_write(l->x->res, ev->chunk, NULL, NULL);
  sl_pipeline(live_sent, l, out, l->x->res);
}

/* An encoder that wrote nothing: the client gets why (ffmpeg's words),
 * never an empty 200. */
static void live_exited(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  live_t* l = arg;
  l->exited = 1;
  if (!l->started) {
    char words[400];
    last_lines(l->err.len ? l->err.data : "", 2, l->spool[0] ? l->spool : NULL,
               words, sizeof words);
    json_reply(l->x->res, ev->err ? 500 : 422, "{\"error\":%s}",
               ev->err    ? ev->message
               : words[0] ? words
                          : "ffmpeg wrote nothing");
  }
  live_unref(l);
}

/* ffmpeg reading `in` ("pipe:0" or a file), writing fragmented MP4 to its
 * stdout, which is piped into the response. */
static int live_start(live_t* l, const char* in, int pipe_in) {
  char scale[32];
  snprintf(scale, sizeof scale, "scale=-2:%d", l->h);
  const char* argv[] = {"ffmpeg",
                        "-nostdin",
                        "-hide_banner",
                        "-v",
                        "error",
                        "-i",
                        in,
                        "-map",
                        "0:v:0",
                        "-map",
                        "0:a:0?",
                        "-vf",
                        scale,
                        "-pix_fmt",
                        "yuv420p",
                        "-c:v",
                        "libx264",
                        "-preset",
                        "veryfast",
                        "-c:a",
                        "aac",
                        "-f",
                        "mp4",
                        "-movflags",
                        "frag_keyframe+empty_moov+default_base_moof",
                        "pipe:1",
                        NULL};
  sl_spawn_opts_t o = {.stdio = {{pipe_in ? SL_STDIO_PIPE : SL_STDIO_IGNORE, 0},
                                 {SL_STDIO_PIPE, 0},
                                 {SL_STDIO_PIPE, 0}},
                       .high_water_mark = 1 << 18};
  int rc = sl_spawn("ffmpeg", argv, &o, &l->child);
  if (rc != 0) return rc;
  sl_child_ref(l->child);
  l->refs = 1;
  sl_http_set_header(l->x->res, "X-Video-Input", pipe_in ? "pipe" : "spool");
  sl_stream_on(sl_child_stderr(l->child), SL_EV_DATA, keep_stderr, &l->err);
  sl_stream_on(sl_child_stdout(l->child), SL_EV_DATA, live_first, l);
  return sl_child_wait(l->child, live_exited, l);
}

static live_t* live_new(sl_stream_t* req, sl_stream_t* res) {
  live_t* l = calloc(1, sizeof *l);
  if (l == NULL || (l->x = sl_http_hold(req, res)) == NULL) {
    free(l);
    sl_http_replyf(res, 503, "out of memory\n");
    return NULL;
  }
  const char* h = sl_http_query(req, "h");
  l->h = h ? atoi(h) : 360;
  if (l->h < 64 || l->h > 2160) l->h = 360;
  l->h &= ~1;
  l->next = lives;
  if (lives) lives->prev = l;
  lives = l;
  return l;
}

/* GET /videos/ID/live.mp4: the source, encoded while it is sent. */
static void live_get(sl_stream_t* req, sl_stream_t* res, const char* id) {
  char src[4096];
  if (access(dpath(src, sizeof src, "videos/%s/source", id), R_OK) != 0) {
    sl_http_replyf(res, 404, "no video %s\n", id);
    return;
  }
  live_t* l = live_new(req, res);
  if (l == NULL) return;
  int rc = live_start(l, src, 0);
  if (rc != 0) {
    sl_http_replyf(res, 500, "spawn ffmpeg: %s\n", sl_strerror(rc));
    live_free(l);
  }
}

/* Can ffmpeg read this container from a pipe? 1 yes, 0 no, -1 not known
 * yet (more bytes needed). An MP4 is walked box by box: pipe-safe when its
 * moov comes before its mdat. */
static int pipe_safe(const unsigned char* b, size_t n) {
  if (n < 12) return -1;
  if (memcmp(b, "\x1a\x45\xdf\xa3", 4) == 0) return 1; /* WebM, Matroska */
  if (b[0] == 0x47) return n < 377 ? -1 : b[188] == 0x47 && b[376] == 0x47;
  if (memcmp(b + 4, "ftyp", 4) != 0) return 0; /* not known: spool */
  for (size_t at = 0; at + 8 <= n;) {
    uint64_t size =
        (uint64_t)b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3];
    if (memcmp(b + at + 4, "moov", 4) == 0) return 1;
    if (memcmp(b + at + 4, "mdat", 4) == 0) return 0;
    if (size == 1) {
      if (at + 16 > n) return -1;
      size = 0;
      for (int i = 8; i < 16; i++) size = size << 8 | b[at + i];
    }
    if (size < 8) return 0;
    if (at + size + 8 > n) return at + size > (64u << 10) ? 0 : -1;
    at += size;
  }
  return -1;
}

static void spooled(int err, const sl_pipeline_result_t* r, void* arg) {
  live_t* l = arg;
  int rc = err;
  if (rc == 0) rc = live_start(l, l->spool, 0);
  if (rc != 0) {
    if (!sl_http_headers_sent(l->x->res))
      sl_http_replyf(l->x->res, 500, "spool %s: %s\n", l->spool,
                     r && err ? r->message : sl_strerror(rc));
    live_free(l);
  }
}

static void transcode_go(live_t* l, int safe) {
  sl_stream_t* req = l->x->req;
  sl_stream_pause(req);
  sl_chunk_t* c = sl_buf_chunk(&l->head);
  if (c) sl_stream_unshift(req, c), sl_chunk_unref(c);
  int rc;
  if (safe) {
    rc = live_start(l, "pipe:0", 1);
    if (rc == 0) sl_pipeline(NULL, NULL, req, sl_child_stdin(l->child));
  } else {
    dpath(l->spool, sizeof l->spool, "uploads/transcode-%d-%p", getpid(),
          (void*)l);
    sl_file_opts_t fo = {.high_water_mark = 1 << 20};
    rc = sl_pipeline(spooled, l, req, sl_file_writer(l->spool, &fo));
    return;
  }
  if (rc != 0) {
    sl_http_replyf(l->x->res, 500, "spawn ffmpeg: %s\n", sl_strerror(rc));
    live_free(l);
  }
}

static void on_sniff(sl_stream_t* req, const sl_event_t* ev, void* arg) {
  live_t* l = arg;
  if (ev->type == SL_EV_DATA)
    sl_buf_append(&l->head, sl_chunk_data(ev->chunk), sl_chunk_len(ev->chunk));
  int safe = pipe_safe((const unsigned char*)l->head.data, l->head.len);
  if (safe < 0 && ev->type == SL_EV_DATA && l->head.len < (64u << 10)) return;
  sl_stream_off(req, SL_EV_DATA, on_sniff, l);
  sl_stream_off(req, SL_EV_END, on_sniff, l);
  if (ev->type == SL_EV_END && l->head.len == 0) {
    sl_http_replyf(l->x->res, 400,
                   "POST /transcode needs a video as its body\n");
    live_free(l);
    return;
  }
  if (ev->type == SL_EV_END) { /* all of it came while sniffing: a file */
    dpath(l->spool, sizeof l->spool, "uploads/transcode-%d-%p", getpid(),
          (void*)l);
    FILE* f = fopen(l->spool, "w");
    int ok = f && fwrite(l->head.data, 1, l->head.len, f) == l->head.len;
    if (f && fclose(f) != 0) ok = 0;
    spooled(ok ? 0 : SL_EIO, NULL, l);
    return;
  }
  transcode_go(l, safe == 1);
}

/* --- routes ------------------------------------------------------------- */

static void handle(sl_stream_t* req, sl_stream_t* res, void* arg) {
  const char* path = sl_http_path(req);
  char id[ID_LEN + 1];
  const char* rest;
  if (sl_http_is(req, "GET", "/")) {
    sl_http_set_header(res, "Content-Type", "text/html; charset=utf-8");
    sl_stream_end(res, sl_chunk_copy(video_page, sizeof video_page - 1), NULL,
                  NULL);
  } else if (sl_http_is(req, "POST", "/videos") ||
             sl_http_is(req, "PUT", "/videos")) {
    plain_upload(req, res);
  } else if (strncmp(path, "/files", 6) == 0) {
    tus(req, res);
  } else if (sl_http_is(req, "POST", "/transcode")) {
    live_t* l = live_new(req, res);
    if (l == NULL) return;
    sl_stream_on(req, SL_EV_DATA, on_sniff, l);
    sl_stream_on(req, SL_EV_END, on_sniff, l);
  } else if (sl_http_is(req, "GET", "/events")) {
    events_req(res);
  } else if (sl_http_is(req, "GET", "/api/videos")) {
    api_list(res);
  } else if ((rest = path_id(path, "/api/videos/", id)) && !*rest) {
    if (sl_http_is(req, "GET", NULL)) {
      api_status(res, id);
    } else if (sl_http_is(req, "DELETE", NULL)) {
      status_t* s = status_find(id);
      char st[32] = "";
      if (s)
        sl_json_get_string(sl_chunk_data(s->json), sl_chunk_len(s->json),
                           "state", st, sizeof st);
      int over = strcmp(st, "ready") == 0 || strcmp(st, "failed") == 0 ||
                 strcmp(st, "canceled") == 0;
      if (s && !over) sl_channel_sendf(sl_parent(), "{\"cancel\":%s}", id);
      json_reply(res,
                 !s     ? 404
                 : over ? 409
                        : 202,
                 "{\"id\":%s,\"state\":%s,\"cancel\":%s}", id,
                 s ? st : "unknown",
                 !s     ? "no such job"
                 : over ? "the job is over"
                        : "requested");
    } else {
      sl_http_replyf(res, 405, "GET or DELETE\n");
    }
  } else if ((rest = path_id(path, "/videos/", id)) &&
             strcmp(rest, "/live.mp4") == 0 && sl_http_is(req, "GET", NULL)) {
    live_get(req, res, id);
  } else if (rest && rest[0] == '/' && strncmp(rest, "/work", 5) != 0) {
    sl_static_serve(media, req, res); /* Range, ETag, HEAD */
  } else {
    sl_http_replyf(res, 404,
                   "not found: GET /, POST /videos, tus at /files, POST "
                   "/transcode, /api/videos/ID, /videos/ID/...\n");
  }
}

/* Told to stop: what streams to a client now is cut, its encoder killed
 * (a child is in a process group of its own: the worker's going would not
 * take it along); event streams end (a browser's EventSource reconnects to
 * another worker). */
static void on_shutdown(void* arg) {
  for (live_t* l = lives; l; l = l->next) {
    if (l->child) sl_child_kill_tree(l->child, SIGKILL);
    sl_stream_destroy(l->x->res, 0);
  }
  for (viewer_t* v = viewers; v; v = v->next)
    sl_stream_end(v->res, NULL, NULL, NULL);
}

static int worker_main(void) {
  sl_cluster_on_shutdown(on_shutdown, NULL);
  sl_static_opts_t so = {.root = cfg.data, .no_listing = 1, .no_gzip = 1};
  int err;
  if ((media = sl_static_new(&so, &err)) == NULL) {
    fprintf(stderr, "video: %s: %s\n", cfg.data, sl_strerror(err));
    return 78;
  }
  sl_http_server_opts_t o = {.port = cfg.port,
                             .max_body_size = cfg.max_upload,
                             .high_water_mark = 1 << 20,
                             .access_log = cfg.access_log != NULL,
                             .access_log_format = SL_ACCESS_LOG_COMBINED};
  if (cfg.access_log && strcmp(cfg.access_log, "-") != 0)
    o.access_log_path = cfg.access_log;
  sl_channel_on(sl_parent(), SL_CHANNEL_MESSAGE, on_primary, NULL);
  sl_http_server_t* srv;
  if (sl_report(sl_http_listen(&o, handle, NULL, &srv), NULL)) return 78;
  return sl_run();
}

/* ======================================================================= */

static int usage(const char* why) {
  if (why) fprintf(stderr, "video: %s\n", why);
  fputs(
      "usage: video [--port P] [--workers N] [--data DIR] [--jobs N]\n"
      "             [--segment S] [--job-timeout S] [--max-upload BYTES]\n"
      "             [--renditions 360,720] [--preset P] [--access-log "
      "FILE|-]\n",
      stderr);
  return 2;
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cfg.jobs = cfg.cpus = cpus > 0 ? (int)cpus : 1;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[++i] : NULL;
    char* end = NULL;
    if (v == NULL) return usage("an option needs a value");
    if (strcmp(a, "--port") == 0) {
      cfg.port = atoi(v);
    } else if (strcmp(a, "--workers") == 0) {
      cfg.workers = atoi(v);
    } else if (strcmp(a, "--data") == 0) {
      cfg.data = v;
    } else if (strcmp(a, "--jobs") == 0) {
      cfg.jobs = (int)strtol(v, &end, 10);
      if (*end || cfg.jobs < 1 || cfg.jobs > 256)
        return usage("--jobs: 1 to 256 ffmpeg children");
    } else if (strcmp(a, "--segment") == 0) {
      cfg.segment = strtod(v, &end);
      if (*end || !(cfg.segment >= 2) || fmod(cfg.segment, 2) != 0)
        return usage("--segment: an even number of seconds, at least 2");
    } else if (strcmp(a, "--job-timeout") == 0) {
      double s = strtod(v, &end);
      if (*end || !(s > 0)) return usage("--job-timeout: seconds");
      cfg.job_timeout_ms = (uint64_t)(s * 1000);
    } else if (strcmp(a, "--max-upload") == 0) {
      cfg.max_upload = strtoull(v, &end, 10);
      if (*end || cfg.max_upload == 0) return usage("--max-upload: bytes");
    } else if (strcmp(a, "--renditions") == 0) {
      cfg.nrend = 0;
      for (const char* p = v; *p && cfg.nrend < MAX_REND;) {
        long h = strtol(p, &end, 10);
        if (end == p || h < 64 || h > 2160 || (h & 1))
          return usage("--renditions: even heights, 64 to 2160 (360,720)");
        cfg.rend[cfg.nrend++] = (int)h;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return usage("--renditions: 360,720");
      }
    } else if (strcmp(a, "--preset") == 0) {
      cfg.preset = v;
    } else if (strcmp(a, "--access-log") == 0) {
      cfg.access_log = v;
    } else {
      return usage(NULL);
    }
  }
  if (sl_cluster_is_primary()) return primary_main();
  return worker_main();
}
