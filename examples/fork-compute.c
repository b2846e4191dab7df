/* Manual 4.4, the parent: delegate a CPU-heavy sum to a forked worker.
 *
 *   const worker = fork('./compute.js');
 *   worker.on('message', msg => console.log('Result from worker:', msg.result));
 *   worker.send({ n: 50_000_000 });
 *
 * Usage: fork-compute [N]                      forks ./compute-worker
 *        fork-compute --node-child SCRIPT [N]  forks `node SCRIPT` (compute.js)
 * N defaults to 50000000. Exits 1 if the worker cannot start or never
 * answers. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice.h>

static int got_result;

static void on_event(sl_child_t* c, const sl_child_event_t* ev, void* arg) {
  int64_t v;
  double d;
  switch (ev->type) {
    case SL_CHILD_MESSAGE:
      if (sl_json_get_int(ev->msg->data, ev->msg->len, "result", &v) == 0)
        printf("Result from worker: %lld\n", (long long)v);
      else if (sl_json_get_number(ev->msg->data, ev->msg->len, "result",
                                  &d) == 0)
        printf("Result from worker: %.17g\n", d);
      else
        printf("Message from worker: %.*s\n", (int)ev->msg->len,
               ev->msg->data);
      fflush(stdout);
      got_result = 1;
      break;
    case SL_CHILD_ERROR:
      fprintf(stderr, "fork-compute: %s\n", ev->message);
      break;
    case SL_CHILD_EXIT:
      if (ev->exit_code != 0)
        fprintf(stderr, "fork-compute: worker exited with %s %d\n",
                ev->term_signal ? "signal" : "code",
                ev->term_signal ? ev->term_signal : ev->exit_code);
      break;
    default:
      break;
  }
}

/* compute-worker lives beside this program. */
static void sibling(char* out, size_t cap, const char* name) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  char* slash = strrchr(self, '/');
  if (slash != NULL) slash[1] = '\0';
  snprintf(out, cap, "%s%s", slash ? self : "./", name);
}

int main(int argc, char** argv) {
  sl_init(argc, argv);
  const char* script = NULL;
  long long n = 50000000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--node-child") == 0 && i + 1 < argc)
      script = argv[++i];
    else
      n = atoll(argv[i]);
  }
  printf("Main process starting\n");
  fflush(stdout);
  char worker[PATH_MAX + 32];
  sibling(worker, sizeof worker, "compute-worker");
  const char* node_argv[] = {"node", script, NULL};
  const char* worker_argv[] = {worker, NULL};
  sl_child_t* c;
  int rc = script ? sl_fork("node", node_argv, NULL, &c)
                  : sl_fork(worker, worker_argv, NULL, &c);
  if (rc != 0) {
    fprintf(stderr, "fork-compute: %s\n", sl_strerror(rc));
    return 1;
  }
  for (int t = 0; t < (SL_CHILD_DRAIN + 1); t++) sl_child_on(c, t, on_event, NULL);
  char msg[64];
  int len = snprintf(msg, sizeof msg, "{\"n\":%lld}", n);
  sl_child_send(c, msg, (size_t)len, -1);
  sl_run();
  return got_result ? 0 : 1;
}
