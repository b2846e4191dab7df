/* Listener lists: the one EventEmitter behind streams, children and IPC
 * channels. A singly linked list in insertion order; removal during an emit
 * only marks the listener, and the outermost emit frees what was marked, so
 * a callback may remove itself or any other listener safely. A listener
 * hears a set of event types (a bit mask). One listener
 * slot lives in the emitter itself, so the usual single listener costs no
 * allocation. */
#include "core/internal.h"

int sl__emitter_add(sl__emitter_t* e, uint32_t types, sl__fn cb, void* arg,
                    int once) {
  SL_ASSERT(cb != NULL && types != 0);
  sl__listener_t* l;
  if (!e->inl_used) {
    l = &e->inl;
    e->inl_used = 1;
  } else if ((l = sl__malloc(sizeof *l)) == NULL) {
    return SL_ENOMEM;
  }
  l->next = NULL;
  l->cb = cb;
  l->arg = arg;
  l->types = types;
  l->once = (uint8_t)once;
  l->removed = 0;
  if (e->head == NULL)
    e->head = l;
  else
    e->tail->next = l;
  e->tail = l;
  return 0;
}

static void compact(sl__emitter_t* e) {
  sl__listener_t** p = &e->head;
  e->tail = NULL;
  e->dirty = 0;
  while (*p != NULL) {
    sl__listener_t* l = *p;
    if (l->removed) {
      *p = l->next;
      if (l == &e->inl)
        e->inl_used = 0;
      else
        sl__free(l);
    } else {
      if (!e->inl_used && l != &e->inl) {
        /* The inline slot was freed (a listener removed during an emit, as
         * when one object hands a stream to another): this one moves into
         * it. Nothing points into records between emits. */
        e->inl = *l;
        e->inl_used = 1;
        sl__free(l);
        *p = l = &e->inl;
      }
      e->tail = l;
      p = &l->next;
    }
  }
}

int sl__emitter_off(sl__emitter_t* e, uint32_t types, sl__fn cb, void* arg) {
  for (sl__listener_t* l = e->head; l != NULL; l = l->next) {
    if (!l->removed && l->types == types && l->cb == cb && l->arg == arg) {
      l->removed = 1;
      e->dirty = 1;
      if (e->emitting == 0) compact(e);
      return 0;
    }
  }
  return SL_ENOENT;
}

int sl__emitter_has(const sl__emitter_t* e, int type) {
  for (const sl__listener_t* l = e->head; l != NULL; l = l->next)
    if (!l->removed && (l->types & SL__EV_BIT(type))) return 1;
  return 0;
}

void sl__emitter_emit(sl__emitter_t* e, int type,
                      void (*invoke)(sl__fn cb, void* arg, void* owner,
                                     const void* ev),
                      void* owner, const void* ev) {
  if (e->head == NULL) return;
  e->emitting++;
  /* Listeners added during the emit are not called for this event: stop at
   * the last one present now. Nothing is unlinked before the outermost emit
   * ends, so `last` stays in the list. */
  sl__listener_t* last = e->tail;
  for (sl__listener_t* l = e->head; l != NULL; l = l->next) {
    if (!l->removed && (l->types & SL__EV_BIT(type))) {
      if (l->once) {
        l->removed = 1;
        e->dirty = 1;
      }
      invoke(l->cb, l->arg, owner, ev);
    }
    if (l == last) break;
  }
  if (--e->emitting == 0 && e->dirty) compact(e);
}

void sl__emitter_clear(sl__emitter_t* e) {
  SL_ASSERT(e->emitting == 0);
  for (sl__listener_t* l = e->head; l != NULL; l = l->next) l->removed = 1;
  compact(e);
}
