// What the files of berth-helper share: the plan's records and config (plan.c), failure
// reporting (report.c), and the entry points of each role. main.c describes the program and says
// which file holds what. Each role keeps its own state in a struct it owns; the only file-scope
// state shared across files is the failure channel in report.c (one per process).
#ifndef BERTH_HELPER_H
#define BERTH_HELPER_H

// _GNU_SOURCE comes from binding.gyp, so that it precedes every system header.
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kernel.h"

struct monitor;  // monitor-socket.c

// ---------------------------------------------------------------------------------------------
// Records (ops.def is the table; plan.c the reader)

enum {
#define OP(id, code, name, class, join, min, max, kinds) OP_##id = code,
#include "ops.def"
#undef OP
};

enum op_class { OPC_END, OPC_CONFIG, OPC_STEP };  // ops.def names them END, CONFIG, STEP

// Argument kinds, for validation: a path (absolute), a decimal number, or any NUL-free string.
enum { A_STR = 's', A_ABS = '/', A_NUM = 'n' };

struct opdef {
  uint32_t op;
  const char *name;    // as agent/runtime/plan.ts names it
  enum op_class class;
  int join;            // allowed in an exec plan
  uint32_t min, max;   // argument counts (max UINT32_MAX: unbounded)
  const char *kinds;   // kind of each fixed argument; the last kind repeats for the rest
};

#define MAX_PLAN (16u << 20)
#define MAX_RECORDS 4096u
#define MAX_ARGS 65536u
#define MAX_ARG_LEN (1u << 20)

struct rec {
  const struct opdef *def;
  uint32_t nargs;
  char **args;  // NUL-terminated copies (validated NUL-free)
  // Made by the helper before clone for a BIND (userns.c), 0 when not: a user namespace with the
  // bind's idmap, and (in a container with its own user namespace) the bind's source, cloned.
  int userns, mnt;
};

// The plan: its records, and the config gathered from the config records. Filled by
// plan_read(); read-only afterwards except for the fds in `struct rec` and `lower_fds`.
struct plan {
  struct rec recs[MAX_RECORDS];
  uint32_t nrecs;
  uint32_t first_op;          // index of the first operation record
  int ns_flags;               // CLONE_NEW* to create (cgroup apart: want_cgroupns)
  int want_cgroupns;
  const struct rec *uid_map, *gid_map;
  int setgroups_deny;         // -1: not given
  const char *cgroups[MAX_RECORDS];
  uint32_t ncgroups;
  int exec_mode;              // a JOIN record: enter a running container instead of creating one
  pid_t join_pid;             // its init, in the helper's pid namespace
  int join_flags;             // CLONE_NEW* of the namespaces to enter (one setns through a pidfd)
  int tty_mode;               // a TTY op: the process gets a pty of the container's devpts
  int hold_mode;              // a HOLD op: nothing is run; the holder lives as long as its agent
  const char *netns_path;     // a NETNS record: the network namespace to join before clone
  const char *init_path;      // an INIT record: the host file of the container's init
  const char *monitor_dir;    // a MONITOR record: the monitor outlives the agent (monitor.c)
  int monitor_stdin;          // ... and the container has a stdin the agent can write to
  // With a user namespace, the image's layers as idmapped mounts (userns.c), one per lower dir.
  int lower_fds[MAX_ARGS];
  uint32_t nlower_fds;
};

// plan.c
void plan_read(struct plan *p, int fd);
uint64_t num(const struct rec *r, uint32_t i);
int parse_u64(const char *s, uint64_t max, uint64_t *out);
int parse_attrs(const char *s, uint64_t *attrs, int *rec);
int parse_idmap(const char *s, char *umap, size_t ucap, char *gmap, size_t gcap);
// A UID_MAP or GID_MAP record in /proc's format ("0 100000 65536\n..."); returns its length.
#define MAP_TEXT_MAX (3 * 340 * 12)
size_t map_text(const struct rec *r, char *buf, size_t cap);

// ---------------------------------------------------------------------------------------------
// Failure reporting (report.c)

// The status fd (4) and, in the child, the err pipe and the step being run.
void report_status_fd(int fd);
int report_get_status_fd(void);
void report_child(int err_fd);
void report_step(uint32_t step, const char *op);
void status_line(const char *buf, size_t len);
void write_all(int fd, const char *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
// A failure of the helper itself (plan, maps, cgroups, setup): a status line, exit 125.
__attribute__((noreturn, format(printf, 6, 7))) void helper_fail(uint32_t step, const char *op, int err, const char *syscall,
                                                                 const char *path, const char *fmt, ...);
// A failure of the child while it runs the operations: a line on the err pipe, _exit(125).
__attribute__((noreturn, format(printf, 4, 5))) void child_fail(int err, const char *syscall, const char *path, const char *fmt,
                                                                ...);
#define plan_fail(...) helper_fail(0, "plan", EINVAL, "-", NULL, __VA_ARGS__)

// ---------------------------------------------------------------------------------------------
// The child (child.c runs the steps; the ops live in ops-mount.c and ops-process.c, tty.c)

struct child {
  const struct plan *plan;
  int root_fd;        // the container's root: the overlay's mount, after pivot-root "/"
  int init_fd;        // the sealed init (INIT), or -1
  int tty_sock;       // the child's end of the socketpair the pty master travels over, or -1
  sigset_t orig_mask; // the signal mask the helper started with; the container gets it back
};

__attribute__((noreturn)) void child_main(struct child *c, int sync_fd, int err_fd, const struct monitor *stdio);

// ops-mount.c
void op_mount_private(void);
void op_overlay(struct child *c, const struct rec *r);
void op_mount(struct child *c, const struct rec *r);
void op_bind(struct child *c, const struct rec *r);
void op_mknod(struct child *c, const struct rec *r);
void op_symlink(struct child *c, const struct rec *r);
void op_loopback_up(void);
void op_pivot_root(struct child *c);
void op_mask(struct child *c, const struct rec *r);
void op_readonly(struct child *c, const struct rec *r);
int set_attrs(int mfd, uint64_t attrs, int rec);

// ops-process.c
void op_identity(struct child *c, const struct rec *r);
void op_caps(const struct rec *r);
__attribute__((noreturn)) void op_exec(struct child *c, const struct rec *r);

// tty.c
void op_tty(struct child *c, const struct rec *r);
int recv_fd(int sock);
void control_line(int master, const char *line);

// userns.c (before clone, in the helper)
void idmap_binds(struct plan *p);
void idmap_lowers(struct plan *p);

// sealed.c
int sealed_copy(const char *path, const char *name, const char *op);
__attribute__((noreturn)) void reexec_sealed(char *argv0);

// ---------------------------------------------------------------------------------------------
// The monitors (monitor.c: attached to the agent; monitor-socket.c: outlives it)

// What the monitor knows of the process it watches.
struct watched {
  int pidfd;
  pid_t pid;
  int sfd;  // signalfd of the forwarded signals
};

int monitor_attached(const struct watched *w, int master);
int exit_status_line(pid_t pid, char *line, size_t cap, size_t *len);

struct monitor *monitor_setup(const struct plan *p);
void monitor_child_stdio(const struct monitor *m);
void monitor_abandon(struct monitor *m);
int monitor_persistent(struct monitor *m, const struct watched *w, int master);

// relay.c
int relay_main(const char *pid_s, const char *port_s);

// launch.c
int launch_main(void);

#endif
