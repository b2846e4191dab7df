/* Listener lists: the one EventEmitter behind streams, children and IPC
 * channels. A singly linked list in insertion order; removal during an emit
 * only marks the listener, and the outermost emit frees what was marked, so
 * a callback may remove itself or any other listener safely. */
#include "core/internal.h"

int sl__emitter_add(sl__emitter_t* e, int type, sl__fn cb, void* arg,
                    int once) {
  SL_ASSERT(cb != NULL);
  sl__listener_t* l = sl__calloc(1, sizeof *l);
  if (l == NULL) return SL_ENOMEM;
  l->cb = cb;
  l->arg = arg;
  l->type = (uint8_t)type;
  l->once = (uint8_t)once;
  sl__listener_t** p = &e->head;
  while (*p != NULL) p = &(*p)->next;
  *p = l;
  return 0;
}

static void compact(sl__emitter_t* e) {
  sl__listener_t** p = &e->head;
  while (*p != NULL) {
    sl__listener_t* l = *p;
    if (l->removed) {
      *p = l->next;
      sl__free(l);
    } else {
      p = &l->next;
    }
  }
}

int sl__emitter_off(sl__emitter_t* e, int type, sl__fn cb, void* arg) {
  for (sl__listener_t* l = e->head; l != NULL; l = l->next) {
    if (!l->removed && l->type == type && l->cb == cb && l->arg == arg) {
      l->removed = 1;
      if (e->emitting == 0) compact(e);
      return 0;
    }
  }
  return SL_ENOENT;
}

int sl__emitter_has(const sl__emitter_t* e, int type) {
  for (const sl__listener_t* l = e->head; l != NULL; l = l->next)
    if (!l->removed && l->type == type) return 1;
  return 0;
}

void sl__emitter_emit(sl__emitter_t* e, int type,
                      void (*invoke)(sl__fn cb, void* arg, void* owner,
                                     const void* ev),
                      void* owner, const void* ev) {
  e->emitting++;
  /* Listeners added during the emit are not called for this event: stop at
   * the last one present now. */
  sl__listener_t* last = e->head;
  while (last != NULL && last->next != NULL) last = last->next;
  for (sl__listener_t* l = e->head; l != NULL; l = l->next) {
    if (!l->removed && l->type == type) {
      if (l->once) l->removed = 1;
      invoke(l->cb, l->arg, owner, ev);
    }
    if (l == last) break;
  }
  if (--e->emitting == 0) compact(e);
}

void sl__emitter_clear(sl__emitter_t* e) {
  SL_ASSERT(e->emitting == 0);
  for (sl__listener_t* l = e->head; l != NULL; l = l->next) l->removed = 1;
  compact(e);
}
