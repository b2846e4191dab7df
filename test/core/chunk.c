/* Chunks: reference counts, slices that share and keep alive their storage,
 * wrapped caller memory released exactly once, object chunks. A counting
 * allocator (installed first, as sl_set_allocator requires) proves that the
 * last reference frees everything. */
#include "test.h"

static int freed;
static void* freed_data;
static void* freed_arg;
static void on_free(void* data, void* arg) {
  freed++;
  freed_data = data;
  freed_arg = arg;
}

TEST(chunk_slice_shares_storage) {
  sl_chunk_t* c = sl_chunk_copy("hello world", 11);
  sl_chunk_t* s = sl_chunk_slice(c, 6, 5);
  ASSERT_EQ(sl_chunk_len(s), 5);
  ASSERT(sl_chunk_data(s) == sl_chunk_data(c) + 6);
  sl_chunk_data(c)[6] = 'W';
  ASSERT_MEM_EQ(sl_chunk_data(s), "World", 5);
  sl_chunk_t* e = sl_chunk_slice(c, 11, 0); /* empty slice at the end */
  ASSERT_EQ(sl_chunk_len(e), 0);
  sl_chunk_unref(e);
  sl_chunk_unref(s);
  sl_chunk_unref(c);
}

TEST(chunk_slice_keeps_parent_alive) {
  sl_test_count_allocs();
  static char mem[] = "0123456789";
  sl_chunk_t* c = sl_chunk_wrap(mem, 10, on_free, &freed);
  sl_chunk_t* s = sl_chunk_slice(c, 2, 3);
  sl_chunk_unref(c); /* the creator lets go; the slice still reads it */
  ASSERT_EQ(freed, 0);
  ASSERT_MEM_EQ(sl_chunk_data(s), "234", 3);
  sl_chunk_t* ss = sl_chunk_slice(s, 1, 2); /* a slice of a slice */
  ASSERT_MEM_EQ(sl_chunk_data(ss), "34", 2);
  sl_chunk_unref(s);
  ASSERT_EQ(freed, 0);
  sl_chunk_unref(ss);
  ASSERT_EQ(freed, 1);
  ASSERT(freed_data == mem);
  ASSERT(freed_arg == &freed);
  ASSERT_EQ(sl_test_live_allocs(), 0);
}

TEST(chunk_wrap_free_once) {
  sl_test_count_allocs();
  char* mem = malloc(4);
  memcpy(mem, "data", 4);
  sl_chunk_t* c = sl_chunk_wrap(mem, 4, on_free, NULL);
  ASSERT(sl_chunk_data(c) == mem);
  sl_chunk_ref(c);
  sl_chunk_ref(c);
  sl_chunk_unref(c);
  sl_chunk_unref(c);
  ASSERT_EQ(freed, 0);
  sl_chunk_unref(c);
  ASSERT_EQ(freed, 1);
  ASSERT_EQ(sl_test_live_allocs(), 0);
  free(mem);
  /* Static memory: no callback at all. */
  sl_chunk_t* st = sl_chunk_wrap((void*)"static", 6, NULL, NULL);
  sl_chunk_unref(st);
  ASSERT_EQ(sl_test_live_allocs(), 0);
}

TEST(chunk_unref_frees) {
  sl_test_count_allocs();
  sl_chunk_t* a = sl_chunk_new(100);
  sl_chunk_t* b = sl_chunk_copy("abc", 3);
  sl_chunk_t* c = sl_chunk_str("str");
  sl_chunk_t* d = sl_chunk_printf("n=%d", 42);
  sl_chunk_t* e = sl_chunk_slice(a, 10, 20);
  ASSERT_GT(sl_test_live_allocs(), 0);
  ASSERT_EQ(sl_chunk_len(d), 4);
  ASSERT_MEM_EQ(sl_chunk_data(d), "n=42", 4);
  ASSERT_MEM_EQ(sl_chunk_data(c), "str", 3);
  sl_chunk_unref(a);
  sl_chunk_unref(b);
  sl_chunk_unref(c);
  sl_chunk_unref(d);
  ASSERT_GT(sl_test_live_allocs(), 0); /* e still holds a's storage */
  sl_chunk_unref(e);
  ASSERT_EQ(sl_test_live_allocs(), 0);
  sl_chunk_unref(NULL); /* ignored */
}

TEST(chunk_object) {
  int obj = 7;
  sl_chunk_t* o = sl_chunk_object(&obj, on_free, &obj);
  ASSERT(sl_chunk_obj(o) == &obj);
  ASSERT_EQ(sl_chunk_len(o), 0);
  sl_chunk_t* b = sl_chunk_copy("x", 1);
  ASSERT(sl_chunk_obj(b) == NULL);
  sl_chunk_unref(b);
  sl_chunk_unref(o);
  ASSERT_EQ(freed, 1);
  ASSERT(freed_data == &obj);
  ASSERT(freed_arg == &obj);
}

TEST(chunk_set_len) {
  sl_chunk_t* c = sl_chunk_new(64);
  memcpy(sl_chunk_data(c), "abc", 3);
  sl_chunk_set_len(c, 3);
  ASSERT_EQ(sl_chunk_len(c), 3);
  sl_chunk_t* s = sl_chunk_slice(c, 0, 3);
  ASSERT_MEM_EQ(sl_chunk_data(s), "abc", 3);
  sl_chunk_unref(s);
  sl_chunk_unref(c);
}

TEST(chunk_streams_release_every_reference) {
  sl_test_count_allocs();
  sl_stream_t* p = sl_passthrough_new(NULL);
  sl_chunk_t* c = sl_chunk_wrap((void*)"payload", 7, on_free, NULL);
  sl_stream_write(p, c, NULL, NULL);
  sl_chunk_unref(c);
  ASSERT_EQ(freed, 0); /* the stream holds it */
  sl_stream_resume(p);
  sl_stream_end(p, NULL, NULL, NULL);
  sl_run();
  ASSERT_EQ(freed, 1);
  ASSERT_EQ(sl_test_live_allocs(), 0);
}

TEST(chunk_exclusive_only_when_unshared) {
  sl_chunk_t* c = sl_chunk_copy("hello", 5);
  ASSERT_EQ(sl_chunk_exclusive(c), 1);
  sl_chunk_ref(c);
  ASSERT_EQ(sl_chunk_exclusive(c), 0); /* two references */
  sl_chunk_unref(c);
  sl_chunk_t* a = sl_chunk_slice(c, 0, 2);
  ASSERT_EQ(sl_chunk_exclusive(a), 0); /* c still sees the bytes */
  sl_chunk_unref(c);
  ASSERT_EQ(sl_chunk_exclusive(a), 1); /* now only the slice does */
  sl_chunk_t* b = sl_chunk_slice(a, 1, 1);
  ASSERT_EQ(sl_chunk_exclusive(a), 0);
  ASSERT_EQ(sl_chunk_exclusive(b), 0);
  sl_chunk_unref(b);
  sl_chunk_unref(a);
  static char fixed[4] = "abc";
  sl_chunk_t* w = sl_chunk_wrap(fixed, 3, NULL, NULL);
  ASSERT_EQ(sl_chunk_exclusive(w), 0); /* caller memory: not ours */
  sl_chunk_unref(w);
  sl_chunk_t* o = sl_chunk_object(fixed, NULL, NULL);
  ASSERT_EQ(sl_chunk_exclusive(o), 0);
  sl_chunk_unref(o);
}

/* A length the header cannot be added to is ENOMEM, not a small allocation
 * with a huge length (the size would wrap around). */
TEST(chunk_new_huge_length_is_enomem) {
  ASSERT(sl_chunk_new(SIZE_MAX) == NULL);
  ASSERT(sl_chunk_new(SIZE_MAX - 8) == NULL);
  ASSERT(sl_chunk_copy("x", SIZE_MAX) == NULL);
}

TEST(chunk_tag_travels_with_slices) {
  sl_chunk_t* c = sl_chunk_str("tagged");
  ASSERT_EQ(sl_chunk_tag(c), 0); /* new chunks carry none */
  sl_chunk_set_tag(c, SL_WS_TEXT | SL_WS_MORE);
  sl_chunk_t* s = sl_chunk_slice(c, 1, 3);
  ASSERT_EQ(sl_chunk_tag(s), SL_WS_TEXT | SL_WS_MORE);
  sl_chunk_set_tag(s, SL_WS_BINARY); /* its own from then on */
  ASSERT_EQ(sl_chunk_tag(c), SL_WS_TEXT | SL_WS_MORE);
  sl_chunk_unref(s);
  sl_chunk_unref(c);
}
