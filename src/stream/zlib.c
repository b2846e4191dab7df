/* Compression Transforms: sl_gzip (one gzip member, blocks compressed in
 * parallel), and sl_gunzip, sl_deflate, sl_inflate (one streaming z_stream).
 *
 * Decision (issue 9): gzip writes ONE member, as pigz does. Its input is cut
 * into blocks (128 KiB, sl_zlib_opts_t.block_size), each raw-deflated on
 * libuv's pool and ended like a sync flush (byte aligned, not final); the
 * last one ends the deflate stream. One header, and a trailer whose CRC is
 * the blocks' CRCs joined with crc32_combine. The old multi-member output
 * (one member per 1 MiB block) was cut short by curl, Chromium, httpx and
 * any single zlib.decompressobj(31). Engines, measured on one core on 64
 * MiB of bench/node/genlog.js text in 128 KiB blocks:
 *   libdeflate -6, no dictionary (used)    84 MB/s  19.67% of the input
 *     + turning its final block non-final  +13% time (gz_unfinal)
 *   zlib -6, 32 KiB dictionary (pigz)      42 MB/s  20.22%
 *   zlib -6 with max_lazy 32, dictionary   43 MB/s  19.72%
 *   ISA-L 1 / 2 / 3, dictionary (used)   479 / 426 / 181 MB/s  24.35 /
 *                                                   24.23 / 23.69%
 *   zlib -1, dictionary                   136 MB/s  25.46%
 *   Node 20 createGzip -6 (its zlib)       30 MB/s  19.75%
 * So levels 1-3 use ISA-L's igzip (the previous 32 KiB as dictionary, its
 * own sync flush), and levels 4-9 libdeflate, which has neither: its blocks
 * start without the previous 32 KiB (on this text still smaller than zlib
 * with one; on JavaScript 3% larger than Node: 24.45% vs 23.74%) and its
 * output always ends with a final block, which gz_unfinal rewrites. zlib at
 * level 6 costs as much CPU per byte as Node and missed the 1.5x-Node
 * target on two shared cores (1.07x); libdeflate halves it. The HTTP path
 * wants level 1 (ISA-L), as nginx's default.
 *
 * Memory (issue 9, item 6): a z_stream and its buffers are "jobs" shared by
 * every gzip stream, at most min(max(CPUs, 2), libuv pool threads) of them;
 * a stream borrows one per block in flight and returns it when the block is
 * done, so a stalled stream holds none. A stream starts a block only while
 * its readable side is below its mark (the read hook resumes it) and keeps
 * at most `threads` (default: that cap, at most 4) in flight, so it holds
 * at most its two marks, one block being filled (+ 32 KiB of dictionary),
 * `threads` blocks of output beyond the mark and the chunk being consumed.
 *
 * deflate, inflate and gunzip use one z_stream each: chunks below 64 KiB run
 * on the loop thread, larger ones on the pool (one job at a time, so the
 * z_stream is never shared). gunzip reads concatenated members (inflateReset
 * after each Z_STREAM_END while input remains; trailing zero bytes are
 * padding, as in Node). Corrupt data is SL_EZDATA with zlib's message, and
 * input that ends inside a stream is SL_EUNEXPECTEDEOF. Bad options make a
 * stream that fails with SL_EINVAL from the loop, naming the option. */
#include "stream/stream_int.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

#define SL__Z_SMALL        (64 * 1024) /* below this, work on the loop thread */
#define SL__Z_CHUNK        (64 * 1024)
#define SL__Z_HWM          (64 * 1024)
#define SL__Z_STEP_CHUNKS  16 /* output chunks per pool job, at most */
#define SL__GZ_BLOCK       (128 * 1024)
#define SL__GZ_BLOCK_MIN   1024
#define SL__GZ_BLOCK_MAX   (64 * 1024 * 1024)
#define SL__GZ_DICT        (32 * 1024) /* deflate's window */
#define SL__GZ_THREADS_MAX 64

static voidpf zs_alloc(voidpf opaque, uInt items, uInt size) {
  return sl__calloc(items, size);
}
static void zs_free(voidpf opaque, voidpf p) { sl__free(p); }

/* Checks the options every constructor shares. Returns 0, or SL_EINVAL
 * with the reason (naming the option and its range) in msg. */
static int z_check(const sl_zlib_opts_t* o, const char* name, char* msg,
                   size_t n) {
  if (o == NULL) return 0;
  if (o->level < 0 || o->level > 9)
    snprintf(msg, n, "%s: level %d is out of range (1-9, 0 = default 6)", name,
             o->level);
  else if (o->threads < 0 || o->threads > SL__GZ_THREADS_MAX)
    snprintf(msg, n, "%s: threads %d is out of range (1-%d, 0 = auto)", name,
             o->threads, SL__GZ_THREADS_MAX);
  else if (o->chunk_size > UINT32_MAX)
    snprintf(msg, n, "%s: chunk_size %zu is out of range (1-%u, 0 = 64 KiB)",
             name, o->chunk_size, UINT32_MAX);
  else if (o->block_size != 0 && (o->block_size < SL__GZ_BLOCK_MIN ||
                                  o->block_size > SL__GZ_BLOCK_MAX))
    snprintf(msg, n, "%s: block_size %zu is out of range (%d-%d, 0 = 128 KiB)",
             name, o->block_size, SL__GZ_BLOCK_MIN, SL__GZ_BLOCK_MAX);
  else
    return 0;
  return SL_EINVAL;
}

/* A new Transform; with bad options, one that fails with SL_EINVAL from the
 * loop (the hooks never run, destroy sees zeroed state). *bad tells which. */
static sl_stream_t* z_stream_new(const sl_zlib_opts_t* o,
                                 const sl_stream_hooks_t* hooks,
                                 const char* name, size_t size, int* bad) {
  char msg[160];
  int rc = z_check(o, name, msg, sizeof msg);
  sl_stream_opts_t so = {
      .hooks = hooks,
      .high_water_mark =
          o && o->high_water_mark ? o->high_water_mark : SL__Z_HWM,
      .name = name,
  };
  sl_stream_t* s = sl__stream_new(SL__KIND_TRANSFORM, &so, size);
  *bad = rc != 0;
  if (s != NULL && rc != 0) sl_stream_fail(s, rc, "%s", msg);
  return s;
}

static int z_level(const sl_zlib_opts_t* o) {
  return o && o->level ? o->level : 6;
}

/* Pushes c[0..len) as slices of at most `step` bytes: downstream sees
 * chunk-sized pieces without a copy. */
static void push_sliced(sl_stream_t* s, sl_chunk_t* c, size_t off, size_t len,
                        size_t step) {
  while (len > 0) {
    size_t n = len < step ? len : step;
    sl_chunk_t* part = off == 0 && n == sl_chunk_len(c)
                           ? sl_chunk_ref(c)
                           : sl_chunk_slice(c, off, n);
    if (part == NULL) {
      sl_stream_destroy(s, SL_ENOMEM);
      return;
    }
    sl_stream_push(s, part);
    sl_chunk_unref(part);
    off += n;
    len -= n;
  }
}

/* ------------------------------------------------------------------------ */
/* gzip: one member, blocks deflated in parallel with shared jobs            */

typedef struct gz_s gz_t;

/* A z_stream with its buffers, lent to one stream for one block. */
typedef struct {
  uv_work_t req;
  sl__queue_t node; /* in gz_pool.idle while idle */
  gz_t* gz;
  struct libdeflate_compressor* ld; /* levels 4-9 */
  z_stream z; /* raw inflate, to find libdeflate's final block */
  unsigned char* scratch;
  struct isal_zstream* iz; /* levels 1-3, with its level buffer */
  uint8_t* lbuf;
  size_t lbuf_size;
  int zlevel; /* the level it is set up for; 0: not set up */
  char* in;   /* dictionary, then the block (swapped with fill) */
  size_t in_cap, dict_len, in_len;
  char* out;
  size_t out_cap, out_len;
  uint32_t crc; /* of the block */
  int last, err;
  unsigned queued : 1, done : 1;
} gz_job_t;

static struct {
  sl__queue_t idle;    /* gz_job_t.node */
  sl__queue_t waiting; /* gz_t.wait_node: streams that need a job */
  unsigned cap, count; /* jobs allowed, jobs that exist */
  gz_job_t loop_job;   /* small last blocks, on the loop thread */
  int init;
} gz_pool;

struct gz_s {
  sl_stream_t s;
  int level;
  size_t block, chunk_size;
  gz_job_t** ring; /* ring[head..head+inflight): blocks in input order */
  unsigned maxjobs, head, inflight;
  unsigned running; /* pool jobs whose after-work has not run */
  char* fill;       /* fill_dict bytes of dictionary, then the block */
  size_t fill_cap, fill_dict, fill_len;
  uint32_t crc;        /* of the input so far (emitted blocks) */
  uint64_t total;      /* input bytes emitted */
  sl_chunk_t* pending; /* the input chunk being consumed */
  size_t pending_off;
  sl__queue_t wait_node;
  unsigned bad : 1, header_sent : 1, flushing : 1, last_submitted : 1,
      waiting : 1, destroying : 1;
};

/* The jobs in flight at once, over every stream: more than the pool's
 * threads would only wait there, holding memory. */
static void gz_pool_init(void) {
  if (gz_pool.init) return;
  sl__queue_init(&gz_pool.idle);
  sl__queue_init(&gz_pool.waiting);
  const char* env = getenv("UV_THREADPOOL_SIZE");
  unsigned threads = env && atoi(env) > 0 ? (unsigned)atoi(env) : 4;
  unsigned n = uv_available_parallelism();
  n = n < 2 ? 2 : n;
  gz_pool.cap = n < threads ? n : threads;
  gz_pool.init = 1;
}

/* The fast levels with ISA-L's igzip: the same stream shape (raw deflate,
 * dictionary, sync flush or end), 3.5x zlib -1's speed. */
static void gz_job_run_isal(gz_job_t* j) {
  struct isal_zstream* z = j->iz;
  isal_deflate_init(z);
  z->level = (uint32_t)j->zlevel;
  z->level_buf = j->lbuf;
  z->level_buf_size = (uint32_t)j->lbuf_size;
  z->gzip_flag = IGZIP_DEFLATE;
  z->flush = j->last ? NO_FLUSH : SYNC_FLUSH;
  z->end_of_stream = j->last != 0;
  if (j->dict_len > 0 &&
      isal_deflate_set_dict(z, (uint8_t*)j->in, (uint32_t)j->dict_len) !=
          COMP_OK)
    return;
  z->next_in = (uint8_t*)j->in + j->dict_len;
  z->avail_in = (uint32_t)j->in_len;
  z->next_out = (uint8_t*)j->out;
  z->avail_out = (uint32_t)j->out_cap;
  int rc = isal_deflate(z);
  j->out_len = j->out_cap - z->avail_out;
  /* Room left after all input means the block (or stream) is complete. */
  if (rc == COMP_OK && z->avail_in == 0 && z->avail_out > 0 &&
      (!j->last || z->internal_state.state == ZSTATE_END))
    j->err = 0;
}

#define SL__GZ_SCRATCH (32 * 1024)

/* libdeflate always ends its output with a final block. For a block that
 * is not the last, this finds that block's header by decoding the output
 * with zlib (inflate stops at each block boundary with Z_BLOCK), clears its
 * BFINAL bit and appends an empty stored block: the byte-aligned, non-final
 * ending a sync flush gives. Decoding also checks the block. The caller
 * leaves 5 bytes of room. Returns 0 or SL_EIO. */
static int gz_unfinal(gz_job_t* j) {
  z_stream* z = &j->z;
  unsigned char* out = (unsigned char*)j->out;
  size_t hdr = 0; /* bit offset of the last block's header */
  if (inflateReset(z) != Z_OK) return SL_EIO;
  z->next_in = out;
  z->avail_in = (uInt)j->out_len;
  for (;;) {
    z->next_out = j->scratch;
    z->avail_out = SL__GZ_SCRATCH;
    int rc = inflate(z, Z_BLOCK);
    if (rc != Z_OK && rc != Z_BUF_ERROR) return SL_EIO;
    int dt = z->data_type; /* +128: at a block boundary, +64: last block */
    if ((dt & 128) && (dt & 64)) break;
    if (dt & 128) hdr = (j->out_len - z->avail_in) * 8 - (size_t)(dt & 7);
    if (z->avail_in == 0 && z->avail_out != 0) return SL_EIO;
  }
  size_t used = j->out_len - z->avail_in;
  int unused = z->data_type & 7; /* padding bits of the last byte */
  if (used != j->out_len || used == 0) return SL_EIO;
  out[hdr / 8] &= (unsigned char)~(1u << (hdr % 8));
  out[used - 1] &= (unsigned char)((1u << (8 - unused)) - 1);
  /* The stored block's 3 header bits (zero) fit in the padding, or take a
   * new byte; then LEN 0, NLEN 0xffff. */
  if (unused < 3) out[used++] = 0;
  memcpy(out + used, "\0\0\xff\xff", 4);
  j->out_len = used + 4;
  return 0;
}

/* Deflates one block (pool thread or loop): raw deflate, ended like a sync
 * flush, or by the end of the stream for the last block. */
static void gz_job_run(gz_job_t* j) {
  const char* block = j->in + j->dict_len;
  j->crc = (uint32_t)crc32(0, (const Bytef*)block, (uInt)j->in_len);
  j->err = SL_EIO;
  if (j->zlevel <= 3) {
    gz_job_run_isal(j);
    return;
  }
  j->out_len = libdeflate_deflate_compress(j->ld, block, j->in_len, j->out,
                                           j->out_cap - 8);
  if (j->out_len == 0) return;
  j->err = j->last ? 0 : gz_unfinal(j);
}

static void gz_work(uv_work_t* req) {
  gz_job_run(sl__container_of(req, gz_job_t, req));
}

/* Frees the engine a job was set up for. */
static void gz_job_end(gz_job_t* j) {
  if (j->ld != NULL) libdeflate_free_compressor(j->ld);
  if (j->scratch != NULL) inflateEnd(&j->z);
  sl__free(j->scratch);
  j->ld = NULL;
  j->scratch = NULL;
  sl__free(j->iz);
  sl__free(j->lbuf);
  j->iz = NULL;
  j->lbuf = NULL;
  j->zlevel = 0;
}

static int gz_ld_init(gz_job_t* j, int level) {
  j->ld = libdeflate_alloc_compressor(level);
  j->z = (z_stream){.zalloc = zs_alloc, .zfree = zs_free};
  if (j->ld == NULL || inflateInit2(&j->z, -15) != Z_OK) return SL_ENOMEM;
  if ((j->scratch = sl__malloc(SL__GZ_SCRATCH)) == NULL) {
    inflateEnd(&j->z);
    return SL_ENOMEM;
  }
  return 0;
}

static int gz_isal_init(gz_job_t* j, int level) {
  j->lbuf_size = level == 1   ? ISAL_DEF_LVL1_DEFAULT
                 : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                              : ISAL_DEF_LVL3_DEFAULT;
  j->iz = sl__malloc(sizeof *j->iz);
  j->lbuf = sl__malloc(j->lbuf_size);
  if (j->iz != NULL && j->lbuf != NULL) return 0;
  sl__free(j->iz);
  sl__free(j->lbuf);
  j->iz = NULL;
  j->lbuf = NULL;
  return SL_ENOMEM;
}

/* Sets a job up for `level` (1-3: ISA-L, 4-9: zlib) and blocks of `len`
 * bytes, on the loop thread: the engines allocate here, never while they
 * compress. Returns 0 or SL_ENOMEM. */
static int gz_job_prepare(gz_job_t* j, int level, size_t len) {
  if (j->zlevel != level) {
    gz_job_end(j);
    int rc = level <= 3 ? gz_isal_init(j, level) : gz_ld_init(j, level);
    if (rc != 0) {
      gz_job_end(j);
      return rc;
    }
    j->zlevel = level;
  }
  /* libdeflate: its bound plus the stored block gz_unfinal appends; igzip
   * falls back to stored blocks (5 bytes per 64 KiB), no bound function. */
  size_t need = level <= 3 ? len + len / 64 + 1024
                           : libdeflate_deflate_compress_bound(j->ld, len) + 8;
  if (j->out_cap < need) {
    sl__free(j->out);
    j->out_cap = 0;
    if ((j->out = sl__malloc(need)) == NULL) return SL_ENOMEM;
    j->out_cap = need;
  }
  return 0;
}

static gz_job_t* gz_job_get(void) {
  if (!sl__queue_empty(&gz_pool.idle)) {
    sl__queue_t* q = gz_pool.idle.next;
    sl__queue_remove(q);
    return sl__container_of(q, gz_job_t, node);
  }
  if (gz_pool.count == gz_pool.cap) return NULL;
  gz_job_t* j = sl__calloc(1, sizeof *j);
  if (j != NULL) gz_pool.count++;
  return j;
}

static void gz_job_put(gz_job_t* j) {
  j->gz = NULL;
  j->done = 0;
  sl__queue_insert_tail(&gz_pool.idle, &j->node);
}

static void gz_resume(gz_t* gz);

/* Offers idle jobs to the streams waiting for one, oldest first. */
static void gz_pool_wake(void) {
  while (!sl__queue_empty(&gz_pool.idle) &&
         !sl__queue_empty(&gz_pool.waiting)) {
    sl__queue_t* q = gz_pool.waiting.next;
    sl__queue_remove(q);
    gz_t* gz = sl__container_of(q, gz_t, wait_node);
    gz->waiting = 0;
    gz_resume(gz);
  }
}

/* Pushes one finished block, the header before the first and the trailer
 * after the last, as one copied chunk (the job's buffer is reused). */
static int gz_push_block(gz_t* gz, const gz_job_t* j) {
  size_t head = gz->header_sent ? 0 : 10, tail = j->last ? 8 : 0;
  sl_chunk_t* c = sl_chunk_new(head + j->out_len + tail);
  if (c == NULL) return SL_ENOMEM;
  unsigned char* p = (unsigned char*)sl_chunk_data(c);
  if (head) {
    /* No name, no mtime (as Node); XFL 2/4 for the slowest/fastest levels;
     * OS 3 (Unix). */
    static const unsigned char h[8] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
    memcpy(p, h, sizeof h);
    p[8] = gz->level == 9 ? 2 : gz->level == 1 ? 4 : 0;
    p[9] = 3;
  }
  memcpy(p + head, j->out, j->out_len);
  gz->crc = (uint32_t)crc32_combine(gz->crc, j->crc, (z_off_t)j->in_len);
  gz->total += j->in_len;
  if (tail) {
    unsigned char* t = p + head + j->out_len;
    for (int i = 0; i < 4; i++) {
      t[i] = (unsigned char)(gz->crc >> (8 * i));
      t[4 + i] = (unsigned char)(gz->total >> (8 * i));
    }
  }
  gz->header_sent = 1;
  push_sliced(&gz->s, c, 0, sl_chunk_len(c), gz->chunk_size);
  sl_chunk_unref(c);
  return 0;
}

/* Emits, in input order, every finished block at the head of the ring and
 * returns its job to the pool. */
static void gz_emit(gz_t* gz) {
  while (gz->inflight > 0 && gz->ring[gz->head]->done) {
    gz_job_t* j = gz->ring[gz->head];
    gz->head = (gz->head + 1) % gz->maxjobs;
    gz->inflight--;
    int rc = j->err != 0 ? j->err : gz_push_block(gz, j);
    gz_job_put(j);
    if (rc != 0) {
      sl_stream_fail(
          &gz->s, rc, "gzip: %s",
          rc == SL_EIO ? "block compression failed" : "out of memory");
      return;
    }
    if (gz->s.destroyed) return;
  }
}

/* Gives the filled buffer to `j` and starts the next fill with the last
 * 32 KiB of input as its dictionary. Returns 0 or SL_ENOMEM (nothing moved). */
static int gz_hand_over(gz_t* gz, gz_job_t* j, int last) {
  char* spare = j->in;
  size_t spare_cap = j->in_cap, need = SL__GZ_DICT + gz->block;
  if (!last && spare_cap < need) {
    sl__free(spare);
    j->in = NULL;
    j->in_cap = 0;
    if ((spare = sl__malloc(need)) == NULL) return SL_ENOMEM;
    spare_cap = need;
  }
  j->in = gz->fill;
  j->in_cap = gz->fill_cap;
  j->dict_len = gz->fill_dict;
  j->in_len = gz->fill_len;
  j->last = last;
  gz->fill = spare;
  gz->fill_cap = spare_cap;
  gz->fill_len = 0;
  gz->fill_dict = 0;
  if (!last) {
    size_t have = j->dict_len + j->in_len;
    gz->fill_dict = have < SL__GZ_DICT ? have : SL__GZ_DICT;
    memcpy(gz->fill, j->in + have - gz->fill_dict, gz->fill_dict);
  }
  return 0;
}

/* A small last block with nothing in flight: deflated here, as the pool
 * round trip would cost more than the work (small HTTP responses). */
static int gz_run_inline(gz_t* gz) {
  gz_job_t* j = &gz_pool.loop_job;
  int rc = gz_job_prepare(j, gz->level, gz->fill_len);
  if (rc != 0) return rc;
  j->in = gz->fill;
  j->dict_len = gz->fill_dict;
  j->in_len = gz->fill_len;
  j->last = 1;
  gz_job_run(j);
  j->in = NULL;
  gz->last_submitted = 1;
  rc = j->err != 0 ? j->err : gz_push_block(gz, j);
  return rc;
}

static void gz_after_work(uv_work_t* req, int status);

/* Starts the filled block if this stream may: a slot of its own is free,
 * its reader is keeping up (readable side below the mark) and a job is
 * free. Returns 1 if started, 0 to wait (a block of ours finishing, the
 * read hook, or gz_pool_wake resumes), or a negative code. */
static int gz_try_submit(gz_t* gz, int last) {
  if (gz->inflight == gz->maxjobs || gz->waiting) return 0;
  if (gz->s.r.length >= gz->s.r.hwm) return 0;
  if (last && gz->inflight == 0 && gz->fill_len < SL__Z_SMALL) {
    int rc = gz_run_inline(gz);
    return rc != 0 ? rc : 1;
  }
  gz_job_t* j = gz_job_get();
  if (j == NULL) {
    gz->waiting = 1;
    sl__queue_insert_tail(&gz_pool.waiting, &gz->wait_node);
    return 0;
  }
  int rc = gz_job_prepare(j, gz->level, gz->block);
  if (rc == 0) rc = gz_hand_over(gz, j, last);
  if (rc == 0) rc = uv_queue_work(sl__loop(), &j->req, gz_work, gz_after_work);
  if (rc != 0) {
    gz_job_put(j);
    return rc;
  }
  j->gz = gz;
  j->queued = 1;
  gz->ring[(gz->head + gz->inflight) % gz->maxjobs] = j;
  gz->inflight++;
  gz->running++;
  gz->last_submitted = last;
  return 1;
}

/* Copies the pending chunk into blocks, starting each full one when it may.
 * Completes the write once the chunk is consumed; otherwise returns and is
 * resumed later (gz_resume). */
static void gz_consume(gz_t* gz) {
  while (gz->pending != NULL) {
    if (gz->fill_len == gz->block) {
      int rc = gz_try_submit(gz, 0);
      if (rc < 0) sl_stream_fail(&gz->s, rc, "gzip");
      if (rc <= 0 || gz->s.destroyed) return;
    }
    size_t len = sl_chunk_len(gz->pending) - gz->pending_off;
    size_t n = gz->block - gz->fill_len;
    if (n > len) n = len;
    memcpy(gz->fill + gz->fill_dict + gz->fill_len,
           sl_chunk_data(gz->pending) + gz->pending_off, n);
    gz->fill_len += n;
    gz->pending_off += n;
    if (gz->pending_off == sl_chunk_len(gz->pending)) {
      sl_chunk_unref(gz->pending);
      gz->pending = NULL;
      sl_stream_write_done(&gz->s, 0);
    }
  }
}

/* After the input ended: starts the last block (an empty input still makes
 * a valid member), then waits for every block; the trailer goes out with
 * the last one. */
static void gz_flush_step(gz_t* gz) {
  if (!gz->last_submitted) {
    int rc = gz_try_submit(gz, 1);
    if (rc < 0) sl_stream_fail(&gz->s, rc, "gzip");
    if (rc <= 0 || gz->s.destroyed) return;
  }
  if (gz->inflight == 0) {
    gz->flushing = 0;
    sl_stream_final_done(&gz->s, 0);
  }
}

static void gz_resume(gz_t* gz) {
  if (gz->s.destroyed) return;
  if (gz->pending != NULL)
    gz_consume(gz);
  else if (gz->flushing)
    gz_flush_step(gz);
}

static void gz_release(gz_t* gz) {
  while (gz->inflight > 0) {
    gz_job_put(gz->ring[gz->head]);
    gz->head = (gz->head + 1) % gz->maxjobs;
    gz->inflight--;
  }
  sl__free(gz->ring);
  gz->ring = NULL;
  sl__free(gz->fill);
  gz->fill = NULL;
  sl_chunk_unref(gz->pending);
  gz->pending = NULL;
}

static void gz_after_work(uv_work_t* req, int status) {
  gz_job_t* j = sl__container_of(req, gz_job_t, req);
  gz_t* gz = j->gz;
  j->queued = 0;
  j->done = 1;
  gz->running--;
  if (gz->destroying) {
    if (gz->running == 0) {
      gz_release(gz);
      sl_stream_destroy_done(&gz->s);
    }
    gz_pool_wake();
    return;
  }
  SL_ASSERT(status == 0);
  gz_emit(gz);
  gz_pool_wake();
  gz_resume(gz);
}

/* Allocates the first fill buffer. Returns 0 or SL_ENOMEM. */
static int gz_start(gz_t* gz) {
  if (gz->fill != NULL) return 0;
  gz->fill = sl__malloc(SL__GZ_DICT + gz->block);
  if (gz->fill == NULL) return SL_ENOMEM;
  gz->fill_cap = SL__GZ_DICT + gz->block;
  return 0;
}

static void gz_transform(sl_stream_t* s, sl_chunk_t* chunk) {
  gz_t* gz = (gz_t*)s;
  if (gz_start(gz) != 0) {
    sl_stream_write_done(s, SL_ENOMEM);
    return;
  }
  gz->pending = sl_chunk_ref(chunk);
  gz->pending_off = 0;
  gz_consume(gz);
}

static void gz_flush(sl_stream_t* s) {
  gz_t* gz = (gz_t*)s;
  if (gz_start(gz) != 0) {
    sl_stream_final_done(s, SL_ENOMEM);
    return;
  }
  gz->flushing = 1;
  gz_flush_step(gz);
}

/* Called from the loop while the readable side is below its mark: a block
 * held back because the reader was behind may start now. */
static void gz_read(sl_stream_t* s, size_t n) {
  gz_t* gz = (gz_t*)s;
  if (!gz->bad && !gz->waiting) gz_resume(gz);
}

/* A job that has started cannot be cancelled: wait for every after-work
 * callback before letting the stream close. */
static void gz_destroy(sl_stream_t* s, int err) {
  gz_t* gz = (gz_t*)s;
  gz->destroying = 1;
  if (gz->waiting) {
    sl__queue_remove(&gz->wait_node);
    gz->waiting = 0;
  }
  for (unsigned i = 0; i < gz->inflight; i++) {
    gz_job_t* j = gz->ring[(gz->head + i) % gz->maxjobs];
    if (j->queued) uv_cancel((uv_req_t*)&j->req);
  }
  if (gz->running == 0) {
    gz_release(gz);
    sl_stream_destroy_done(s);
    gz_pool_wake(); /* the jobs it held are idle again */
  }
}

static const sl_stream_hooks_t gz_hooks = {
    .read = gz_read,
    .transform = gz_transform,
    .flush = gz_flush,
    .destroy = gz_destroy,
};

sl_stream_t* sl_gzip(const sl_zlib_opts_t* o) {
  int bad;
  gz_pool_init();
  gz_t* gz = (gz_t*)z_stream_new(o, &gz_hooks, "gzip", sizeof(gz_t), &bad);
  if (gz == NULL) return NULL;
  if (bad) {
    gz->bad = 1;
    return &gz->s;
  }
  gz->level = z_level(o);
  gz->block = o && o->block_size ? o->block_size : SL__GZ_BLOCK;
  gz->chunk_size = o && o->chunk_size ? o->chunk_size : SL__Z_CHUNK;
  int threads = o ? o->threads : 0;
  /* The default stays at 4 even where the pool is larger, so that the
   * per-stream bound does not grow with the machine. */
  unsigned dflt = gz_pool.cap < 4 ? gz_pool.cap : 4;
  gz->maxjobs = threads > 0 ? (unsigned)threads : dflt;
  gz->ring = sl__calloc(gz->maxjobs, sizeof *gz->ring);
  if (gz->ring == NULL) {
    /* Not started yet: destroy it through the state machine. */
    sl_stream_destroy(&gz->s, SL_ENOMEM);
    return NULL;
  }
  return &gz->s;
}

/* ------------------------------------------------------------------------ */
/* deflate, inflate, gunzip: one streaming z_stream                          */

enum { ZS_DEFLATE, ZS_INFLATE, ZS_GUNZIP };

typedef struct {
  sl_chunk_t* chunk;
  size_t off; /* bytes of it already pushed */
} zs_out_t;

typedef struct {
  sl_stream_t s;
  z_stream z;
  int mode;
  size_t chunk_size;
  uv_work_t req;
  sl_chunk_t* in;  /* the input chunk being processed */
  size_t in_rest;  /* bytes of it past z.avail_in (32 bits) */
  int flush;       /* Z_NO_FLUSH or Z_FINISH */
  sl_chunk_t* cur; /* output chunk being filled */
  size_t cur_off;  /* bytes of cur already pushed */
  zs_out_t full[SL__Z_STEP_CHUNKS];
  size_t nfull;
  int err; /* result of the last run */
  char msg[96];
  unsigned z_init : 1, member_end : 1, more : 1, finishing : 1, running : 1,
      destroying : 1;
} zs_t;

/* zlib counts input in 32 bits: hands it the next piece of a larger chunk
 * once the current one is consumed. Returns 1 if input is available. */
static int zs_refill(zs_t* zs) {
  z_stream* z = &zs->z;
  if (z->avail_in == 0 && zs->in_rest > 0) {
    uInt k = zs->in_rest > UINT_MAX ? UINT_MAX : (uInt)zs->in_rest;
    z->avail_in = k;
    zs->in_rest -= k;
  }
  return z->avail_in > 0;
}

/* gunzip: after a member ends, skips zero padding and restarts inflate if
 * more input follows. inflate (zlib format) ignores data after its end, as
 * Node does. Returns 1 if inflate should run again. */
static int zs_next_member(zs_t* zs) {
  z_stream* z = &zs->z;
  if (zs->mode == ZS_INFLATE) {
    z->avail_in = 0;
    zs->in_rest = 0;
    return 0;
  }
  for (;;) {
    while (z->avail_in > 0 && *z->next_in == 0) z->next_in++, z->avail_in--;
    if (z->avail_in > 0) break;
    if (!zs_refill(zs)) return 0;
  }
  inflateReset(z);
  zs->member_end = 0;
  return 1;
}

static void zs_set_error(zs_t* zs, int err, const char* msg) {
  zs->err = err;
  snprintf(zs->msg, sizeof zs->msg, "%s", msg ? msg : "corrupt data");
}

/* Makes sure an output chunk with room is in place; a full one moves to the
 * list. Returns 0, or SL_ENOMEM. */
static int zs_out_room(zs_t* zs) {
  z_stream* z = &zs->z;
  if (zs->cur != NULL && z->avail_out > 0) return 0;
  if (zs->cur != NULL) {
    zs->full[zs->nfull++] = (zs_out_t){zs->cur, zs->cur_off};
    zs->cur = NULL;
  }
  zs->cur = sl_chunk_new(zs->chunk_size);
  if (zs->cur == NULL) return SL_ENOMEM;
  zs->cur_off = 0;
  z->next_out = (Bytef*)sl_chunk_data(zs->cur);
  z->avail_out = (uInt)zs->chunk_size;
  return 0;
}

/* Runs the codec over the pending input, collecting output chunks; stops
 * when the input is consumed (and, finishing, the stream is complete), on an
 * error, or when the output list is full (zs->more: run again). Touches only
 * the codec and the output list, so it may run on a pool thread. */
static void zs_run(zs_t* zs) {
  z_stream* z = &zs->z;
  zs->more = 0;
  for (;;) {
    zs_refill(zs);
    if (zs->mode != ZS_DEFLATE && zs->member_end && !zs_next_member(zs)) break;
    if (z->avail_out == 0 && zs->nfull == SL__Z_STEP_CHUNKS - 1) {
      zs->more = 1;
      break;
    }
    if (zs_out_room(zs) != 0) {
      zs_set_error(zs, SL_ENOMEM, NULL);
      break;
    }
    int rc =
        zs->mode == ZS_DEFLATE ? deflate(z, zs->flush) : inflate(z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      if (zs->mode == ZS_DEFLATE) break;
      zs->member_end = 1;
      continue;
    }
    if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR) {
      zs_set_error(zs, SL_EZDATA,
                   rc == Z_NEED_DICT ? "missing dictionary" : z->msg);
      break;
    }
    if (rc == Z_MEM_ERROR) {
      zs_set_error(zs, SL_ENOMEM, NULL);
      break;
    }
    if (rc == Z_BUF_ERROR || z->avail_out != 0) { /* input consumed */
      if (zs_refill(zs)) continue;
      break;
    }
  }
}

/* Loop thread: pushes what the last run produced (slices of the output
 * chunks, so a partly filled chunk is shared, not copied). */
static void zs_push_output(zs_t* zs) {
  for (size_t i = 0; i < zs->nfull; i++) {
    zs_out_t* o = &zs->full[i];
    if (!zs->s.destroyed)
      push_sliced(&zs->s, o->chunk, o->off, zs->chunk_size - o->off,
                  zs->chunk_size);
    sl_chunk_unref(o->chunk);
  }
  zs->nfull = 0;
  if (zs->cur == NULL) return;
  size_t filled = zs->chunk_size - zs->z.avail_out;
  if (filled > zs->cur_off && !zs->s.destroyed)
    push_sliced(&zs->s, zs->cur, zs->cur_off, filled - zs->cur_off,
                zs->chunk_size);
  zs->cur_off = filled;
}

static void zs_work(uv_work_t* req) {
  zs_run(sl__container_of(req, zs_t, req));
}

static void zs_after_work(uv_work_t* req, int status);

/* Runs the codec here for small input, on the pool for large input. */
static void zs_start(zs_t* zs, int on_pool) {
  if (on_pool &&
      uv_queue_work(sl__loop(), &zs->req, zs_work, zs_after_work) == 0) {
    zs->running = 1;
    return;
  }
  zs_run(zs);
  zs_after_work(&zs->req, 0);
}

static const char* zs_name(const zs_t* zs) {
  return zs->mode == ZS_DEFLATE   ? "deflate"
         : zs->mode == ZS_INFLATE ? "inflate"
                                  : "gunzip";
}

/* After a run: pushes the output, then continues, reports the error, or
 * completes the write or the flush. */
static void zs_step_done(zs_t* zs) {
  zs_push_output(zs);
  if (zs->s.destroyed) return;
  if (zs->err != 0) {
    sl_stream_fail(&zs->s, zs->err, "%s", zs->msg);
    return;
  }
  if (zs->more) {
    zs_start(zs, 1);
    return;
  }
  sl_chunk_unref(zs->in);
  zs->in = NULL;
  if (!zs->finishing) {
    sl_stream_write_done(&zs->s, 0);
    return;
  }
  if (zs->mode != ZS_DEFLATE && !zs->member_end) {
    sl_stream_fail(&zs->s, SL_EUNEXPECTEDEOF, "%s: truncated input",
                   zs_name(zs));
    return;
  }
  sl_stream_final_done(&zs->s, 0);
}

static void zs_release(zs_t* zs) {
  if (zs->z_init) {
    if (zs->mode == ZS_DEFLATE)
      deflateEnd(&zs->z);
    else
      inflateEnd(&zs->z);
    zs->z_init = 0;
  }
  for (size_t i = 0; i < zs->nfull; i++) sl_chunk_unref(zs->full[i].chunk);
  zs->nfull = 0;
  sl_chunk_unref(zs->cur);
  zs->cur = NULL;
  sl_chunk_unref(zs->in);
  zs->in = NULL;
}

static void zs_after_work(uv_work_t* req, int status) {
  zs_t* zs = sl__container_of(req, zs_t, req);
  zs->running = 0;
  if (zs->destroying) {
    zs_release(zs);
    sl_stream_destroy_done(&zs->s);
    return;
  }
  zs_step_done(zs);
}

static void zs_transform(sl_stream_t* s, sl_chunk_t* chunk) {
  zs_t* zs = (zs_t*)s;
  size_t len = sl_chunk_len(chunk);
  if (len == 0) {
    sl_stream_write_done(s, 0);
    return;
  }
  zs->in = sl_chunk_ref(chunk);
  zs->z.next_in = (Bytef*)sl_chunk_data(chunk);
  zs->z.avail_in = 0;
  zs->in_rest = len; /* zs_run() feeds it in pieces of at most UINT_MAX */
  zs->flush = Z_NO_FLUSH;
  zs_start(zs, len >= SL__Z_SMALL);
}

/* deflate finishes its stream here (what it still holds is small); the
 * inflaters only check that the stream was complete. */
static void zs_flush(sl_stream_t* s) {
  zs_t* zs = (zs_t*)s;
  zs->finishing = 1;
  zs->z.next_in = NULL;
  zs->z.avail_in = 0;
  zs->flush = Z_FINISH;
  zs_start(zs, 0);
}

static void zs_destroy(sl_stream_t* s, int err) {
  zs_t* zs = (zs_t*)s;
  zs->destroying = 1;
  if (zs->running) {
    uv_cancel((uv_req_t*)&zs->req); /* fails once the job has started */
    return;
  }
  zs_release(zs);
  sl_stream_destroy_done(s);
}

static const sl_stream_hooks_t zs_hooks = {
    .transform = zs_transform,
    .flush = zs_flush,
    .destroy = zs_destroy,
};

static sl_stream_t* zs_new(const sl_zlib_opts_t* o, int mode) {
  const char* names[] = {"deflate", "inflate", "gunzip"};
  int bad;
  zs_t* zs = (zs_t*)z_stream_new(o, &zs_hooks, names[mode], sizeof(zs_t), &bad);
  if (zs == NULL || bad) return zs ? &zs->s : NULL;
  zs->mode = mode;
  zs->chunk_size = o && o->chunk_size ? o->chunk_size : SL__Z_CHUNK;
  zs->z.zalloc = zs_alloc;
  zs->z.zfree = zs_free;
  int rc = mode == ZS_DEFLATE
               ? deflateInit2(&zs->z, z_level(o), Z_DEFLATED, 15, 8,
                              Z_DEFAULT_STRATEGY)
               : inflateInit2(&zs->z, mode == ZS_GUNZIP ? 15 + 16 : 15);
  if (rc != Z_OK) {
    sl_stream_destroy(&zs->s, SL_ENOMEM);
    return NULL;
  }
  zs->z_init = 1;
  return &zs->s;
}

sl_stream_t* sl_deflate(const sl_zlib_opts_t* o) {
  return zs_new(o, ZS_DEFLATE);
}
sl_stream_t* sl_inflate(const sl_zlib_opts_t* o) {
  return zs_new(o, ZS_INFLATE);
}
sl_stream_t* sl_gunzip(const sl_zlib_opts_t* o) { return zs_new(o, ZS_GUNZIP); }
