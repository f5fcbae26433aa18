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
// Before clone the helper does, in this order, what must happen in its own context: exec mode
// joins the container's cgroups and then its namespaces (join_container); MONITOR makes the
// socket and the stdio pipes (monitor-socket.c); INIT seals the init (sealed.c); idmapped binds
// and layers get their user namespaces (userns.c); TTY gets its socketpair (tty.c); NETNS is
// joined last, just before clone3, so the child is born in it. A failure up to clone3 is the
// helper's own ("failed 0 ..."); after it, a helper-side failure first kills the child
// (abort_child), so no half-made container is left.
//
// Exec mode (JOIN): the helper writes "0" to each CGROUP file (itself joins: the container's
// mount namespace has no cgroupfs at the host's path, so this comes first), then one
// setns(pidfd_open(init), all CLONE_NEW* flags) takes it into the container's namespaces; mount
// and pid namespaces apply to what it clones next, so the process it clones (no flags) is really
// pid N inside, with the container's root. The process then runs the same op interpreter (the
// process ops only), and the helper stays its monitor, exactly as for a container's init.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

// The plan is large (fixed arrays sized for the limits): static storage, owned by this file.
static struct plan plan;

// The child after clone, as the helper sees it.
struct launched {
  int pidfd;
  pid_t pid;
};

// A failure of the helper after clone: the child is killed and reaped first.
__attribute__((noreturn)) static void abort_child(const struct launched *l, const char *op, int err, const char *call,
                                                  const char *path, const char *what) {
  syscall(SYS_pidfd_send_signal, l->pidfd, SIGKILL, NULL, 0);
  while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR) {
  }
  helper_fail(0, op, err, call, path, "%s", what);
}

static void write_file(const struct launched *l, const char *op, const char *path, const char *data, size_t len,
                       const char *what) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) abort_child(l, op, errno, "open", path, what);
  ssize_t w = write(fd, data, len);  // one write: uid_map and gid_map take nothing else
  if (w != (ssize_t)len) abort_child(l, op, w < 0 ? errno : EIO, "write", path, what);
  close(fd);
}

// The container's uid_map or gid_map, from the plan's triples.
static void write_map(const struct launched *l, const char *op, const char *file, const struct rec *r) {
  char path[64], buf[MAP_TEXT_MAX], what[96];
  size_t n = map_text(r, buf, sizeof buf);
  snprintf(path, sizeof path, "/proc/%d/%s", (int)l->pid, file);
  snprintf(what, sizeof what, "write the container's %s", file);
  write_file(l, op, path, buf, n, what);
}

// Exec mode: into the container's cgroups first (its mount namespace has no cgroupfs where the
// host has it), then into its namespaces through a pidfd of its init, all in one setns call.
static void join_container(const struct plan *p) {
  for (uint32_t i = 0; i < p->ncgroups; i++) {
    const char *cg = p->cgroups[i];
    int fd = open(cg, O_WRONLY | O_CLOEXEC);
    if (fd < 0) helper_fail(0, "cgroup", errno, "open", cg, "join the container's cgroup (\"%s\")", cg);
    if (write(fd, "0", 1) != 1) helper_fail(0, "cgroup", errno, "write", cg, "join the container's cgroup (\"%s\")", cg);
    close(fd);
  }
  int pfd = (int)syscall(SYS_pidfd_open, p->join_pid, 0);
  if (pfd < 0) helper_fail(0, "join", errno, "pidfd_open", NULL, "find the container's init (pid %d)", (int)p->join_pid);
  if (p->join_flags && setns(pfd, p->join_flags) < 0)
    helper_fail(0, "join", errno, "setns", NULL, "enter the namespaces of pid %d", (int)p->join_pid);
  close(pfd);
}

// NETNS: the container's prepared network namespace; the child inherits it.
static void join_netns(const char *path) {
  int nfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nfd < 0) helper_fail(0, "netns", errno, "open", path, "open the network namespace \"%s\"", path);
  if (setns(nfd, CLONE_NEWNET) < 0) helper_fail(0, "netns", errno, "setns", path, "join the network namespace \"%s\"", path);
  close(nfd);
}

// After clone, before the release: what only the helper can set for the child.
static void set_up_child(const struct plan *p, const struct launched *l) {
  if (p->ns_flags & CLONE_NEWUSER) {
    if (p->setgroups_deny != -1) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/setgroups", (int)l->pid);
      const char *v = p->setgroups_deny ? "deny" : "allow";
      write_file(l, "setgroups", path, v, strlen(v), "write the container's setgroups");
    }
    write_map(l, "uid-map", "uid_map", p->uid_map);
    write_map(l, "gid-map", "gid_map", p->gid_map);
  }
  for (uint32_t i = 0; !p->exec_mode && i < p->ncgroups; i++) {  // exec mode: joined before setns
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d", (int)l->pid);
    write_file(l, "cgroup", p->cgroups[i], buf, (size_t)n, "join the container's cgroup");
  }
}

// Reads the err pipe to EOF: empty when the child exec'd (or, with HOLD, got ready).
static size_t read_err_pipe(int fd, char *buf, size_t cap) {
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (got == cap - 1) break;
  }
  close(fd);
  return got;
}

// The helper without arguments: reads the plan on fd 3 and runs it (see the top of this file);
// returns the exit code (the container's, or 125 when it could not be started).
int launch_main(void) {
  struct plan *p = &plan;
  if (fcntl(4, F_SETFD, FD_CLOEXEC) < 0) report_status_fd(2);
  if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0) helper_fail(0, "plan", errno, "fcntl", NULL, "fd 3 (the plan) is not open");
  plan_read(p, 3);
  pid_t agent = getppid();
  if (p->hold_mode) {  // a holder outlives nothing: an agent that dies mid-copy takes it along
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != agent) helper_fail(0, "setup", ESRCH, "getppid", NULL, "the agent went away");
  }

  struct child c = {.plan = p, .root_fd = -1, .init_fd = -1, .tty_sock = -1};
  sigset_t fwd;
  sigemptyset(&fwd);
  int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&fwd, forwarded[i]);
  sigprocmask(SIG_BLOCK, &fwd, &c.orig_mask);  // before clone: none is lost, all are forwarded
  signal(SIGPIPE, SIG_IGN);                     // the agent may go away; the monitor stays
  struct watched w = {.pidfd = -1};
  w.sfd = signalfd(-1, &fwd, SFD_CLOEXEC);
  if (w.sfd < 0) helper_fail(0, "setup", errno, "signalfd", NULL, "forwarding signals");

  fcntl(5, F_SETFD, FD_CLOEXEC);  // the control fd (resize lines), when the agent gave one
  if (p->exec_mode) join_container(p);
  struct monitor *mon = p->monitor_dir ? monitor_setup(p) : NULL;
  if (p->init_path) c.init_fd = sealed_copy(p->init_path, "berth-init", "init");
  idmap_binds(p);
  if (p->ns_flags & CLONE_NEWUSER) idmap_lowers(p);
  int tty_p[2] = {-1, -1};
  if (p->tty_mode && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tty_p) < 0)
    helper_fail(0, "setup", errno, "socketpair", NULL, "the pty master's way back");

  int sync_p[2], err_p[2];
  if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) helper_fail(0, "setup", errno, "pipe2", NULL, "handshake pipes");
  if (p->netns_path) join_netns(p->netns_path);
  struct b_clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = (uint64_t)p->ns_flags | B_CLONE_PIDFD;  // none in exec mode: setns already took the helper in
  ca.pidfd = (uint64_t)(uintptr_t)&w.pidfd;
  ca.exit_signal = SIGCHLD;
  fflush(NULL);
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0) helper_fail(0, "clone", errno, "clone3", NULL, "create the container's process and namespaces");
  if (pid == 0) {
    close(sync_p[1]);
    close(err_p[0]);
    if (p->tty_mode) {
      close(tty_p[0]);
      c.tty_sock = tty_p[1];
    }
    child_main(&c, sync_p[0], err_p[1], mon);
  }
  w.pid = (pid_t)pid;
  struct launched l = {.pidfd = w.pidfd, .pid = w.pid};
  close(sync_p[0]);
  close(err_p[1]);
  if (p->tty_mode) close(tty_p[1]);

  set_up_child(p, &l);
  if (write(sync_p[1], "1", 1) != 1) abort_child(&l, "setup", errno, "write", NULL, "release the container");
  close(sync_p[1]);
  // The child sends the pty master just before its exec; EOF instead means it failed before.
  int master = p->tty_mode ? recv_fd(tty_p[0]) : -1;
  if (p->tty_mode) close(tty_p[0]);

  char buf[4096];
  size_t got = read_err_pipe(err_p[0], buf, sizeof buf);
  if (got == 0 && p->tty_mode && master < 0) {
    got = (size_t)snprintf(buf, sizeof buf, "failed 0 tty EPROTO recvmsg -: the pty master did not arrive\n");
    syscall(SYS_pidfd_send_signal, w.pidfd, SIGKILL, NULL, 0);
  }
  if (got > 0) {
    while (waitpid(w.pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (mon) monitor_abandon(mon);
    if (buf[got - 1] != '\n') buf[got++] = '\n';
    status_line(buf, got);
    return 125;
  }
  int n = snprintf(buf, sizeof buf, "started %d\n", (int)w.pid);
  status_line(buf, (size_t)n);
  if (mon) {
    close(report_get_status_fd());  // "started" was the last line: the agent may come and go from here on
    return monitor_persistent(mon, &w, master);
  }
  return monitor_attached(&w, master);
}
