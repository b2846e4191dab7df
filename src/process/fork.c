/* fork: spawn plus an IPC channel announced as Node announces it
 * (NODE_CHANNEL_FD=3, NODE_CHANNEL_SERIALIZATION_MODE=json), named entries
 * of this program (re-executed through /proc/self/exe with
 * SLUICE_FORK_ENTRY=name and dispatched from sl_init), and sl_parent(), the
 * channel a forked child has to its parent. Our own variables:
 * SLUICE_CHANNEL_MODE=binary selects the binary framing and
 * SLUICE_CHANNEL_MAX_MESSAGE carries the parent's message limit. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "process/process_int.h"

#define MAX_ENTRIES 64

static struct {
  const char* name;
  sl_entry_fn fn;
} entries[MAX_ENTRIES];
static int nentries;
static char** saved_argv;
static sl_channel_t* parent_channel;
static int parent_opened;

static sl_entry_fn entry_find(const char* name) {
  for (int i = 0; i < nentries; i++)
    if (strcmp(entries[i].name, name) == 0) return entries[i].fn;
  return NULL;
}

int sl_entry_register(const char* name, sl_entry_fn fn) {
  SL_ASSERT(name != NULL && fn != NULL);
  if (entry_find(name) != NULL) return SL_EEXIST;
  if (nentries == MAX_ENTRIES) return SL_ENOMEM;
  entries[nentries].name = name;
  entries[nentries].fn = fn;
  nentries++;
  return 0;
}

void sl__entry_dispatch(int argc, char** argv) {
  saved_argv = argv;
  /* Until sl_parent() takes it, an inherited channel must not leak into
   * the children this process starts. */
  const char* cfd = getenv("NODE_CHANNEL_FD");
  if (cfd != NULL && atoi(cfd) > 2) fcntl(atoi(cfd), F_SETFD, FD_CLOEXEC);
  const char* ctl = getenv("SLUICE_CLUSTER_FD");
  if (ctl != NULL && atoi(ctl) > 2) fcntl(atoi(ctl), F_SETFD, FD_CLOEXEC);
  const char* env = getenv("SLUICE_FORK_ENTRY");
  if (env == NULL) return;
  char name[256];
  snprintf(name, sizeof name, "%s", env);
  unsetenv("SLUICE_FORK_ENTRY");
  sl_entry_fn fn = entry_find(name);
  if (fn == NULL) {
    fprintf(stderr, "sluice: no entry named '%s' in this program\n", name);
    exit(127);
  }
  exit(fn(argc, argv));
}

/* Node's fork() inherits stdio unless told otherwise; so does ours when no
 * options are given. */
static void default_opts(const sl_spawn_opts_t* o, sl_spawn_opts_t* out) {
  if (o != NULL) {
    *out = *o;
    return;
  }
  memset(out, 0, sizeof *out);
  for (int i = 0; i < 3; i++) out->stdio[i].kind = SL_STDIO_INHERIT;
}

static int fork_common(const char* file, const char* const* argv,
                       const sl_spawn_opts_t* o, const char* entry,
                       int control_fd, sl_child_t** out) {
  sl_spawn_opts_t opts;
  default_opts(o, &opts);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = -errno;
    if (control_fd >= 0) close(control_fd);
    return err;
  }
  sl_channel_t* ch = sl__channel_new(
      sv[0], opts.serialization, opts.max_message, opts.send_high_water_mark);
  if (ch == NULL) {
    close(sv[0]);
    close(sv[1]);
    if (control_fd >= 0) close(control_fd);
    return SL_ENOMEM;
  }
  char max_env[64], entry_env[300];
  const char* env[6];
  int n = 0;
  env[n++] = "NODE_CHANNEL_FD=3";
  env[n++] = "NODE_CHANNEL_SERIALIZATION_MODE=json";
  if (opts.serialization == SL_IPC_BINARY)
    env[n++] = "SLUICE_CHANNEL_MODE=binary";
  if (opts.max_message != 0) {
    snprintf(max_env, sizeof max_env, "SLUICE_CHANNEL_MAX_MESSAGE=%zu",
             opts.max_message);
    env[n++] = max_env;
  }
  if (entry != NULL) {
    snprintf(entry_env, sizeof entry_env, "SLUICE_FORK_ENTRY=%s", entry);
    env[n++] = entry_env;
  }
  env[n] = NULL;
  opts.ipc = 1;
  sl_child_t* c;
  int extra[SL__CHILD_EXTRA_FDS] = {sv[1], control_fd};
  int rc = sl__child_spawn(file, argv, &opts, env, extra, &c);
  if (rc < 0) {
    sl__channel_close(ch);
    sl__channel_release(ch);
    return rc;
  }
  sl__child_attach_channel(c, ch);
  *out = c;
  return 0;
}

int sl_fork(const char* file, const char* const* argv, const sl_spawn_opts_t* o,
            sl_child_t** out) {
  return fork_common(file, argv, o, NULL, -1, out);
}

/* Refused unless sl_init() ran in this process: without it the re-executed
 * binary would not dispatch either, but run main() again, and a main() that
 * forks an entry would then fork without end. A process that still has
 * SLUICE_FORK_ENTRY set is such an undispatched child: it is refused too. */
int sl__fork_ex(const char* file, const char* const* argv,
                const sl_spawn_opts_t* o, const char* entry, int control_fd,
                sl_child_t** out) {
  int rc = 0;
  if (entry != NULL && (strlen(entry) > 200 || entry_find(entry) == NULL)) {
    rc = SL_ENOENT;
  } else if (entry != NULL &&
             (saved_argv == NULL || getenv("SLUICE_FORK_ENTRY") != NULL)) {
    fprintf(stderr,
            "sluice: sl_fork_entry(\"%s\") needs sl_init(argc, "
            "argv) at the top of main\n",
            entry);
    rc = SL_EINVAL;
  }
  if (rc != 0) {
    if (control_fd >= 0) close(control_fd);
    return rc;
  }
  if (entry != NULL) file = "/proc/self/exe";
  if (entry != NULL && argv == NULL) argv = (const char* const*)saved_argv;
  return fork_common(file, argv, o, entry, control_fd, out);
}

int sl_fork_entry(const char* name, const char* const* argv,
                  const sl_spawn_opts_t* o, sl_child_t** out) {
  if (name == NULL) return SL_ENOENT;
  return sl__fork_ex(NULL, argv, o, name, -1, out);
}

/* Takes the channel variables out of the environment, as Node does, so the
 * process's own children do not believe they have a channel. */
static void unset_channel_env(void) {
  unsetenv("NODE_CHANNEL_FD");
  unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  unsetenv("SLUICE_CHANNEL_MODE");
  unsetenv("SLUICE_CHANNEL_MAX_MESSAGE");
}

sl_channel_t* sl_parent(void) {
  if (parent_opened) return parent_channel;
  parent_opened = 1;
  const char* cfd = getenv("NODE_CHANNEL_FD");
  if (cfd == NULL) return NULL;
  int fd = atoi(cfd);
  const char* ser = getenv("NODE_CHANNEL_SERIALIZATION_MODE");
  const char* ours = getenv("SLUICE_CHANNEL_MODE");
  const char* max = getenv("SLUICE_CHANNEL_MAX_MESSAGE");
  sl_ipc_mode_t mode = SL_IPC_JSON;
  if (ours != NULL && strcmp(ours, "binary") == 0) mode = SL_IPC_BINARY;
  size_t max_message = max ? (size_t)strtoull(max, NULL, 10) : 0;
  int advanced = ser != NULL && strcmp(ser, "json") != 0;
  unset_channel_env();
  int type;
  socklen_t l = sizeof type;
  if (advanced || fd < 3 ||
      getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 ||
      type != SOCK_STREAM) {
    /* Node's "advanced" (V8) serialization is not spoken here. */
    fprintf(stderr, "sluice: NODE_CHANNEL_FD=%s is not a usable channel\n",
            cfd);
    return NULL;
  }
  parent_channel = sl__channel_new(fd, mode, max_message, 0);
  return parent_channel;
}
