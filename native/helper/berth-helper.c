// berth-helper: the one place where Berth creates namespaces, mounts, pivots and execs.
//
// The agent is a multithreaded Node process, and unshare/setns/mount are per-thread or
// per-process affairs that a multithreaded process cannot do safely. So the agent never does
// them: it spawns this small single-threaded program, writes it a *launch plan* (built by
// agent/runtime/plan.ts, where all policy lives), and this program interprets the plan, one
// operation after the other, with no decisions of its own beyond "do exactly this, or say
// precisely what failed". It then stays alive as the container's monitor.
//
// File descriptors, as agent/runtime/helper.ts spawns it:
//   0, 1, 2   the container's stdin, stdout, stderr (pipes or a pty; passed through untouched)
//   3         the plan, read to EOF                               (agent -> helper)
//   4         status lines                                        (helper -> agent)
//   5         optional control lines "resize ROWS COLS\n"          (agent -> helper, with a tty)
//
// Two modes. A launch plan (NAMESPACES ...) creates a container: clone3 into new namespaces,
// mounts, pivot_root, exec. An exec plan (JOIN) enters a running one: the helper writes "0" to
// each CGROUP file (itself joins: the container's mount namespace has no cgroupfs at the host's
// path, so this comes first), then one setns(pidfd_open(init), all CLONE_NEW* flags) takes it
// into the container's namespaces; mount and pid namespaces apply to what it clones next, so the
// process it clones (no flags) is really pid N inside, with the container's root. The process
// then runs the same op interpreter: chdir, identity, tty, capabilities, no-new-privs,
// close-fds, exec. The helper stays its monitor, exactly as for a container's init.
//
// Terminals (TTY rows cols, an operation). The pty must come from the devpts instance the
// process sees at /dev/pts: for a container that is its own (newinstance), which exists only in
// the container's mount namespace, so the helper cannot open it before clone. The child opens
// /dev/pts/ptmx after pivot_root (or after setns, in exec mode), checks it is the 5:2
// multiplexer, unlocks it, sets the size, opens the slave with TIOCGPTPEER (no path lookup of
// /dev/pts/N, which the container could race), and sends the master back over a socketpair made
// before clone (SCM_RIGHTS); then setsid, TIOCSCTTY, slave onto 0-2. It runs after IDENTITY, so
// the pts belongs to the container's user. The monitor relays fd 0 -> master and master ->
// fd 1 (fd 2 stays unused), applies resize lines from fd 5, and after the exit drains what is
// still in the pty before reporting. Without TTY, fds 0-2 pass through untouched.
//
// Monitors that outlive the agent (MONITOR dir stdin). Without it the container's stdio are the
// agent's pipes, so a container dies with (or is orphaned by) the agent that started it. With
// it, the helper owns the container's stdio itself (pipes it makes, or the pty master), its fds
// 0-2 are /dev/null and the agent's only tie is a Unix socket `dir/monitor.sock` (mode 0600,
// peers other than root refused) that any later agent may connect to. On the socket, both ways,
// frames: 1 type byte, u32 little-endian length (<= 65536), payload.
//   monitor -> agent   O stdout bytes (a pty's output too)   E stderr bytes
//                      L decimal count of output bytes lost while no agent listened
//                      X the exit, as a status line ("exited N" / "killed SIGNAME")
//   agent -> monitor   i stdin bytes   c close stdin   r "ROWS COLS" (pty size)   s signal number
// One agent at a time: a new connection replaces the old one. Output made while no agent is
// connected is appended, already framed, to `dir/spill` (at most 64 MiB, then counted as lost)
// and replayed to the next agent before anything new. At the exit the monitor drains the
// output (bounded), writes `dir/exit` (the status line, by rename), sends X if an agent listens,
// removes the socket and exits: an agent that comes back later finds `exit` and `spill` and
// reads them itself. "started PID" is still the last line on fd 4, which is closed after it.
//
// ---------------------------------------------------------------------------------------------
// Wire format of the plan (fd 3). All integers are u32 little-endian.
//
//   header   "BRTH" (4 bytes) , u32 version = 1
//   record   u32 op , u32 nargs , nargs x ( u32 len , len bytes )
//   ...      records, the last one being END (op 0, no args), then EOF
//
// Every argument is a byte string that must not contain NUL. Numbers are strings of decimal
// digits (no sign, no leading "+", no spaces) and are range-checked. Paths that name something
// inside the container are absolute and resolved with openat2(RESOLVE_IN_ROOT), so a symlink in
// the image can never lead a mount out of the rootfs. Limits: 16 MiB of plan, 4096 records,
// 65536 arguments in one record, 1 MiB per argument. Anything else (short read, unknown op,
// wrong argument count, NUL byte, bad number, relative path, bytes after END, config records
// after the first operation, no EXEC at the end) is refused before anything is created, with
// `failed 0 plan EINVAL - -: <what is wrong>`.
//
// Config records (before the first operation; each at most once unless noted):
//   1  NAMESPACES  names...             of: user mount pid uts ipc net cgroup
//   2  UID_MAP     (inside outside count)...   written to /proc/PID/uid_map
//   3  GID_MAP     (inside outside count)...
//   4  SETGROUPS   "allow" | "deny"      written to /proc/PID/setgroups before gid_map
//   5  CGROUP      path                  a cgroup.procs file the child joins (repeatable)
//   6  JOIN        pid names...          exec mode: enter these namespaces of running pid
//                                        (excludes NAMESPACES and the maps; only the process
//                                        ops below are allowed: chdir identity tty capabilities
//                                        no-new-privs close-fds exec)
//   7  NETNS       path                  launch plans only: before clone3 the helper joins this
//                                        network namespace (setns(open(path), CLONE_NEWNET); an
//                                        nsfs file such as /run/netns/berth-<id>, made and
//                                        configured by the agent), so the child inherits it;
//                                        excludes "net" in NAMESPACES. The helper (the monitor)
//                                        stays in it too.
//   9  INIT        path                  launch plans only: the container's pid 1 is this static
//                                        init (native/init/berth-init.c), copied by the helper
//                                        into a sealed memfd before clone and run from it with
//                                        execveat; EXEC's command (resolved in the container's
//                                        PATH first, so "not found" is still reported) becomes
//                                        its child
//   8  MONITOR     dir stdin             a monitor that outlives the agent (launch plans only;
//                                        see "Monitors that outlive the agent" below); stdin
//                                        "1" gives the container a stdin pipe, "0" /dev/null
// Operations, executed by the child in order ("step" N is the Nth operation, from 1):
//   10 MOUNT_PRIVATE                     mount(NULL, "/", MS_REC|MS_PRIVATE)
//   11 OVERLAY   target upper work opts lower...   lowers top first; one fsconfig("lowerdir+")
//                                        per layer; attached at host path `target`, which
//                                        becomes the root that later paths are resolved in;
//                                        with a user namespace the lowers are idmapped with the
//                                        container's maps and attached on the empty dirs
//                                        `lowers/0..N-1` beside `target` first (idmap_lowers)
//   12 MOUNT     fstype target attrs opt...        fsopen/fsconfig/fsmount/move_mount;
//                                        attrs: comma list of ro nosuid nodev noexec
//                                        strictatime noatime (or "-"); opt: key=value or flag
//   13 BIND      source target attrs [idmap]   open_tree(source) [+rec], mount_setattr,
//                                        move_mount; the target is created (dir or file, like
//                                        the source). idmap "UIDMAP/GIDMAP", each a comma list
//                                        of inside:outside:count: an idmapped mount
//                                        (MOUNT_ATTR_IDMAP) through a user namespace with these
//                                        maps, made by the helper before clone; files owned by
//                                        `outside` ids show as `inside` and writes by `inside`
//                                        create files owned by `outside` (not with "rec", not in
//                                        a container with its own user namespace)
//   14 MKNOD     path mode major minor   a character device
//   15 SYMLINK   linktarget path
//   16 SETHOSTNAME name
//   17 LOOPBACK_UP                       sets IFF_UP on "lo" of the new net namespace
//   18 PIVOT_ROOT                        pivot_root(".", ".") in the rootfs, old root detached
//   19 MASK      path                    dir: read-only empty tmpfs over it; else /dev/null
//                                        bound over it; absent: nothing to do
//   20 READONLY  path                    a read-only bind of the path onto itself
//   21 CHDIR     path
//   22 IDENTITY  uid gid umask gid...    setgroups (unless SETGROUPS deny), setresgid, setresuid
//                                        (keeping capabilities), umask
//   23 CAPS      bounding effective permitted inheritable ambient   u64 masks, clamped to
//                                        the capabilities this process has
//   24 NO_NEW_PRIVS
//   25 CLOSE_FDS                         every fd above 2 closes at exec (close_range CLOEXEC)
//   26 EXEC      path argc argv... env...   a path without "/" is searched in the PATH of env
//   27 TTY       rows cols               the container's pty as controlling terminal (see above)
//   28 HOLD                              instead of EXEC: the set-up process closes its end of
//                                        the err pipe ("started") and sleeps until killed (or
//                                        the helper dies), running no program at all. Its
//                                        /proc/PID/root is the container's filesystem with its
//                                        mounts: how the agent reaches a stopped container's
//                                        files (`berth cp`) without mounting on the host.
//
// ---------------------------------------------------------------------------------------------
// The handshake. Two pipes between helper (H) and child (C), both O_CLOEXEC:
//   sync   H -> C   the child waits on it until the parent has finished setting it up
//   err    C -> H   EOF without data means execve succeeded (the CLOEXEC write end vanished);
//                   otherwise it carries one "failed ..." line written just before _exit(125)
//
//   agent                      helper (H)                          child (C)
//     |---- plan on fd 3, EOF --->|                                    .
//     |                           | read, validate everything          .
//     |                           | block the forwarded signals        .
//     |                           |-- clone3(namespaces except cgroup, CLONE_PIDFD) -->|
//     |                           |                                    | read(sync) ... blocks
//     |                           | [user ns] write /proc/C/setgroups, |
//     |                           |           uid_map, gid_map         |
//     |                           | write C's pid to each cgroup.procs |
//     |                           |------------ "1" on sync ---------->|
//     |                           |                                    | [user ns] setresgid/uid 0
//     |                           |                                    | [cgroup] unshare(NEWCGROUP)
//     |                           |                                    |   (after the join, so the
//     |                           |                                    |   container's cgroup is its
//     |                           |                                    |   cgroup namespace root)
//     |                           |                                    | op 1 .. op N-1
//     |                           |                                    | execve (op N)
//     |                           |<- EOF on err (exec happened) ------|  or
//     |                           |<- "failed S OP ERRNO SYSCALL PATH: WHAT" then _exit(125)
//     |<- "started PID" on fd 4 --|                                    |
//     |   or the failed line,     |                                    |
//     |   helper exits 125        |                                    |
//     |                           | poll(signalfd, pidfd):             |
//     |-- SIGTERM to helper ----->|-- pidfd_send_signal(SIGTERM) ----->|
//     |                           |<------------- exit ----------------|
//     |<- "exited N" | "killed SIG" on fd 4; helper exits N or 128+SIG |
//
// Failure lines have exactly this shape (one line, tokens separated by single spaces):
//   failed <step> <op> <ERRNO> <syscall> <path>: <description>
// <path> is "-" when there is none; bytes <= 0x20, 0x7f, '\\' and ':' in it are written as \xNN.
// <description> is a human phrase such as `mount "proc" on "/proc"` or `exec "nosuch"`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

// ---------------------------------------------------------------------------------------------
// Kernel ABI the libc may not name. Values are the kernel's uapi constants.

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

#define B_FSOPEN_CLOEXEC 0x1u
#define B_FSMOUNT_CLOEXEC 0x1u
#define B_FSCONFIG_SET_FLAG 0u
#define B_FSCONFIG_SET_STRING 1u
#define B_FSCONFIG_CMD_CREATE 6u
#define B_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define B_MOVE_MOUNT_T_EMPTY_PATH 0x40u
#define B_OPEN_TREE_CLONE 0x1u
#define B_AT_RECURSIVE 0x8000
#define B_MOUNT_ATTR_RDONLY 0x1ull
#define B_MOUNT_ATTR_NOSUID 0x2ull
#define B_MOUNT_ATTR_NODEV 0x4ull
#define B_MOUNT_ATTR_NOEXEC 0x8ull
#define B_MOUNT_ATTR_NOATIME 0x10ull
#define B_MOUNT_ATTR_STRICTATIME 0x20ull
#define B_MOUNT_ATTR_IDMAP 0x00100000ull
#define B_CLONE_PIDFD 0x1000ull
#define B_CLOSE_RANGE_CLOEXEC (1u << 2)

struct b_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

struct b_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
      cgroup;
};

// ---------------------------------------------------------------------------------------------
// Records

enum {
  OP_END = 0,
  OP_NAMESPACES = 1,
  OP_UID_MAP = 2,
  OP_GID_MAP = 3,
  OP_SETGROUPS = 4,
  OP_CGROUP = 5,
  OP_JOIN = 6,
  OP_NETNS = 7,
  OP_MONITOR = 8,
  OP_INIT = 9,
  OP_MOUNT_PRIVATE = 10,
  OP_OVERLAY = 11,
  OP_MOUNT = 12,
  OP_BIND = 13,
  OP_MKNOD = 14,
  OP_SYMLINK = 15,
  OP_SETHOSTNAME = 16,
  OP_LOOPBACK_UP = 17,
  OP_PIVOT_ROOT = 18,
  OP_MASK = 19,
  OP_READONLY = 20,
  OP_CHDIR = 21,
  OP_IDENTITY = 22,
  OP_CAPS = 23,
  OP_NO_NEW_PRIVS = 24,
  OP_CLOSE_FDS = 25,
  OP_EXEC = 26,
  OP_TTY = 27,
  OP_HOLD = 28,
};

// Argument kinds, for validation: a container path (absolute), a host path (absolute), a
// decimal number, or any NUL-free string.
enum { A_STR = 's', A_ABS = '/', A_NUM = 'n' };

struct opdef {
  uint32_t op;
  const char *name;    // as agent/runtime/plan.ts names it
  uint32_t min, max;   // argument counts (max UINT32_MAX: unbounded)
  const char *kinds;   // kind of each fixed argument; the last kind repeats for the rest
};

static const struct opdef OPS[] = {
    {OP_END, "end", 0, 0, ""},
    {OP_NAMESPACES, "namespaces", 1, 7, "s"},
    {OP_UID_MAP, "uid-map", 3, 3 * 340, "n"},
    {OP_GID_MAP, "gid-map", 3, 3 * 340, "n"},
    {OP_SETGROUPS, "setgroups", 1, 1, "s"},
    {OP_CGROUP, "cgroup", 1, 1, "/"},
    {OP_JOIN, "join", 1, 8, "ns"},
    {OP_NETNS, "netns", 1, 1, "/"},
    {OP_MONITOR, "monitor", 2, 2, "/n"},
    {OP_INIT, "init", 1, 1, "/"},
    {OP_MOUNT_PRIVATE, "mount-private", 0, 0, ""},
    {OP_OVERLAY, "overlay", 5, UINT32_MAX, "///s/"},
    {OP_MOUNT, "mount", 3, UINT32_MAX, "s/ss"},
    {OP_BIND, "bind", 3, 4, "//ss"},
    {OP_MKNOD, "mknod", 4, 4, "/nnn"},
    {OP_SYMLINK, "symlink", 2, 2, "s/"},
    {OP_SETHOSTNAME, "sethostname", 1, 1, "s"},
    {OP_LOOPBACK_UP, "loopback-up", 0, 0, ""},
    {OP_PIVOT_ROOT, "pivot-root", 0, 0, ""},
    {OP_MASK, "mask", 1, 1, "/"},
    {OP_READONLY, "readonly", 1, 1, "/"},
    {OP_CHDIR, "chdir", 1, 1, "/"},
    {OP_IDENTITY, "identity", 3, 3 + 65536, "nnnn"},
    {OP_CAPS, "capabilities", 5, 5, "nnnnn"},
    {OP_NO_NEW_PRIVS, "no-new-privs", 0, 0, ""},
    {OP_CLOSE_FDS, "close-fds", 0, 0, ""},
    {OP_EXEC, "exec", 3, UINT32_MAX, "snss"},
    {OP_TTY, "tty", 2, 2, "nn"},
    {OP_HOLD, "hold", 0, 0, ""},
};

#define MAX_PLAN (16u << 20)
#define MAX_RECORDS 4096u
#define MAX_ARGS 65536u
#define MAX_ARG_LEN (1u << 20)

struct rec {
  const struct opdef *def;
  uint32_t nargs;
  char **args;  // NUL-terminated copies (validated NUL-free)
};

static struct rec recs[MAX_RECORDS];
static uint32_t nrecs;

// The plan's config, gathered from the config records.
static int ns_flags;          // CLONE_NEW* (cgroup handled apart)
static int want_cgroupns;
static const struct rec *uid_map, *gid_map;
static int setgroups_deny = -1;  // -1: not given
static const char *cgroups[MAX_RECORDS];
static uint32_t ncgroups;
static uint32_t first_op;     // index of the first operation record
static int exec_mode;         // a JOIN record: enter a running container instead of creating one
static pid_t join_pid;        // its init, in the helper's pid namespace
static int join_flags;        // CLONE_NEW* of the namespaces to enter (one setns through a pidfd)
static int tty_mode;          // a TTY op: the process gets a pty of the container's devpts
static const char *netns_path;   // a NETNS record: the network namespace to join before clone
static const char *init_path;    // an INIT record: the host file of the container's init
static int init_fd = -1;         // ... sealed in a memfd before clone
static int hold_mode;            // a HOLD op: nothing is run; the holder lives only as long as its agent
static const char *monitor_dir;  // a MONITOR record: the monitor outlives the agent (see monitor_persistent)
static int monitor_stdin;        // ... and the container has a stdin the agent can write to

static int status_fd = 4;
static void monitor_child_stdio(void);
static int write_full(int fd, const void *buf, size_t len);
static int bind_userns[MAX_RECORDS];  // for idmapped binds: a user namespace fd per record, or 0
static int lower_fds[MAX_ARGS];      // user namespace: the idmapped lower dirs (idmap_lowers)
static uint32_t nlower_fds;
static int bind_mnt[MAX_RECORDS];     // user namespace: each bind's source, cloned by the helper, or 0
static int parse_attrs(const char *s, uint64_t *attrs, int *rec);

// ---------------------------------------------------------------------------------------------
// Reporting

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "EUNKNOWN";
}

// Appends `s` to buf[*n] escaped for the path token of a failure line.
static void put_escaped(char *buf, size_t cap, size_t *n, const char *s) {
  static const char hex[] = "0123456789abcdef";
  for (; *s && *n + 5 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c == 0x7f || c == '\\' || c == ':') {
      buf[(*n)++] = '\\';
      buf[(*n)++] = 'x';
      buf[(*n)++] = hex[c >> 4];
      buf[(*n)++] = hex[c & 15];
    } else {
      buf[(*n)++] = (char)c;
    }
  }
}

// Formats the failure line; the description's newlines become spaces so it stays one line.
static size_t format_failure(char *buf, size_t cap, uint32_t step, const char *op, int err, const char *syscall,
                             const char *path, const char *fmt, va_list ap) {
  size_t n = (size_t)snprintf(buf, cap, "failed %u %s %s %s ", step, op, errname(err), syscall);
  if (n >= cap) n = cap - 1;
  if (path && *path) put_escaped(buf, cap, &n, path);
  else if (n + 1 < cap) buf[n++] = '-';
  if (n + 2 < cap) {
    buf[n++] = ':';
    buf[n++] = ' ';
  }
  int m = vsnprintf(buf + n, cap - n - 1, fmt, ap);
  size_t end = m < 0 ? n : n + (size_t)m;
  if (end > cap - 2) end = cap - 2;
  for (size_t i = n; i < end; i++)
    if (buf[i] == '\n' || buf[i] == '\r') buf[i] = ' ';
  buf[end++] = '\n';
  return end;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    buf += w;
    len -= (size_t)w;
  }
}

static void status_line(const char *buf, size_t len) {
  if (fcntl(status_fd, F_GETFD) < 0) status_fd = 2;  // run by hand: report on stderr
  write_all(status_fd, buf, len);
}

// A failure of the helper itself (plan validation, maps, cgroups): report and exit 125.
__attribute__((noreturn, format(printf, 6, 7))) static void helper_fail(uint32_t step, const char *op, int err,
                                                                        const char *syscall, const char *path,
                                                                        const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_failure(buf, sizeof buf, step, op, err, syscall, path, fmt, ap);
  va_end(ap);
  status_line(buf, n);
  _exit(125);
}

#define plan_fail(...) helper_fail(0, "plan", EINVAL, "-", NULL, __VA_ARGS__)

// ---------------------------------------------------------------------------------------------
// Reading and validating the plan

static unsigned char *plan;
static size_t plan_len;

static void read_plan(int fd) {
  size_t cap = 65536;
  plan = malloc(cap);
  if (!plan) helper_fail(0, "plan", ENOMEM, "malloc", NULL, "reading the plan");
  for (;;) {
    if (plan_len == cap) {
      if (cap >= MAX_PLAN) plan_fail("the plan is larger than %u bytes", MAX_PLAN);
      cap *= 2;
      unsigned char *p = realloc(plan, cap);
      if (!p) helper_fail(0, "plan", ENOMEM, "realloc", NULL, "reading the plan");
      plan = p;
    }
    ssize_t r = read(fd, plan + plan_len, cap - plan_len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) helper_fail(0, "plan", errno, "read", NULL, "reading the plan from fd %d", fd);
    if (r == 0) break;
    plan_len += (size_t)r;
  }
  close(fd);
}

static size_t at;

static uint32_t take_u32(const char *what) {
  if (plan_len - at < 4) plan_fail("the plan ends inside %s (byte %zu of %zu)", what, at, plan_len);
  uint32_t v = (uint32_t)plan[at] | (uint32_t)plan[at + 1] << 8 | (uint32_t)plan[at + 2] << 16 |
               (uint32_t)plan[at + 3] << 24;
  at += 4;
  return v;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  if (!*s || (s[0] == '0' && s[1])) return -1;  // empty, or a leading zero
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    unsigned d = (unsigned)(*s - '0');
    if (v > (max - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static uint64_t num(const struct rec *r, uint32_t i) {
  uint64_t v = 0;
  parse_u64(r->args[i], UINT64_MAX, &v);  // validated already
  return v;
}

static const struct opdef *find_op(uint32_t op) {
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
    if (OPS[i].op == op) return &OPS[i];
  return NULL;
}

static int ns_flag(const char *name) {
  if (!strcmp(name, "user")) return CLONE_NEWUSER;
  if (!strcmp(name, "mount")) return CLONE_NEWNS;
  if (!strcmp(name, "pid")) return CLONE_NEWPID;
  if (!strcmp(name, "uts")) return CLONE_NEWUTS;
  if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
  if (!strcmp(name, "net")) return CLONE_NEWNET;
  if (!strcmp(name, "cgroup")) return CLONE_NEWCGROUP;
  return 0;
}

// "0:1000:1,5:2000:3/0:1000:1": uid map, "/", gid map; each line inside:outside:count. Writes the
// two maps in /proc's format ("0 1000 1\n...") when buffers are given. -1 when malformed.
static int parse_idmap(const char *s, char *umap, size_t ucap, char *gmap, size_t gcap) {
  const char *slash = strchr(s, '/');
  if (!slash || strchr(slash + 1, '/')) return -1;
  for (int part = 0; part < 2; part++) {
    const char *p = part ? slash + 1 : s, *end = part ? s + strlen(s) : slash;
    char *out = part ? gmap : umap;
    size_t cap = part ? gcap : ucap, n = 0;
    int lines = 0;
    while (p < end) {
      unsigned long long v[3];
      for (int i = 0; i < 3; i++) {
        if (p >= end || *p < '0' || *p > '9') return -1;
        char *q;
        errno = 0;
        v[i] = strtoull(p, &q, 10);
        if (errno || v[i] > 0xffffffffull || q > end) return -1;
        p = q;
        if (i < 2 && (p >= end || *p++ != ':')) return -1;
      }
      if (v[2] == 0 || v[0] + v[2] > 0x100000000ull || v[1] + v[2] > 0x100000000ull || ++lines > 340) return -1;
      if (p < end && *p++ != ',') return -1;
      if (out) {
        // An idmapped mount shows an on-disk id k as the id k maps to in its user namespace: the
        // namespace maps outside (on disk) -> inside (seen), the reverse of a container's map.
        int w = snprintf(out + n, cap - n, "%llu %llu %llu\n", v[1], v[0], v[2]);
        if (w < 0 || (size_t)w >= cap - n) return -1;
        n += (size_t)w;
      }
    }
    if (!lines) return -1;
  }
  return 0;
}

static void parse_plan(void) {
  at = 0;
  if (plan_len < 8 || memcmp(plan, "BRTH", 4) != 0) plan_fail("the plan does not start with \"BRTH\"");
  at = 4;
  uint32_t version = take_u32("the header");
  if (version != 1) plan_fail("plan version %u is not 1", version);
  int seen_end = 0, seen_exec = 0, seen_overlay = 0, seen_pivot = 0;
  while (!seen_end) {
    if (nrecs == MAX_RECORDS) plan_fail("more than %u records", MAX_RECORDS);
    uint32_t idx = nrecs;
    uint32_t op = take_u32("a record's op");
    uint32_t nargs = take_u32("a record's argument count");
    const struct opdef *def = find_op(op);
    if (!def) plan_fail("record %u: unknown op %u", idx, op);
    if (nargs < def->min || nargs > def->max || nargs > MAX_ARGS)
      plan_fail("record %u (%s): %u arguments, expected %u..%u", idx, def->name, nargs, def->min,
                def->max == UINT32_MAX ? MAX_ARGS : def->max);
    struct rec *r = &recs[nrecs++];
    r->def = def;
    r->nargs = nargs;
    r->args = calloc(nargs + 1, sizeof(char *));
    if (!r->args) helper_fail(0, "plan", ENOMEM, "calloc", NULL, "reading the plan");
    size_t nk = strlen(def->kinds);
    for (uint32_t i = 0; i < nargs; i++) {
      uint32_t len = take_u32("an argument's length");
      if (len > MAX_ARG_LEN) plan_fail("record %u (%s) argument %u: %u bytes is too long", idx, def->name, i, len);
      if (plan_len - at < len) plan_fail("record %u (%s) argument %u: the plan ends inside it", idx, def->name, i);
      if (memchr(plan + at, 0, len)) plan_fail("record %u (%s) argument %u contains a NUL byte", idx, def->name, i);
      char *s = malloc((size_t)len + 1);
      if (!s) helper_fail(0, "plan", ENOMEM, "malloc", NULL, "reading the plan");
      memcpy(s, plan + at, len);
      s[len] = 0;
      at += len;
      r->args[i] = s;
      char kind = nk ? def->kinds[i < nk ? i : nk - 1] : A_STR;
      uint64_t v;
      if (kind == A_NUM && parse_u64(s, UINT64_MAX, &v) != 0)
        plan_fail("record %u (%s) argument %u: \"%s\" is not a decimal number", idx, def->name, i, s);
      if (kind == A_ABS && s[0] != '/')
        plan_fail("record %u (%s) argument %u: \"%s\" is not an absolute path", idx, def->name, i, s);
    }

    int is_config = op >= OP_NAMESPACES && op < OP_MOUNT_PRIVATE;  // config records are 1..9
    if (exec_mode && !is_config && op != OP_END && op != OP_CHDIR && op != OP_IDENTITY && op != OP_CAPS &&
        op != OP_NO_NEW_PRIVS && op != OP_CLOSE_FDS && op != OP_TTY && op != OP_EXEC)
      plan_fail("record %u (%s): an exec plan only sets up the process", idx, def->name);
    if (is_config && first_op) plan_fail("record %u (%s) comes after the first operation", idx, def->name);
    if (!is_config && op != OP_END && !first_op) first_op = idx;
    if (seen_exec && op != OP_END) plan_fail("record %u (%s) comes after exec", idx, def->name);
    switch (op) {
      case OP_END:
        seen_end = 1;
        break;
      case OP_NAMESPACES:
        if (ns_flags || want_cgroupns) plan_fail("namespaces given twice");
        for (uint32_t i = 0; i < nargs; i++) {
          int f = ns_flag(r->args[i]);
          if (!f) plan_fail("unknown namespace \"%s\"", r->args[i]);
          if (f == CLONE_NEWCGROUP) want_cgroupns = 1;
          else ns_flags |= f;
        }
        break;
      case OP_UID_MAP:
      case OP_GID_MAP: {
        const struct rec **slot = op == OP_UID_MAP ? &uid_map : &gid_map;
        if (*slot) plan_fail("%s given twice", def->name);
        if (nargs % 3) plan_fail("%s: %u numbers is not a list of (inside outside count) triples", def->name, nargs);
        for (uint32_t i = 0; i < nargs; i++)
          if (num(r, i) > UINT32_MAX) plan_fail("%s: %s is out of range", def->name, r->args[i]);
        *slot = r;
        break;
      }
      case OP_SETGROUPS:
        if (setgroups_deny != -1) plan_fail("setgroups given twice");
        if (!strcmp(r->args[0], "allow")) setgroups_deny = 0;
        else if (!strcmp(r->args[0], "deny")) setgroups_deny = 1;
        else plan_fail("setgroups: \"%s\" is neither allow nor deny", r->args[0]);
        break;
      case OP_CGROUP:
        cgroups[ncgroups++] = r->args[0];
        break;
      case OP_JOIN:
        if (exec_mode) plan_fail("join given twice");
        if (num(r, 0) < 1 || num(r, 0) > INT_MAX) plan_fail("join: pid %s is out of range", r->args[0]);
        join_pid = (pid_t)num(r, 0);
        for (uint32_t i = 1; i < nargs; i++) {
          int f = ns_flag(r->args[i]);
          if (!f) plan_fail("unknown namespace \"%s\"", r->args[i]);
          join_flags |= f;
        }
        exec_mode = 1;
        break;
      case OP_NETNS:
        if (netns_path) plan_fail("netns given twice");
        netns_path = r->args[0];
        break;
      case OP_INIT:
        if (init_path) plan_fail("init given twice");
        init_path = r->args[0];
        break;
      case OP_MONITOR:
        if (monitor_dir) plan_fail("monitor given twice");
        if (num(r, 1) > 1) plan_fail("monitor: stdin flag %s is neither 0 nor 1", r->args[1]);
        monitor_dir = r->args[0];
        monitor_stdin = (int)num(r, 1);
        break;
      case OP_TTY:
        if (tty_mode) plan_fail("record %u: a second tty", idx);
        if (num(r, 0) > 65535 || num(r, 1) > 65535) plan_fail("tty: size %sx%s is out of range", r->args[0], r->args[1]);
        tty_mode = 1;
        break;
      case OP_OVERLAY:
        if (seen_overlay) plan_fail("record %u: a second overlay", idx);
        seen_overlay = 1;
        break;
      case OP_BIND:
        if (nargs == 4) {
          uint64_t a;
          int rc;
          if (parse_attrs(r->args[2], &a, &rc) == 0 && rc) plan_fail("record %u: an idmapped bind cannot be recursive", idx);
          if (parse_idmap(r->args[3], NULL, 0, NULL, 0) < 0) plan_fail("record %u: idmap \"%s\" is not UIDMAP/GIDMAP of inside:outside:count", idx, r->args[3]);
          if (ns_flags & CLONE_NEWUSER) plan_fail("record %u: idmapped binds need the host's user namespace", idx);
        }
        /* fallthrough */
      case OP_MOUNT:
      case OP_SYMLINK:
        if (!seen_overlay) plan_fail("record %u (%s) comes before the overlay", idx, def->name);
        break;
      case OP_PIVOT_ROOT:
        if (!seen_overlay || seen_pivot) plan_fail("record %u: pivot-root needs exactly one overlay before it", idx);
        seen_pivot = 1;
        break;
      case OP_MASK:
      case OP_READONLY:
      case OP_CHDIR:
        if (!seen_pivot && !(exec_mode && op == OP_CHDIR)) plan_fail("record %u (%s) comes before pivot-root", idx, def->name);
        break;
      case OP_IDENTITY:
        for (uint32_t i = 0; i < nargs; i++)
          if (num(r, i) > (i == 2 ? 0777u : 0xfffffffeu)) plan_fail("identity: %s is out of range", r->args[i]);
        break;
      case OP_MKNOD:
        if (!seen_overlay) plan_fail("record %u (%s) comes before the overlay", idx, def->name);
        if (num(r, 1) > 07777 || num(r, 2) > 0xfff || num(r, 3) > 0xfffff) plan_fail("mknod: mode or device out of range");
        break;
      case OP_HOLD:
        if (exec_mode) plan_fail("record %u: hold is for launch plans", idx);
        if (monitor_dir) plan_fail("record %u: hold and monitor exclude each other", idx);
        hold_mode = 1;
        seen_exec = 1;  // the last operation, like exec
        break;
      case OP_EXEC: {
        uint64_t argc = num(r, 1);
        if (argc < 1 || argc > nargs - 2) plan_fail("exec: argc %s does not fit %u arguments", r->args[1], nargs);
        if (!r->args[0][0]) plan_fail("exec: empty path");
        seen_exec = 1;
        break;
      }
      default:
        break;
    }
  }
  if (at != plan_len) plan_fail("%zu bytes after the end record", plan_len - at);
  if (!seen_exec) plan_fail("the plan has no exec");
  if ((uid_map || gid_map || setgroups_deny != -1) && !(ns_flags & CLONE_NEWUSER))
    plan_fail("uid/gid maps without a user namespace");
  if ((ns_flags & CLONE_NEWUSER) && (!uid_map || !gid_map)) plan_fail("a user namespace needs a uid-map and a gid-map");
  if (seen_overlay && !(ns_flags & CLONE_NEWNS)) plan_fail("mounts need a mount namespace");
  if (exec_mode && (ns_flags || want_cgroupns || uid_map || gid_map || setgroups_deny != -1))
    plan_fail("join (enter a running container) and namespaces (create one) exclude each other");
  if (exec_mode && monitor_dir) plan_fail("monitor is for containers, not for exec plans");
  if (exec_mode && init_path) plan_fail("init is for containers, not for exec plans");
  if (netns_path && (exec_mode || (ns_flags & CLONE_NEWNET)))
    plan_fail("netns (join a network namespace) excludes join and a new \"net\" namespace");
  free(plan);
  plan = NULL;
}

// ---------------------------------------------------------------------------------------------
// Small parsers shared by validation and execution

// Mount attributes: a comma list of ro nosuid nodev noexec strictatime noatime rec, or "-".
static int parse_attrs(const char *s, uint64_t *attrs, int *rec) {
  *attrs = 0;
  *rec = 0;
  if (!strcmp(s, "-")) return 0;
  const char *p = s;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
#define IS(w) (n == sizeof(w) - 1 && !strncmp(p, w, n))
    if (IS("ro")) *attrs |= B_MOUNT_ATTR_RDONLY;
    else if (IS("nosuid")) *attrs |= B_MOUNT_ATTR_NOSUID;
    else if (IS("nodev")) *attrs |= B_MOUNT_ATTR_NODEV;
    else if (IS("noexec")) *attrs |= B_MOUNT_ATTR_NOEXEC;
    else if (IS("strictatime")) *attrs |= B_MOUNT_ATTR_STRICTATIME;
    else if (IS("noatime")) *attrs |= B_MOUNT_ATTR_NOATIME;
    else if (IS("rec")) *rec = 1;
    else return -1;
#undef IS
    p += n;
    if (*p == ',') p++;
  }
  return 0;
}

static void validate_attrs(void) {
  for (uint32_t i = first_op; i < nrecs; i++) {
    const struct rec *r = &recs[i];
    uint64_t a;
    int rec;
    if ((r->def->op == OP_MOUNT || r->def->op == OP_BIND) && parse_attrs(r->args[2], &a, &rec) != 0)
      plan_fail("record %u (%s): bad mount attributes \"%s\"", i, r->def->name, r->args[2]);
    if (r->def->op == OP_MOUNT && rec) plan_fail("record %u (mount): \"rec\" is for binds", i);
  }
}

// ---------------------------------------------------------------------------------------------
// The child: runs the operations in order, then execs

static int err_fd = -1;   // write end of the err pipe (O_CLOEXEC: vanishes at execve)
static uint32_t cur_step;
static const char *cur_op = "setup";
static int root_fd = -1;  // the container's root: the overlay's mount, after pivot-root "/"

__attribute__((noreturn, format(printf, 4, 5))) static void child_fail(int err, const char *syscall, const char *path,
                                                                       const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_failure(buf, sizeof buf, cur_step, cur_op, err, syscall, path, fmt, ap);
  va_end(ap);
  write_all(err_fd, buf, n);
  _exit(125);
}

// Opens `path` (absolute, inside the container) with every component resolved inside root_fd:
// ".." stops at the root, absolute symlinks restart at the root, /proc magic links are refused.
static int open_in_root(const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = 0, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  for (int tries = 0;; tries++) {
    int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR) || tries > 16) return fd;
  }
}

// Splits "/a/b/c" into "/a/b" and "c" in `dir` (PATH_MAX bytes); refuses "", "." and "..".
static int split_path(const char *path, char *dir, const char **base) {
  size_t len = strlen(path);
  if (len >= PATH_MAX) return errno = ENAMETOOLONG, -1;
  memcpy(dir, path, len + 1);
  while (len > 1 && dir[len - 1] == '/') dir[--len] = 0;
  char *slash = strrchr(dir, '/');
  if (!slash) return errno = EINVAL, -1;
  *slash = 0;
  if (!dir[0]) strcpy(dir, "/");
  char *b = slash + 1;
  if (!b[0] || !strcmp(b, ".") || !strcmp(b, "..")) return errno = EINVAL, -1;
  *base = b;  // points into `dir`, after the NUL that ends the directory part
  return 0;
}

static char split_buf[PATH_MAX];

// The directory at `path` inside the root, created (0755, like mkdir -p) where missing. Each
// missing component is made with mkdirat in its parent, itself resolved inside the root, so a
// symlink can redirect creation only to another place inside the root.
static int dir_in_root(const char *path, const char **call) {
  *call = "openat2";
  int fd = open_in_root(path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) return fd;
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= PATH_MAX) return errno = ENAMETOOLONG, -1;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1;;) {
    char *slash = strchr(p, '/');
    if (slash) *slash = 0;
    if (*p && strcmp(p, ".") && strcmp(p, "..")) {
      int cfd = open_in_root(buf, O_PATH | O_DIRECTORY);
      if (cfd < 0 && errno == ENOENT) {
        char saved = p[-1];
        p[-1] = 0;
        int pfd = open_in_root(buf[0] ? buf : "/", O_PATH | O_DIRECTORY);
        p[-1] = saved;
        if (pfd < 0) return -1;
        *call = "mkdirat";
        int r = mkdirat(pfd, p, 0755);
        int e = errno;
        close(pfd);
        if (r < 0 && e != EEXIST) return errno = e, -1;
        *call = "openat2";
        cfd = open_in_root(buf, O_PATH | O_DIRECTORY);
      }
      if (cfd < 0) return -1;
      close(cfd);
    }
    if (!slash) break;
    *slash = '/';
    p = slash + 1;
  }
  return open_in_root(path, O_PATH | O_DIRECTORY);
}

// The non-directory at `path` inside the root, created as an empty 0644 file when missing.
static int file_in_root(const char *path, const char **call) {
  *call = "openat2";
  int fd = open_in_root(path, O_PATH);
  if (fd >= 0 || errno != ENOENT) return fd;
  const char *base;
  if (split_path(path, split_buf, &base) < 0) return -1;
  char dir[PATH_MAX];
  strcpy(dir, split_buf);
  int pfd = dir_in_root(dir, call);
  if (pfd < 0) return -1;
  *call = "openat";
  int f = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  int e = errno;
  close(pfd);
  if (f < 0 && e != EEXIST) return errno = e, -1;
  if (f >= 0) close(f);
  *call = "openat2";
  return open_in_root(path, O_PATH);
}

// The parent directory of `path` inside the root (created if missing); *base gets the last name.
static int parent_in_root(const char *path, const char **base, const char **call) {
  *call = "openat2";
  if (split_path(path, split_buf, base) < 0) return -1;
  char dir[PATH_MAX];
  strcpy(dir, split_buf);
  return dir_in_root(dir, call);
}

static int move_mount_fd(int from, int to) {
  return (int)syscall(SYS_move_mount, from, "", to, "", B_MOVE_MOUNT_F_EMPTY_PATH | B_MOVE_MOUNT_T_EMPTY_PATH);
}

static int set_attrs(int mfd, uint64_t attrs, int rec) {
  struct b_mount_attr a = {.attr_set = attrs};
  return (int)syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH | (rec ? B_AT_RECURSIVE : 0), &a, sizeof a);
}

// What the filesystem context said about a failure ("e overlay: ..."), for the message.
static const char *fs_log(int fsfd) {
  static char out[1024];
  size_t n = 0;
  out[0] = 0;
  char line[512];
  for (;;) {
    ssize_t r = read(fsfd, line, sizeof line - 1);
    if (r <= 0) break;
    line[r] = 0;
    n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? "; " : " (", line);
    if (n >= sizeof out - 2) break;
  }
  if (n && n < sizeof out - 1) strcat(out, ")");
  return out;
}

// One fsconfig call: "key=value" sets a string, a bare "key" sets a flag.
static void fs_option(int fs, const char *opt, const char *path, const char *what) {
  char key[256];
  const char *eq = strchr(opt, '=');
  size_t kl = eq ? (size_t)(eq - opt) : strlen(opt);
  if (kl == 0 || kl >= sizeof key) child_fail(EINVAL, "fsconfig", path, "%s: bad option \"%s\"", what, opt);
  memcpy(key, opt, kl);
  key[kl] = 0;
  int r = eq ? (int)syscall(SYS_fsconfig, fs, B_FSCONFIG_SET_STRING, key, eq + 1, 0)
             : (int)syscall(SYS_fsconfig, fs, B_FSCONFIG_SET_FLAG, key, NULL, 0);
  if (r < 0) {
    int e = errno;
    child_fail(e, "fsconfig", path, "%s: option \"%s\"%s", what, opt, fs_log(fs));
  }
}

// fsopen, then the options: those of the array, then those of the comma list `csv` (may be
// NULL). Returns the filesystem context; on failure exits the child with a message naming `what`.
static int make_fs(const char *fstype, char **opts, uint32_t nopts, const char *csv, const char *path, const char *what) {
  int fs = (int)syscall(SYS_fsopen, fstype, B_FSOPEN_CLOEXEC);
  if (fs < 0) child_fail(errno, "fsopen", path, "%s", what);
  for (uint32_t i = 0; i < nopts; i++) fs_option(fs, opts[i], path, what);
  while (csv && *csv) {
    char opt[PATH_MAX];
    size_t n = strcspn(csv, ",");
    if (n >= sizeof opt) child_fail(E2BIG, "fsconfig", path, "%s: option too long", what);
    memcpy(opt, csv, n);
    opt[n] = 0;
    if (n) fs_option(fs, opt, path, what);
    csv += n + (csv[n] == ',');
  }
  return fs;
}

static int finish_fs(int fs, uint64_t attrs, const char *path, const char *what) {
  if (syscall(SYS_fsconfig, fs, B_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
    int e = errno;
    child_fail(e, "fsconfig", path, "%s%s", what, fs_log(fs));
  }
  int mnt = (int)syscall(SYS_fsmount, fs, B_FSMOUNT_CLOEXEC, (unsigned)attrs);
  if (mnt < 0) child_fail(errno, "fsmount", path, "%s", what);
  close(fs);
  return mnt;
}

static void op_overlay(const struct rec *r) {
  const char *target = r->args[0];
  char what[PATH_MAX + 64];
  snprintf(what, sizeof what, "mount overlay on \"%s\"", target);
  // In a user namespace the layers come as idmapped mounts the helper made (idmap_lowers); each
  // is attached on `lowers/N` beside the mount point (empty dirs the agent made; the store's own
  // directories are not for the container's root to look through), and given by that path.
  static char staged[PATH_MAX];
  int fs = make_fs("overlay", NULL, 0, strcmp(r->args[3], "-") ? r->args[3] : NULL, target, what);
  for (uint32_t i = 4; i < r->nargs; i++) {
    const char *lower = r->args[i];
    if (nlower_fds) {
      const char *slash = strrchr(target, '/');
      int n = snprintf(staged, sizeof staged, "%.*s/lowers/%u", (int)(slash - target), target, i - 4);
      if (n < 0 || (size_t)n >= sizeof staged) child_fail(ENAMETOOLONG, "snprintf", target, "%s: lower dir %u", what, i - 3);
      if (syscall(SYS_move_mount, lower_fds[i - 4], "", AT_FDCWD, staged, B_MOVE_MOUNT_F_EMPTY_PATH) < 0)
        child_fail(errno, "move_mount", staged, "%s: attach idmapped lower dir %u", what, i - 3);
      lower = staged;
    }
    if (syscall(SYS_fsconfig, fs, B_FSCONFIG_SET_STRING, "lowerdir+", lower, 0) < 0) {
      int e = errno;
      child_fail(e, "fsconfig", r->args[i], "%s: lower dir %u%s", what, i - 3, fs_log(fs));
    }
  }
  if (syscall(SYS_fsconfig, fs, B_FSCONFIG_SET_STRING, "upperdir", r->args[1], 0) < 0) {
    int e = errno;
    child_fail(e, "fsconfig", r->args[1], "%s: upper dir%s", what, fs_log(fs));
  }
  if (syscall(SYS_fsconfig, fs, B_FSCONFIG_SET_STRING, "workdir", r->args[2], 0) < 0) {
    int e = errno;
    child_fail(e, "fsconfig", r->args[2], "%s: work dir%s", what, fs_log(fs));
  }
  int mnt = finish_fs(fs, 0, target, what);
  // The mount point, upper and work dirs are looked up here, in our own mount namespace (an fd of
  // the helper's would name the host's mount): the agent leaves the path traversable (0711).
  if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, B_MOVE_MOUNT_F_EMPTY_PATH) < 0)
    child_fail(errno, "move_mount", target, "%s", what);
  root_fd = mnt;
}

static void op_mount(const struct rec *r) {
  const char *fstype = r->args[0], *target = r->args[1];
  uint64_t attrs;
  int rec;
  parse_attrs(r->args[2], &attrs, &rec);
  char what[PATH_MAX + 64];
  snprintf(what, sizeof what, "mount \"%s\" on \"%s\"", fstype, target);
  int fs = make_fs(fstype, r->args + 3, r->nargs - 3, NULL, target, what);
  int mnt = finish_fs(fs, attrs, target, what);
  const char *call;
  int tfd = dir_in_root(target, &call);
  if (tfd < 0) child_fail(errno, call, target, "%s", what);
  if (move_mount_fd(mnt, tfd) < 0) child_fail(errno, "move_mount", target, "%s", what);
  close(mnt);
  close(tfd);
}


static void op_bind(const struct rec *r) {
  const char *source = r->args[0], *target = r->args[1];
  uint64_t attrs;
  int rec;
  parse_attrs(r->args[2], &attrs, &rec);
  char what[2 * PATH_MAX + 64];
  snprintf(what, sizeof what, "bind \"%s\" on \"%s\"", source, target);
  int mnt = bind_mnt[r - recs] > 0 ? bind_mnt[r - recs]  // user namespace: cloned (and attrs set) by the helper
                                   : (int)syscall(SYS_open_tree, AT_FDCWD, source, B_OPEN_TREE_CLONE | O_CLOEXEC | (rec ? B_AT_RECURSIVE : 0));
  if (mnt < 0) child_fail(errno, "open_tree", source, "%s", what);
  int userns = bind_userns[r - recs];
  if (bind_mnt[r - recs] > 0) {
    // attrs applied already
  } else if (userns > 0) {
    struct b_mount_attr a = {.attr_set = attrs | B_MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &a, sizeof a) < 0) child_fail(errno, "mount_setattr", source, "%s (idmapped)", what);
  } else if (attrs && set_attrs(mnt, attrs, rec) < 0) child_fail(errno, "mount_setattr", source, "%s", what);
  struct stat st;
  if (fstat(mnt, &st) < 0) child_fail(errno, "fstat", source, "%s", what);
  const char *call;
  int tfd = S_ISDIR(st.st_mode) ? dir_in_root(target, &call) : file_in_root(target, &call);
  if (tfd < 0) child_fail(errno, call, target, "%s", what);
  struct stat ts;
  if (fstat(tfd, &ts) == 0 && S_ISDIR(ts.st_mode) != S_ISDIR(st.st_mode))
    child_fail(S_ISDIR(st.st_mode) ? ENOTDIR : EISDIR, "move_mount", target, "%s: one is a directory, the other not", what);
  if (move_mount_fd(mnt, tfd) < 0) child_fail(errno, "move_mount", target, "%s", what);
  close(mnt);
  close(tfd);
}

static void op_mknod(const struct rec *r) {
  const char *path = r->args[0], *base, *call;
  int pfd = parent_in_root(path, &base, &call);
  if (pfd < 0) child_fail(errno, call, path, "mknod \"%s\"", path);
  if (mknodat(pfd, base, S_IFCHR | (mode_t)num(r, 1), makedev((unsigned)num(r, 2), (unsigned)num(r, 3))) < 0)
    child_fail(errno, "mknodat", path, "mknod \"%s\"", path);
  close(pfd);
}

static void op_symlink(const struct rec *r) {
  const char *path = r->args[1], *base, *call;
  int pfd = parent_in_root(path, &base, &call);
  if (pfd < 0) child_fail(errno, call, path, "symlink \"%s\"", path);
  if (symlinkat(r->args[0], pfd, base) < 0) child_fail(errno, "symlinkat", path, "symlink \"%s\" -> \"%s\"", path, r->args[0]);
  close(pfd);
}

static void op_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) child_fail(errno, "socket", NULL, "bring up the loopback interface");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) child_fail(errno, "ioctl", NULL, "SIOCGIFFLAGS on \"lo\"");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) child_fail(errno, "ioctl", NULL, "SIOCSIFFLAGS on \"lo\"");
  close(s);
}

static void op_pivot_root(void) {
  if (fchdir(root_fd) < 0) child_fail(errno, "fchdir", NULL, "enter the rootfs");
  // The new root is stacked under the old one at "/"; detaching "." then drops the old root and
  // everything below it (the host's mounts) from this namespace. Propagation is private by now,
  // so nothing of this reaches the host.
  if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(errno, "pivot_root", NULL, "pivot_root into the rootfs");
  if (umount2(".", MNT_DETACH) < 0) child_fail(errno, "umount2", NULL, "detach the old root");
  if (chdir("/") < 0) child_fail(errno, "chdir", "/", "chdir \"/\"");
  close(root_fd);
  root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) child_fail(errno, "open", "/", "open the new root");
}

static void op_mask(const struct rec *r) {
  const char *path = r->args[0];
  int fd = open_in_root(path, O_PATH);
  if (fd < 0 && errno == ENOENT) return;
  if (fd < 0) child_fail(errno, "openat2", path, "mask \"%s\"", path);
  struct stat st;
  if (fstat(fd, &st) < 0) child_fail(errno, "fstat", path, "mask \"%s\"", path);
  int mnt;
  if (S_ISDIR(st.st_mode)) {
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "mask \"%s\"", path);
    mnt = finish_fs(make_fs("tmpfs", NULL, 0, "size=0,mode=755", path, what), B_MOUNT_ATTR_RDONLY, path, what);
  } else {
    int nfd = open_in_root("/dev/null", O_PATH);
    if (nfd < 0) child_fail(errno, "openat2", "/dev/null", "mask \"%s\"", path);
    mnt = (int)syscall(SYS_open_tree, nfd, "", B_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
    if (mnt < 0) child_fail(errno, "open_tree", "/dev/null", "mask \"%s\"", path);
    close(nfd);
  }
  if (move_mount_fd(mnt, fd) < 0) child_fail(errno, "move_mount", path, "mask \"%s\"", path);
  close(mnt);
  close(fd);
}

static void op_readonly(const struct rec *r) {
  const char *path = r->args[0];
  int fd = open_in_root(path, O_PATH);
  if (fd < 0 && errno == ENOENT) return;
  if (fd < 0) child_fail(errno, "openat2", path, "make \"%s\" read-only", path);
  int mnt = (int)syscall(SYS_open_tree, fd, "", B_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | B_AT_RECURSIVE);
  if (mnt < 0) child_fail(errno, "open_tree", path, "make \"%s\" read-only", path);
  if (set_attrs(mnt, B_MOUNT_ATTR_RDONLY, 1) < 0) child_fail(errno, "mount_setattr", path, "make \"%s\" read-only", path);
  if (move_mount_fd(mnt, fd) < 0) child_fail(errno, "move_mount", path, "make \"%s\" read-only", path);
  close(mnt);
  close(fd);
}

static void op_identity(const struct rec *r) {
  uid_t uid = (uid_t)num(r, 0);
  gid_t gid = (gid_t)num(r, 1);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail(errno, "prctl", NULL, "PR_SET_KEEPCAPS");
  if (setgroups_deny != 1) {
    uint32_t n = r->nargs - 3;
    gid_t *gids = calloc(n ? n : 1, sizeof(gid_t));
    if (!gids) child_fail(ENOMEM, "calloc", NULL, "supplementary groups");
    for (uint32_t i = 0; i < n; i++) gids[i] = (gid_t)num(r, 3 + i);
    if (setgroups(n, gids) < 0) child_fail(errno, "setgroups", NULL, "set %u supplementary groups", n);
    free(gids);
  }
  if (setresgid(gid, gid, gid) < 0) child_fail(errno, "setresgid", NULL, "setgid %u", (unsigned)gid);
  if (setresuid(uid, uid, uid) < 0) child_fail(errno, "setresuid", NULL, "setuid %u", (unsigned)uid);
  umask((mode_t)num(r, 2));
}

static void op_caps(const struct rec *r) {
  uint64_t bnd = num(r, 0), eff = num(r, 1), prm = num(r, 2), inh = num(r, 3), amb = num(r, 4);
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) < 0) child_fail(errno, "capget", NULL, "read capabilities");
  uint64_t have = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
  // Effective := permitted, so CAP_SETPCAP is usable for the bounding set (after a setuid to a
  // non-root user, PR_SET_KEEPCAPS kept the permitted set but cleared the effective one).
  d[0].effective = d[0].permitted;
  d[1].effective = d[1].permitted;
  if (syscall(SYS_capset, &h, d) < 0) child_fail(errno, "capset", NULL, "raise the effective capabilities");
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // EINVAL: past the kernel's last capability
    if (!(bnd >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      child_fail(errno, "prctl", NULL, "PR_CAPBSET_DROP %d", cap);
  }
  prm &= have;
  eff &= prm;
  inh &= prm & bnd;
  amb &= prm & inh;
  d[0].effective = (uint32_t)eff;
  d[1].effective = (uint32_t)(eff >> 32);
  d[0].permitted = (uint32_t)prm;
  d[1].permitted = (uint32_t)(prm >> 32);
  d[0].inheritable = (uint32_t)inh;
  d[1].inheritable = (uint32_t)(inh >> 32);
  if (syscall(SYS_capset, &h, d) < 0) child_fail(errno, "capset", NULL, "set capabilities");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) child_fail(errno, "prctl", NULL, "PR_CAP_AMBIENT_CLEAR_ALL");
  for (int cap = 0; cap < 64; cap++)
    if ((amb >> cap & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      child_fail(errno, "prctl", NULL, "PR_CAP_AMBIENT_RAISE %d", cap);
}

// With INIT: the command is resolved here, in the container (as execve would: an executable
// regular file, first match in PATH), so that a wrong command fails the start as without an init;
// then the sealed init runs as pid 1 with "PATH ARGV0 ARGS..." and starts it.
__attribute__((noreturn)) static void exec_init(const char *file, uint32_t argc, char **argv, uint32_t envc, char **envp) {
  static char full[PATH_MAX];
  const char *found = NULL;
  int seen_eacces = 0;
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) < 0) child_fail(errno, "stat", file, "exec \"%s\"", file);
    if (!S_ISREG(st.st_mode) || access(file, X_OK) < 0) child_fail(EACCES, "access", file, "exec \"%s\"", file);
    found = file;
  } else {
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (uint32_t i = 0; i < envc; i++)
      if (!strncmp(envp[i], "PATH=", 5)) path = envp[i] + 5;
    for (const char *p = path; !found;) {
      const char *e = strchr(p, ':');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n + strlen(file) + 2 < sizeof full) {
        if (n == 0) snprintf(full, sizeof full, "%s", file);
        else snprintf(full, sizeof full, "%.*s/%s", (int)n, p, file);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
          if (access(full, X_OK) == 0) found = full;
          else seen_eacces = 1;
        }
      }
      if (!e) break;
      p = e + 1;
    }
    if (!found) child_fail(seen_eacces ? EACCES : ENOENT, "execve", file, "exec \"%s\"", file);
  }
  char **iargv = calloc(argc + 3, sizeof(char *));
  if (!iargv) child_fail(ENOMEM, "calloc", NULL, "exec");
  iargv[0] = "berth-init";
  iargv[1] = (char *)found;
  for (uint32_t i = 0; i < argc; i++) iargv[2 + i] = argv[i];
  syscall(SYS_execveat, init_fd, "", iargv, envp, AT_EMPTY_PATH);
  child_fail(errno, "execveat", init_path, "exec the init (\"%s\")", init_path);
}

// A user namespace with the maps of `idmap` (see BIND), as an fd: a child unshares one and waits,
// the helper writes its maps, keeps /proc/CHILD/ns/user open and lets the child go.
static int maps_userns(const char *umap, const char *gmap, const char *idmap);

static int idmap_userns(const char *idmap) {
  static char umap[340 * 36], gmap[340 * 36];
  if (parse_idmap(idmap, umap, sizeof umap, gmap, sizeof gmap) < 0) helper_fail(0, "bind", EINVAL, "-", NULL, "idmap \"%s\"", idmap);
  return maps_userns(umap, gmap, idmap);
}

// The same, from maps in /proc's format; `idmap` names them in errors.
static int maps_userns(const char *umap, const char *gmap, const char *idmap) {
  char path[64];
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) helper_fail(0, "bind", errno, "pipe2", NULL, "idmapped mount");
  pid_t pid = fork();
  if (pid < 0) helper_fail(0, "bind", errno, "fork", NULL, "idmapped mount");
  if (pid == 0) {
    close(ready[0]);
    close(go[1]);  // else the read below never sees the helper's EOF
    char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    if (read(go[0], &c, 1) < 0) _exit(1);  // EOF: the helper is done with us
    _exit(0);
  }
  close(ready[1]);
  close(go[0]);
  char c = 0;
  if (read(ready[0], &c, 1) != 1 || c != 'u') {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    helper_fail(0, "bind", EPERM, "unshare", NULL, "a user namespace for an idmapped mount");
  }
  int fd = -1;
  const char *files[2][2] = {{"uid_map", umap}, {"gid_map", gmap}};
  int ok = 1;
  for (int i = 0; i < 2 && ok; i++) {
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i][0]);
    int m = open(path, O_WRONLY | O_CLOEXEC);
    ok = m >= 0 && write(m, files[i][1], strlen(files[i][1])) == (ssize_t)strlen(files[i][1]);
    if (m >= 0) close(m);
  }
  if (ok) {
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  int err = errno;
  close(go[1]);
  close(ready[0]);
  waitpid(pid, NULL, 0);
  if (fd < 0) helper_fail(0, "bind", err, "open", path, "the user namespace of an idmapped mount (maps \"%s\")", idmap);
  return fd;
}

// With a user namespace, the image's layers (owned by the host's root) are idmapped with the
// container's own maps, so that their files belong to the container's root, not to nobody. The
// helper makes one detached idmapped mount per lower dir before clone (only the host's root may);
// the child attaches each over its own path in its private mount namespace and gives the overlay
// the same paths (op_overlay). Nothing changes on the host.
static void idmap_lowers(void) {
  const struct rec *ov = NULL;
  for (uint32_t i = first_op; i < nrecs; i++)
    if (recs[i].def->op == OP_OVERLAY) ov = &recs[i];
  if (!ov) return;
  static char umap[3 * 340 * 12], gmap[3 * 340 * 12];
  size_t un = 0, gn = 0;
  for (uint32_t i = 0; i + 2 < uid_map->nargs; i += 3)
    un += (size_t)snprintf(umap + un, sizeof umap - un, "%s %s %s\n", uid_map->args[i], uid_map->args[i + 1], uid_map->args[i + 2]);
  for (uint32_t i = 0; i + 2 < gid_map->nargs; i += 3)
    gn += (size_t)snprintf(gmap + gn, sizeof gmap - gn, "%s %s %s\n", gid_map->args[i], gid_map->args[i + 1], gid_map->args[i + 2]);
  int userns = maps_userns(umap, gmap, "the container's maps");
  // The child, root of its user namespace only, may not look up paths in the store (0700, host
  // root's): the bind sources are cloned here (with their attributes) and passed as fds.
  for (uint32_t i = first_op; i < nrecs; i++) {
    const struct rec *b = &recs[i];
    if (b->def->op != OP_BIND) continue;
    uint64_t attrs;
    int rc;
    parse_attrs(b->args[2], &attrs, &rc);
    int m = (int)syscall(SYS_open_tree, AT_FDCWD, b->args[0], B_OPEN_TREE_CLONE | O_CLOEXEC | (rc ? B_AT_RECURSIVE : 0));
    if (m < 0) helper_fail(i - first_op + 1, "bind", errno, "open_tree", b->args[0], "bind \"%s\" on \"%s\"", b->args[0], b->args[1]);
    if (attrs && set_attrs(m, attrs, rc) < 0) helper_fail(i - first_op + 1, "bind", errno, "mount_setattr", b->args[0], "bind \"%s\" on \"%s\"", b->args[0], b->args[1]);
    bind_mnt[i] = m;
  }
  for (uint32_t i = 4; i < ov->nargs; i++) {
    const char *lower = ov->args[i];
    int mnt = (int)syscall(SYS_open_tree, AT_FDCWD, lower, B_OPEN_TREE_CLONE | O_CLOEXEC);
    if (mnt < 0) helper_fail(0, "overlay", errno, "open_tree", lower, "idmap lower dir %u", i - 3);
    struct b_mount_attr a = {.attr_set = B_MOUNT_ATTR_IDMAP | B_MOUNT_ATTR_NOSUID | B_MOUNT_ATTR_NODEV, .userns_fd = (uint64_t)userns};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
      helper_fail(0, "overlay", errno, "mount_setattr", lower, "idmap lower dir %u", i - 3);
    lower_fds[nlower_fds++] = mnt;
  }
  close(userns);
}

// Before clone: the init binary copied into a memfd that nothing can change any more.
// A copy of the file `path` in a memfd named `name`, sealed against any change; fails as `op`.
static int sealed_copy(const char *path, const char *name, const char *op) {
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) helper_fail(0, op, errno, "open", path, "open %s to seal it", path);
  int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) helper_fail(0, op, errno, "memfd_create", NULL, "a memfd for %s", path);
  char buf[65536];
  ssize_t n;
  while ((n = read(src, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || write_full(fd, buf, (size_t)n) < 0) helper_fail(0, op, errno, "read", path, "copy %s into a memfd", path);
  }
  close(src);
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    helper_fail(0, op, errno, "fcntl", NULL, "seal the memfd of %s", path);
  return fd;
}

static void seal_init(void) {
  init_fd = sealed_copy(init_path, "berth-init", "init");
}

static void op_exec(const struct rec *r) {
  uint32_t argc = (uint32_t)num(r, 1);
  uint32_t envc = r->nargs - 2 - argc;
  char **argv = calloc(argc + 1, sizeof(char *));
  char **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) child_fail(ENOMEM, "calloc", NULL, "exec");
  for (uint32_t i = 0; i < argc; i++) argv[i] = r->args[2 + i];
  for (uint32_t i = 0; i < envc; i++) envp[i] = r->args[2 + argc + i];
  const char *file = r->args[0];
  prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);  // from here on the container outlives a dead monitor
  if (init_fd >= 0) exec_init(file, argc, argv, envc, envp);
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    child_fail(errno, "execve", file, "exec \"%s\"", file);
  }
  // Search the PATH the container will see, the way a shell would.
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (uint32_t i = 0; i < envc; i++)
    if (!strncmp(envp[i], "PATH=", 5)) path = envp[i] + 5;
  int seen_eacces = 0;
  char full[PATH_MAX];
  for (const char *p = path;;) {
    const char *e = strchr(p, ':');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n + strlen(file) + 2 < sizeof full) {
      if (n == 0) snprintf(full, sizeof full, "%s", file);
      else snprintf(full, sizeof full, "%.*s/%s", (int)n, p, file);
      execve(full, argv, envp);
      if (errno == EACCES) seen_eacces = 1;
      else if (errno != ENOENT && errno != ENOTDIR) child_fail(errno, "execve", full, "exec \"%s\"", file);
    }
    if (!e) break;
    p = e + 1;
  }
  child_fail(seen_eacces ? EACCES : ENOENT, "execve", file, "exec \"%s\"", file);
}

static int tty_sock = -1;  // the child's end of the socketpair the pty master travels over

// Passes `fd` over the Unix socket `sock` (SCM_RIGHTS, with one byte of data).
static int send_fd(int sock, int fd) {
  char c = 'm';
  struct iovec iov = {&c, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -1;
}

// TTY rows cols: a new pty of the devpts instance the process sees at /dev/pts (the container's
// own, newinstance), the slave its controlling terminal and its fds 0-2, the master to the monitor.
static void op_tty(const struct rec *r) {
  const char *ptmx = "/dev/pts/ptmx";
  int m = open(ptmx, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (m < 0) child_fail(errno, "open", ptmx, "open the container's pty multiplexer");
  struct stat st;
  if (fstat(m, &st) < 0) child_fail(errno, "fstat", ptmx, "open the container's pty multiplexer");
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
    child_fail(ENOTTY, "fstat", ptmx, "\"%s\" is not a pty multiplexer (5:2)", ptmx);
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) child_fail(errno, "ioctl", ptmx, "unlock the pty (TIOCSPTLCK)");
  struct winsize ws = {.ws_row = (unsigned short)num(r, 0), .ws_col = (unsigned short)num(r, 1)};
  if (ioctl(m, TIOCSWINSZ, &ws) < 0) child_fail(errno, "ioctl", ptmx, "set the window size (TIOCSWINSZ)");
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) child_fail(errno, "ioctl", ptmx, "open the pty's slave (TIOCGPTPEER)");
  if (send_fd(tty_sock, m) < 0) child_fail(errno ? errno : EPIPE, "sendmsg", NULL, "hand the pty master to the monitor");
  close(m);
  close(tty_sock);
  tty_sock = -1;
  if (setsid() < 0) child_fail(errno, "setsid", NULL, "start a session for the terminal");
  if (ioctl(s, TIOCSCTTY, 0) < 0) child_fail(errno, "ioctl", NULL, "make the pty the controlling terminal (TIOCSCTTY)");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(s, fd) < 0) child_fail(errno, "dup2", NULL, "make the pty fd %d", fd);
  if (s > 2) close(s);
}

static sigset_t orig_mask;

__attribute__((noreturn)) static void child_main(int sync_fd) {
  // Signals: the helper blocked some and ignores SIGPIPE; the container starts clean.
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &orig_mask, NULL);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // the helper died during setup: do not linger
  if (exec_mode) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // in the container's pid namespace: no /proc/PID/exe for its processes (execve resets it)
  char c;
  ssize_t n;
  do n = read(sync_fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) child_fail(EPIPE, "read", NULL, "the helper went away before releasing the container");
  close(sync_fd);
  if (monitor_dir) monitor_child_stdio();
  if (ns_flags & CLONE_NEWUSER) {
    // Become the namespace's root (mapped now), so files created while setting up have owners.
    if (setresgid(0, 0, 0) < 0) child_fail(errno, "setresgid", NULL, "become root in the user namespace");
    if (setresuid(0, 0, 0) < 0) child_fail(errno, "setresuid", NULL, "become root in the user namespace");
  }
  if (want_cgroupns && unshare(CLONE_NEWCGROUP) < 0) child_fail(errno, "unshare", NULL, "create the cgroup namespace");
  umask(0);  // modes in the plan are exact; IDENTITY sets the container's umask
  for (uint32_t i = first_op; i < nrecs; i++) {
    const struct rec *r = &recs[i];
    cur_step = i - first_op + 1;
    cur_op = r->def->name;
    switch (r->def->op) {
      case OP_MOUNT_PRIVATE:
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
          child_fail(errno, "mount", "/", "make \"/\" private (MS_REC|MS_PRIVATE)");
        break;
      case OP_OVERLAY: op_overlay(r); break;
      case OP_MOUNT: op_mount(r); break;
      case OP_BIND: op_bind(r); break;
      case OP_MKNOD: op_mknod(r); break;
      case OP_SYMLINK: op_symlink(r); break;
      case OP_SETHOSTNAME:
        if (sethostname(r->args[0], strlen(r->args[0])) < 0) child_fail(errno, "sethostname", NULL, "sethostname \"%s\"", r->args[0]);
        break;
      case OP_LOOPBACK_UP: op_loopback_up(); break;
      case OP_PIVOT_ROOT: op_pivot_root(); break;
      case OP_MASK: op_mask(r); break;
      case OP_READONLY: op_readonly(r); break;
      case OP_CHDIR:
        if (chdir(r->args[0]) < 0) child_fail(errno, "chdir", r->args[0], "chdir \"%s\"", r->args[0]);
        break;
      case OP_IDENTITY: op_identity(r); break;
      case OP_CAPS: op_caps(r); break;
      case OP_NO_NEW_PRIVS:
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(errno, "prctl", NULL, "PR_SET_NO_NEW_PRIVS");
        break;
      case OP_CLOSE_FDS:
        if (syscall(SYS_close_range, 3u, ~0u, B_CLOSE_RANGE_CLOEXEC) < 0) child_fail(errno, "close_range", NULL, "close fds above 2");
        break;
      case OP_EXEC: op_exec(r); break;
      case OP_TTY: op_tty(r); break;
      case OP_HOLD:
        close(err_fd);  // EOF on the err pipe: the helper reports "started"
        for (;;) pause();  // PDEATHSIG (set above) ends it with the helper; or SIGKILL
      default: child_fail(EINVAL, "-", NULL, "unexpected op %u", r->def->op);
    }
  }
  child_fail(EINVAL, "-", NULL, "the plan ended without exec");
}

// ---------------------------------------------------------------------------------------------
// The helper: clone, set the child up from outside, release it, then monitor it

static int pidfd = -1;
static pid_t child_pid;

__attribute__((noreturn)) static void abort_child(const char *op, int err, const char *call, const char *path,
                                                  const char *what) {
  syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR) {
  }
  helper_fail(0, op, err, call, path, "%s", what);
}

static void write_file(const char *op, const char *path, const char *data, size_t len, const char *what) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) abort_child(op, errno, "open", path, what);
  ssize_t w = write(fd, data, len);  // one write: uid_map and gid_map take nothing else
  if (w != (ssize_t)len) abort_child(op, w < 0 ? errno : EIO, "write", path, what);
  close(fd);
}

static void write_map(const char *op, const char *file, const struct rec *r) {
  char path[64], buf[3 * 340 * 12], what[96];
  size_t n = 0;
  for (uint32_t i = 0; i + 2 < r->nargs; i += 3)
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s %s\n", r->args[i], r->args[i + 1], r->args[i + 2]);
  snprintf(path, sizeof path, "/proc/%d/%s", (int)child_pid, file);
  snprintf(what, sizeof what, "write the container's %s", file);
  write_file(op, path, buf, n, what);
}

// Exec mode: into the container's cgroups first (its mount namespace has no cgroupfs where the
// host has it), then into its namespaces through a pidfd of its init, all in one setns call.
static void join_container(void) {
  for (uint32_t i = 0; i < ncgroups; i++) {
    int fd = open(cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0) helper_fail(0, "cgroup", errno, "open", cgroups[i], "join the container's cgroup (\"%s\")", cgroups[i]);
    if (write(fd, "0", 1) != 1) helper_fail(0, "cgroup", errno, "write", cgroups[i], "join the container's cgroup (\"%s\")", cgroups[i]);
    close(fd);
  }
  int pfd = (int)syscall(SYS_pidfd_open, join_pid, 0);
  if (pfd < 0) helper_fail(0, "join", errno, "pidfd_open", NULL, "find the container's init (pid %d)", (int)join_pid);
  if (join_flags && setns(pfd, join_flags) < 0)
    helper_fail(0, "join", errno, "setns", NULL, "enter the namespaces of pid %d", (int)join_pid);
  close(pfd);
}

static int recv_fd(int sock) {
  char c;
  struct iovec iov = {&c, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != 1) return -1;
  struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(int))) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

// "resize ROWS COLS" lines from the control fd; anything else is ignored.
static void control_line(int master, const char *line) {
  unsigned rows, cols;
  char end;
  if (master >= 0 && sscanf(line, "resize %u %u%c", &rows, &cols, &end) == 2 && rows <= 65535 && cols <= 65535) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(master, TIOCSWINSZ, &ws);  // the kernel sends SIGWINCH to the foreground group
  }
}

// The monitor: forwards signals until the process exits; with a pty, also relays stdin (fd 0) to
// the master, the master to stdout (fd 1), and control lines (fd 5) to the master's window size.
static void monitor(int sfd, int master) {
  enum { P_SIG, P_PID, P_MASTER, P_IN, P_CTL, NP };
  struct pollfd pf[NP] = {{.fd = sfd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}, {.fd = -1}, {.fd = -1}, {.fd = -1}};
  char in[16384], out[16384], ctl[256];
  size_t in_len = 0, in_off = 0, ctl_len = 0;
  if (master >= 0) {
    pf[P_MASTER].fd = master;
    pf[P_IN].fd = 0;
    pf[P_CTL].fd = fcntl(5, F_GETFD) >= 0 ? 5 : -1;
    pf[P_CTL].events = POLLIN;
  }
  for (;;) {
    pf[P_MASTER].events = POLLIN | (in_len > in_off ? POLLOUT : 0);
    pf[P_IN].events = in_len > in_off ? 0 : POLLIN;  // one buffer of input at a time
    if (poll(pf, NP, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pf[P_SIG].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        syscall(SYS_pidfd_send_signal, pidfd, (int)si.ssi_signo, NULL, 0);
    }
    if (pf[P_PID].revents & (POLLIN | POLLHUP)) break;
    if (pf[P_MASTER].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(master, out, sizeof out);
      if (n > 0) write_all(1, out, (size_t)n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) pf[P_MASTER].fd = -1;  // EIO: no slave left
    }
    if (pf[P_IN].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, in, sizeof in);
      if (n > 0) in_len = (size_t)n, in_off = 0;
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) pf[P_IN].fd = -1;  // the agent closed stdin
    }
    if (in_len > in_off && pf[P_MASTER].fd >= 0) {
      ssize_t w = write(master, in + in_off, in_len - in_off);
      if (w > 0) in_off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) in_len = in_off = 0;
      if (in_off == in_len) in_len = in_off = 0;
    }
    if (pf[P_CTL].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(5, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
      if (n <= 0 && !(n < 0 && errno == EINTR)) {
        pf[P_CTL].fd = -1;
      } else if (n > 0) {
        ctl_len += (size_t)n;
        ctl[ctl_len] = 0;
        char *nl;
        while ((nl = memchr(ctl, '\n', ctl_len))) {
          *nl = 0;
          control_line(master, ctl);
          ctl_len -= (size_t)(nl + 1 - ctl);
          memmove(ctl, nl + 1, ctl_len);
          ctl[ctl_len] = 0;
        }
        if (ctl_len == sizeof ctl - 1) ctl_len = 0;  // an overlong line: dropped
      }
    }
  }
  // The process exited: what it wrote last may still be on its way through the pty.
  while (master >= 0 && pf[P_MASTER].fd >= 0) {
    struct pollfd p = {.fd = master, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) break;
    ssize_t n = read(master, out, sizeof out);
    if (n > 0) write_all(1, out, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
  }
}

// ---------------------------------------------------------------------------------------------
// The monitor that outlives the agent (MONITOR; the protocol is described at the top)

#define FRAME_MAX 65536u
#define SPILL_MAX (64ull << 20)

static int mon_dir = -1;                   // the container's directory
static int mon_listen = -1, mon_client = -1, mon_spill = -1;
static int mon_in[2] = {-1, -1}, mon_out[2] = {-1, -1}, mon_err[2] = {-1, -1};
static unsigned long long mon_spilled, mon_lost;
static int mon_ever_connected;             // the agent that launched us connects right after "started"

static int write_full(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static void frame_header(char *h, char type, size_t len) {
  h[0] = type;
  for (int i = 0; i < 4; i++) h[1 + i] = (char)((len >> (8 * i)) & 0xff);
}

static void drop_client(void) {
  if (mon_client >= 0) close(mon_client);
  mon_client = -1;
}

// To the agent if one listens, else to the spill file (bounded; the rest is counted as lost).
static void deliver(char type, const char *data, size_t len) {
  char h[5];
  frame_header(h, type, len);
  if (mon_client >= 0) {
    if (write_full(mon_client, h, 5) == 0 && write_full(mon_client, data, len) == 0) return;
    drop_client();  // it went away: this frame goes to the spill file, whole
  }
  if (mon_spill < 0) mon_spill = openat(mon_dir, "spill", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (mon_spill < 0 || (type != 'X' && type != 'L' && mon_spilled + 5 + len > SPILL_MAX)) {
    mon_lost += len;
    return;
  }
  if (write_full(mon_spill, h, 5) == 0 && write_full(mon_spill, data, len) == 0) mon_spilled += 5 + len;
}

static void deliver_lost(void) {
  if (!mon_lost) return;
  char n[32];
  int len = snprintf(n, sizeof n, "%llu", mon_lost);
  mon_lost = 0;
  deliver('L', n, (size_t)len);
}

// A new agent: it replaces the old one and first gets what was spilled while none listened.
static void accept_client(void) {
  int c = accept4(mon_listen, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || (cred.uid != 0 && cred.uid != geteuid())) {
    close(c);
    return;
  }
  drop_client();
  mon_client = c;
  mon_ever_connected = 1;
  if (mon_spill >= 0) close(mon_spill);
  mon_spill = -1;
  int fd = openat(mon_dir, "spill", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    char buf[65536];
    ssize_t n;
    int ok = 1;
    while (ok && (n = read(fd, buf, sizeof buf)) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (write_full(mon_client, buf, (size_t)n) < 0) ok = 0;
    }
    close(fd);
    if (!ok) {
      drop_client();  // the spill file stays for the next one
      return;
    }
    unlinkat(mon_dir, "spill", 0);
    mon_spilled = 0;
  }
  deliver_lost();
}

// Pending stdin for the container: one frame's worth at a time (the agent's frames wait).
static char mon_inbuf[FRAME_MAX];
static size_t mon_in_len, mon_in_off;

// Frames from the agent, from `buf`; returns the bytes consumed. Stops at stdin it cannot yet
// pass on. A malformed frame drops the agent.
static size_t client_frames(const char *buf, size_t len, int in_fd, int master) {
  size_t at = 0;
  while (len - at >= 5 && mon_in_len == mon_in_off) {
    uint32_t flen = 0;
    for (int i = 0; i < 4; i++) flen |= (uint32_t)(unsigned char)buf[at + 1 + i] << (8 * i);
    if (flen > FRAME_MAX) {
      drop_client();
      return len;
    }
    if (len - at - 5 < flen) break;
    char type = buf[at];
    const char *p = buf + at + 5;
    char arg[64];
    size_t an = flen < sizeof arg - 1 ? flen : sizeof arg - 1;
    memcpy(arg, p, an);
    arg[an] = 0;
    if (type == 'i' && in_fd >= 0) {
      memcpy(mon_inbuf, p, flen);
      mon_in_len = flen;
      mon_in_off = 0;
    } else if (type == 'c' && master < 0 && mon_in[1] >= 0) {
      close(mon_in[1]);
      mon_in[1] = -1;
    } else if (type == 'r') {
      char line[80];
      snprintf(line, sizeof line, "resize %s", arg);
      control_line(master, line);
    } else if (type == 's') {
      char *end;
      long sig = strtol(arg, &end, 10);
      if (end != arg && !*end && sig > 0 && sig < NSIG) syscall(SYS_pidfd_send_signal, pidfd, (int)sig, NULL, 0);
    }
    at += 5 + flen;
  }
  return at;
}

static void write_exit_file(const char *status, size_t len) {
  int fd = openat(mon_dir, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  int ok = write_full(fd, status, len) == 0;
  close(fd);
  if (ok) renameat(mon_dir, "exit.tmp", mon_dir, "exit");
}

// Before clone: the directory, stale files of an earlier run gone, the socket listening, and
// the container's stdio pipes.
static void monitor_setup(void) {
  mon_dir = open(monitor_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (mon_dir < 0) helper_fail(0, "monitor", errno, "open", monitor_dir, "open the container's directory");
  const char *stale[] = {"monitor.sock", "exit", "exit.tmp", "spill"};
  for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++)
    if (unlinkat(mon_dir, stale[i], 0) < 0 && errno != ENOENT)
      helper_fail(0, "monitor", errno, "unlinkat", monitor_dir, "remove the stale \"%s\"", stale[i]);
  mon_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (mon_listen < 0) helper_fail(0, "monitor", errno, "socket", NULL, "the monitor's socket");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  // Through the directory's fd, so the path fits sun_path however deep the store is.
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/monitor.sock", mon_dir);
  mode_t old = umask(0177);
  int b = bind(mon_listen, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (b < 0) helper_fail(0, "monitor", errno, "bind", monitor_dir, "bind the monitor's socket");
  if (listen(mon_listen, 4) < 0) helper_fail(0, "monitor", errno, "listen", monitor_dir, "listen on the monitor's socket");
  if (pipe2(mon_out, O_CLOEXEC) < 0 || pipe2(mon_err, O_CLOEXEC) < 0 || (monitor_stdin && pipe2(mon_in, O_CLOEXEC) < 0))
    helper_fail(0, "monitor", errno, "pipe2", NULL, "the container's stdio pipes");
  if (!monitor_stdin && (mon_in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
    helper_fail(0, "monitor", errno, "open", "/dev/null", "the container's stdin");
}

// In the child, first thing: its stdio are the monitor's pipes (a TTY op replaces them later).
static void monitor_child_stdio(void) {
  if (dup2(mon_in[0], 0) < 0 || dup2(mon_out[1], 1) < 0 || dup2(mon_err[1], 2) < 0)
    child_fail(errno, "dup2", NULL, "the container's stdio");
}

// Reads what `fd` has into a frame of `type`; returns 0 at EOF or error (then stop polling it).
static int relay_out(int fd, char type) {
  char buf[FRAME_MAX];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    deliver(type, buf, (size_t)n);
    return 1;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

// The monitor proper, after "started": until the container's init exits, then the exit.
static int monitor_persistent(int sfd, int master) {
  close(mon_out[1]);
  close(mon_err[1]);
  if (mon_in[0] >= 0) close(mon_in[0]);
  mon_out[1] = mon_err[1] = mon_in[0] = -1;
  if (master >= 0) {  // the pty carries everything; the pipes stay unused
    close(mon_out[0]);
    close(mon_err[0]);
    mon_out[0] = mon_err[0] = -1;
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  }
  int in_fd = master >= 0 ? master : mon_in[1];
  if (in_fd >= 0) fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  enum { P_SIG, P_PID, P_OUT, P_ERR, P_LISTEN, P_CLIENT, P_IN, NP };
  struct pollfd pf[NP];
  static char cbuf[2 * (FRAME_MAX + 5)];
  size_t clen = 0;
  int out_fd = master >= 0 ? master : mon_out[0];
  for (;;) {
    in_fd = master >= 0 ? master : mon_in[1];
    pf[P_SIG] = (struct pollfd){.fd = sfd, .events = POLLIN};
    pf[P_PID] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    pf[P_OUT] = (struct pollfd){.fd = out_fd, .events = POLLIN};
    pf[P_ERR] = (struct pollfd){.fd = mon_err[0], .events = POLLIN};
    pf[P_LISTEN] = (struct pollfd){.fd = mon_listen, .events = POLLIN};
    pf[P_CLIENT] = (struct pollfd){.fd = mon_in_len > mon_in_off || clen == sizeof cbuf ? -1 : mon_client, .events = POLLIN};
    pf[P_IN] = (struct pollfd){.fd = mon_in_len > mon_in_off ? in_fd : -1, .events = POLLOUT};
    if (poll(pf, NP, clen && mon_in_len == mon_in_off ? 0 : -1) < 0) {  // 0: frames wait in cbuf
      if (errno == EINTR) continue;
      break;
    }
    if (pf[P_SIG].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) syscall(SYS_pidfd_send_signal, pidfd, (int)si.ssi_signo, NULL, 0);
    }
    if (pf[P_OUT].revents & (POLLIN | POLLHUP | POLLERR) && !relay_out(out_fd, 'O')) {
      if (master < 0) close(out_fd);
      out_fd = -1;  // EOF, or EIO from a pty with no slave left
    }
    if (pf[P_ERR].revents & (POLLIN | POLLHUP | POLLERR) && !relay_out(mon_err[0], 'E')) {
      close(mon_err[0]);
      mon_err[0] = -1;
    }
    if (pf[P_LISTEN].revents & POLLIN) accept_client();
    if (mon_client >= 0 && pf[P_CLIENT].fd == mon_client && pf[P_CLIENT].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(mon_client, cbuf + clen, sizeof cbuf - clen);
      if (n > 0) clen += (size_t)n;
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) drop_client(), clen = 0;
    }
    if (mon_client < 0) clen = 0;
    if (clen && mon_in_len == mon_in_off) {
      size_t used = client_frames(cbuf, clen, in_fd, master);
      if (mon_client < 0) clen = 0;
      else memmove(cbuf, cbuf + used, clen -= used);
    }
    if (mon_in_len > mon_in_off) {
      if (in_fd < 0) {
        mon_in_len = mon_in_off = 0;
      } else {
        ssize_t w = write(in_fd, mon_inbuf + mon_in_off, mon_in_len - mon_in_off);
        if (w > 0) mon_in_off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) mon_in_len = mon_in_off = 0;  // it closed its stdin
        if (mon_in_off == mon_in_len) mon_in_len = mon_in_off = 0;
      }
    }
    if (pf[P_PID].revents & (POLLIN | POLLHUP)) break;
  }
  // The init exited, and with it its pid namespace: what is left in the pipes or the pty comes
  // now (bounded: a process outside the namespace could hold a pipe open).
  for (int rounds = 0; rounds < 20 && (out_fd >= 0 || mon_err[0] >= 0); rounds++) {
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = mon_err[0], .events = POLLIN}};
    if (poll(p, 2, 100) <= 0) break;
    if (p[0].revents && !relay_out(out_fd, 'O')) out_fd = -1;
    if (p[1].revents && !relay_out(mon_err[0], 'E')) mon_err[0] = -1;
  }
  int st = 0;
  while (waitpid(child_pid, &st, 0) < 0 && errno == EINTR) {
  }
  char line[64];
  int code, n;
  if (WIFSIGNALED(st)) {
    code = 128 + WTERMSIG(st);
    const char *name = sigabbrev_np(WTERMSIG(st));
    n = snprintf(line, sizeof line, "killed SIG%s", name ? name : "UNKNOWN");
  } else {
    code = WEXITSTATUS(st);
    n = snprintf(line, sizeof line, "exited %d", code);
  }
  // No agent: a late agent accepted now still gets everything in order. A command as quick as
  // /bin/true can exit before the agent that launched it has connected: wait for it (10 s at
  // most; if it died meanwhile, the exit and spill files tell the next one).
  struct pollfd lp = {.fd = mon_listen, .events = POLLIN};
  if (mon_client < 0 && poll(&lp, 1, mon_ever_connected ? 0 : 10000) > 0) accept_client();
  deliver_lost();
  unlinkat(mon_dir, "monitor.sock", 0);
  close(mon_listen);
  write_exit_file(line, (size_t)n);
  deliver('X', line, (size_t)n);
  if (mon_spill >= 0) close(mon_spill);
  drop_client();
  return code;
}

// `--connect PID PORT`: a TCP relay into a container's loopback, for ports a workspace listens
// on at 127.0.0.1 or ::1 only (the bridge cannot reach them). fd 0 (also fd 1) is a connection
// the agent accepted on the host; this process enters only the network namespace of PID (one
// setns through a pidfd: no mount or pid namespace, so the container cannot see or reach it),
// connects to 127.0.0.1:PORT (or [::1]:PORT) there, and copies both ways until both sides end.
static int connect_mode(const char *pid_s, const char *port_s) {
  uint64_t pid, port;
  if (parse_u64(pid_s, INT_MAX, &pid) || pid < 1 || parse_u64(port_s, 65535, &port) || port < 1) {
    fprintf(stderr, "berth-helper --connect: want a pid and a port, got \"%s\" \"%s\"\n", pid_s, port_s);
    return 125;
  }
  signal(SIGPIPE, SIG_IGN);
  int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (pfd < 0 || setns(pfd, CLONE_NEWNET) < 0) {
    fprintf(stderr, "berth-helper --connect: enter the network namespace of pid %d: %s\n", (int)pid, strerror(errno));
    return 125;
  }
  close(pfd);
  int s = -1;
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  for (int v6 = 0; v6 < 2 && s < 0; v6++) {
    s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) continue;
    if (connect(s, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, v6 ? sizeof a6 : sizeof a4) < 0) {
      close(s);
      s = -1;
    }
  }
  if (s < 0) {
    fprintf(stderr, "berth-helper --connect: connect to port %d in the container: %s\n", (int)port, strerror(errno));
    return 1;
  }
  struct pollfd pf[2] = {{.fd = 0, .events = POLLIN}, {.fd = s, .events = POLLIN}};
  char buf[65536];
  while (pf[0].fd >= 0 || pf[1].fd >= 0) {
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int to = i == 0 ? s : 1;
      ssize_t n = read(pf[i].fd, buf, sizeof buf);
      if (n > 0 && write_full(to, buf, (size_t)n) == 0) continue;
      if (n < 0 && errno == EINTR) continue;
      shutdown(to, SHUT_WR);  // this direction is done; the other may still carry an answer
      pf[i].fd = -1;
    }
  }
  return 0;
}

// `--sealed`: before anything else, the helper copies itself into a sealed memfd and re-executes
// from it (the plan on fd 3 is still unread). The agent asks for this when the helper will enter a
// running container (exec): between its clone into the container's pid namespace and the exec of
// the command, the child is a process of the container, and a process of the container could open
// its /proc/PID/exe and, later, write the host's berth-helper through it (CVE-2019-5736 against
// runc). A sealed memfd cannot be written; the child is also made non-dumpable until its exec.
__attribute__((noreturn)) static void reexec_sealed(char *argv0) {
  int fd = sealed_copy("/proc/self/exe", "berth-helper", "setup");
  char *args[] = {argv0, NULL};
  extern char **environ;
  syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
  helper_fail(0, "setup", errno, "execveat", NULL, "run the sealed helper");
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--connect")) return connect_mode(argv[2], argv[3]);
  if (argc == 2 && !strcmp(argv[1], "--sealed")) reexec_sealed(argv[0]);
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    puts("berth-helper 1");
    return 0;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: berth-helper 3<PLAN 4>STATUS (the plan is written by agent/runtime/helper.ts)\n");
    return 125;
  }
  if (fcntl(4, F_SETFD, FD_CLOEXEC) < 0) status_fd = 2;
  if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0) helper_fail(0, "plan", errno, "fcntl", NULL, "fd 3 (the plan) is not open");
  read_plan(3);
  pid_t agent = getppid();
  parse_plan();
  validate_attrs();
  if (hold_mode) {  // a holder outlives nothing: an agent that dies mid-copy takes it along
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != agent) helper_fail(0, "setup", ESRCH, "getppid", NULL, "the agent went away");
  }

  sigset_t fwd;
  sigemptyset(&fwd);
  int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&fwd, forwarded[i]);
  sigprocmask(SIG_BLOCK, &fwd, &orig_mask);  // before clone: none is lost, all are forwarded
  signal(SIGPIPE, SIG_IGN);                   // the agent may go away; the monitor stays
  int sfd = signalfd(-1, &fwd, SFD_CLOEXEC);
  if (sfd < 0) helper_fail(0, "setup", errno, "signalfd", NULL, "forwarding signals");

  fcntl(5, F_SETFD, FD_CLOEXEC);  // the control fd (resize lines), when the agent gave one
  if (exec_mode) join_container();
  if (monitor_dir) monitor_setup();
  if (init_path) seal_init();
  for (uint32_t i = first_op; i < nrecs; i++)
    if (recs[i].def->op == OP_BIND && recs[i].nargs == 4) bind_userns[i] = idmap_userns(recs[i].args[3]);
  if (ns_flags & CLONE_NEWUSER) idmap_lowers();
  int tty_p[2] = {-1, -1};
  if (tty_mode && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tty_p) < 0)
    helper_fail(0, "setup", errno, "socketpair", NULL, "the pty master's way back");

  int sync_p[2], err_p[2];
  if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) helper_fail(0, "setup", errno, "pipe2", NULL, "handshake pipes");
  if (netns_path) {  // the container's prepared network namespace; the child inherits it
    int nfd = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (nfd < 0) helper_fail(0, "netns", errno, "open", netns_path, "open the network namespace \"%s\"", netns_path);
    if (setns(nfd, CLONE_NEWNET) < 0) helper_fail(0, "netns", errno, "setns", netns_path, "join the network namespace \"%s\"", netns_path);
    close(nfd);
  }
  struct b_clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = (uint64_t)ns_flags | B_CLONE_PIDFD;  // none in exec mode: setns already took the helper in
  ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
  ca.exit_signal = SIGCHLD;
  fflush(NULL);
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0) helper_fail(0, "clone", errno, "clone3", NULL, "create the container's process and namespaces");
  if (pid == 0) {
    close(sync_p[1]);
    close(err_p[0]);
    err_fd = err_p[1];
    if (tty_mode) {
      close(tty_p[0]);
      tty_sock = tty_p[1];
    }
    child_main(sync_p[0]);
  }
  child_pid = (pid_t)pid;
  close(sync_p[0]);
  close(err_p[1]);
  if (tty_mode) close(tty_p[1]);

  if (ns_flags & CLONE_NEWUSER) {
    if (setgroups_deny != -1) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/setgroups", (int)child_pid);
      const char *v = setgroups_deny ? "deny" : "allow";
      write_file("setgroups", path, v, strlen(v), "write the container's setgroups");
    }
    write_map("uid-map", "uid_map", uid_map);
    write_map("gid-map", "gid_map", gid_map);
  }
  for (uint32_t i = 0; !exec_mode && i < ncgroups; i++) {  // exec mode: joined before setns
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", (int)child_pid);
    write_file("cgroup", cgroups[i], buf, (size_t)n, "join the container's cgroup");
  }
  if (write(sync_p[1], "1", 1) != 1) abort_child("setup", errno, "write", NULL, "release the container");
  close(sync_p[1]);
  // The child sends the pty master just before its exec; EOF instead means it failed before.
  int master = tty_mode ? recv_fd(tty_p[0]) : -1;
  if (tty_mode) close(tty_p[0]);

  char buf[4096];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(err_p[0], buf + got, sizeof buf - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (got == sizeof buf - 1) break;
  }
  close(err_p[0]);
  if (got == 0 && tty_mode && master < 0) {
    got = (size_t)snprintf(buf, sizeof buf, "failed 0 tty EPROTO recvmsg -: the pty master did not arrive\n");
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  }
  if (got > 0) {
    while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (monitor_dir) unlinkat(mon_dir, "monitor.sock", 0);
    if (buf[got - 1] != '\n') buf[got++] = '\n';
    status_line(buf, got);
    return 125;
  }
  int n = snprintf(buf, sizeof buf, "started %d\n", (int)child_pid);
  status_line(buf, (size_t)n);
  if (monitor_dir) {
    close(status_fd);  // "started" was the last line: the agent may come and go from here on
    return monitor_persistent(sfd, master);
  }

  monitor(sfd, master);
  int st = 0;
  while (waitpid(child_pid, &st, 0) < 0 && errno == EINTR) {
  }
  int code;
  if (WIFSIGNALED(st)) {
    code = 128 + WTERMSIG(st);
    const char *name = sigabbrev_np(WTERMSIG(st));
    n = snprintf(buf, sizeof buf, "killed SIG%s\n", name ? name : "UNKNOWN");
  } else {
    code = WEXITSTATUS(st);
    n = snprintf(buf, sizeof buf, "exited %d\n", code);
  }
  status_line(buf, (size_t)n);
  return code;
}
