/* Byte buffers: growth from zero, printf of text longer than any spare
 * room, the NUL kept after the contents, hand-over to a chunk without a
 * copy, and the failure paths: an allocator that refuses (installed first,
 * as sl_set_allocator requires) must leave the buffer's contents as they
 * were. */
#include "test.h"

static int fail_alloc; /* refuse allocations while set */
static long live;
static void* test_malloc(size_t n) {
  if (fail_alloc) return NULL;
  live++;
  return malloc(n);
}
static void* test_realloc(void* p, size_t n) {
  if (fail_alloc) return NULL;
  if (p == NULL) live++;
  return realloc(p, n);
}
static void test_free(void* p) {
  if (p != NULL) live--;
  free(p);
}
static void install(void) {
  ASSERT_EQ(sl_set_allocator(test_malloc, test_realloc, test_free), 0);
}

TEST(buf_grows_from_zero) {
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_append(&b, NULL, 0), 0);
  ASSERT(b.data != NULL);
  ASSERT_STR_EQ(b.data, "");
  char block[1000];
  size_t total = 0;
  for (int i = 0; i < 100; i++) {
    memset(block, 'a' + i % 26, sizeof block);
    ASSERT_EQ(sl_buf_append(&b, block, sizeof block), 0);
    total += sizeof block;
    ASSERT_EQ(b.len, total);
    ASSERT_GE(b.cap, b.len);
    ASSERT_EQ(b.data[b.len], '\0');
  }
  for (size_t i = 0; i < total; i++)
    ASSERT_EQ(b.data[i], 'a' + (int)(i / 1000) % 26);
  ASSERT_EQ(sl_buf_append_str(&b, "end"), 0);
  ASSERT_STR_EQ(b.data + total, "end");
  sl_buf_free(&b);
  ASSERT(b.data == NULL && b.len == 0 && b.cap == 0);
  sl_buf_free(&b); /* twice is fine */
}

TEST(buf_reserve_then_fill_by_hand) {
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_reserve(&b, 10), 0);
  ASSERT_GE(b.cap, 10);
  char* before = b.data;
  memset(b.data, '#', b.cap + 1); /* the NUL slot too: commit must set it */
  memcpy(b.data, "0123456789", 10);
  sl_buf_commit(&b, 10);
  ASSERT_EQ(b.len, 10);
  ASSERT_EQ(b.data[10], '\0');
  ASSERT_EQ(sl_buf_reserve(&b, b.cap - b.len), 0); /* fits: no move */
  ASSERT(b.data == before);
  ASSERT_EQ(sl_buf_reserve(&b, SIZE_MAX), SL_ENOMEM); /* overflow */
  ASSERT_STR_EQ(b.data, "0123456789");
  sl_buf_consume(&b, 4);
  ASSERT_STR_EQ(b.data, "456789");
  sl_buf_truncate(&b, 2);
  ASSERT_STR_EQ(b.data, "45");
  size_t cap = b.cap;
  sl_buf_reset(&b);
  ASSERT_EQ(b.len, 0);
  ASSERT_EQ(b.cap, cap); /* keeps the memory */
  ASSERT_STR_EQ(b.data, "");
  sl_buf_free(&b);
}

TEST(buf_printf_long) {
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_printf(&b, "%d-", 42), 0);
  char big[100000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ASSERT_EQ(sl_buf_printf(&b, "[%s]%s", big, "tail"), 0);
  ASSERT_EQ(b.len, 3 + 1 + (sizeof big - 1) + 1 + 4);
  ASSERT_MEM_EQ(b.data, "42-[xxx", 7);
  ASSERT_STR_EQ(b.data + b.len - 5, "]tail");
  /* Many short appends take the spare-room path. */
  sl_buf_reset(&b);
  for (int i = 0; i < 1000; i++) ASSERT_EQ(sl_buf_printf(&b, "%04d", i), 0);
  ASSERT_EQ(b.len, 4000);
  ASSERT_MEM_EQ(b.data + 3996, "0999", 4);
  sl_buf_free(&b);
}

TEST(buf_chunk_takes_the_memory) {
  install();
  live = 0;
  sl_buf_t b = {0};
  ASSERT_EQ(sl_buf_append_str(&b, "hello"), 0);
  char* mem = b.data;
  sl_chunk_t* c = sl_buf_chunk(&b);
  ASSERT(c != NULL);
  ASSERT(sl_chunk_data(c) == mem); /* no copy */
  ASSERT_EQ(sl_chunk_len(c), 5);
  ASSERT(b.data == NULL && b.len == 0 && b.cap == 0);
  ASSERT(sl_chunk_exclusive(c));
  ASSERT_EQ(sl_buf_append_str(&b, "again"), 0); /* reusable */
  sl_buf_free(&b);
  sl_chunk_unref(c);
  ASSERT_EQ(live, 0);
  sl_chunk_t* e = sl_buf_chunk(&b); /* an empty buffer gives an empty chunk */
  ASSERT(e != NULL);
  ASSERT_EQ(sl_chunk_len(e), 0);
  sl_chunk_unref(e);
  ASSERT_EQ(live, 0);
}

TEST(buf_failure_keeps_contents) {
  install();
  live = 0;
  sl_buf_t b = {0};
  fail_alloc = 1;
  ASSERT_EQ(sl_buf_append_str(&b, "x"), SL_ENOMEM);
  ASSERT(b.data == NULL && b.len == 0);
  fail_alloc = 0;
  ASSERT_EQ(sl_buf_append_str(&b, "kept"), 0);
  char big[500];
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  fail_alloc = 1;
  ASSERT_EQ(sl_buf_append(&b, big, sizeof big), SL_ENOMEM);
  ASSERT_STR_EQ(b.data, "kept");
  /* printf writes into the spare room first; a failed grow must not leave
   * that partial text visible. */
  ASSERT_EQ(sl_buf_printf(&b, "%s", big), SL_ENOMEM);
  ASSERT_EQ(b.len, 4);
  ASSERT_STR_EQ(b.data, "kept");
  ASSERT_EQ(sl_buf_printf(&b, "+%d", 1), 0); /* fits: needs no memory */
  ASSERT_STR_EQ(b.data, "kept+1");
  sl_buf_t c = {0};
  ASSERT_EQ(sl_buf_append_str(&c, ""), SL_ENOMEM);
  fail_alloc = 0;
  ASSERT_EQ(sl_buf_append_str(&c, "c"), 0);
  fail_alloc = 1;
  ASSERT(sl_buf_chunk(&c) == NULL); /* the chunk header cannot be had */
  ASSERT_STR_EQ(c.data, "c");       /* and c still owns its bytes */
  fail_alloc = 0;
  sl_buf_free(&c);
  char* d = sl_buf_detach(&b);
  ASSERT_STR_EQ(d, "kept+1");
  ASSERT(b.data == NULL);
  test_free(d);
  ASSERT_EQ(live, 0);
}
