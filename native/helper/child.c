// The child: the process clone3 made (launch.c). It waits on the sync pipe until the helper has
// set it up from outside (maps, cgroups), then runs the plan's operations in order, the last one
// being EXEC (or HOLD). Each failure is one line on the err pipe and _exit(125) (report.c); the
// err pipe's write end is O_CLOEXEC, so a successful execve closes it and the helper reads EOF.
//
// What it is at each point:
//   - launch plan: pid 1 of a new pid namespace (if asked), in new mount, uts, ipc, net, user
//     namespaces; with a user namespace it becomes that namespace's root (the maps are written
//     by now), so what it creates while setting up has owners; with "cgroup" it unshares a cgroup
//     namespace only now, after the helper moved it into the container's cgroup, so that cgroup
//     is the root of its view;
//   - exec plan: a plain child of a helper that already setns'd into the container's
//     namespaces (launch.c), so it is a process of the container's pid namespace from birth.
//     Until its exec it is made non-dumpable: a process of the container must not open its
//     /proc/PID/exe (the helper binary; see sealed.c) or ptrace it.
// PR_SET_PDEATHSIG kills it if the helper dies during setup; op_exec clears it just before the
// exec, so the container outlives a dead monitor.
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

void child_main(struct child *c, int sync_fd, int err_fd, const struct monitor *stdio) {
  const struct plan *p = c->plan;
  report_child(err_fd);
  // Signals: the helper blocked some and ignores SIGPIPE; the container starts clean.
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &c->orig_mask, NULL);
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // the helper died during setup: do not linger
  if (p->exec_mode) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // execve resets it
  char ch;
  ssize_t n;
  do n = read(sync_fd, &ch, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) child_fail(EPIPE, "read", NULL, "the helper went away before releasing the container");
  close(sync_fd);
  if (stdio) monitor_child_stdio(stdio);
  if (p->ns_flags & CLONE_NEWUSER) {
    // Become the namespace's root (mapped now), so files created while setting up have owners.
    if (setresgid(0, 0, 0) < 0) child_fail(errno, "setresgid", NULL, "become root in the user namespace");
    if (setresuid(0, 0, 0) < 0) child_fail(errno, "setresuid", NULL, "become root in the user namespace");
  }
  if (p->want_cgroupns && unshare(CLONE_NEWCGROUP) < 0) child_fail(errno, "unshare", NULL, "create the cgroup namespace");
  umask(0);  // modes in the plan are exact; IDENTITY sets the container's umask
  for (uint32_t i = p->first_op; i < p->nrecs; i++) {
    const struct rec *r = &p->recs[i];
    report_step(i - p->first_op + 1, r->def->name);
    switch (r->def->op) {
      case OP_MOUNT_PRIVATE: op_mount_private(); break;
      case OP_OVERLAY: op_overlay(c, r); break;
      case OP_MOUNT: op_mount(c, r); break;
      case OP_BIND: op_bind(c, r); break;
      case OP_MKNOD: op_mknod(c, r); break;
      case OP_SYMLINK: op_symlink(c, r); break;
      case OP_SETHOSTNAME:
        if (sethostname(r->args[0], strlen(r->args[0])) < 0) child_fail(errno, "sethostname", NULL, "sethostname \"%s\"", r->args[0]);
        break;
      case OP_LOOPBACK_UP: op_loopback_up(); break;
      case OP_PIVOT_ROOT: op_pivot_root(c); break;
      case OP_MASK: op_mask(c, r); break;
      case OP_READONLY: op_readonly(c, r); break;
      case OP_CHDIR:
        if (chdir(r->args[0]) < 0) child_fail(errno, "chdir", r->args[0], "chdir \"%s\"", r->args[0]);
        break;
      case OP_IDENTITY: op_identity(c, r); break;
      case OP_CAPS: op_caps(r); break;
      case OP_NO_NEW_PRIVS:
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail(errno, "prctl", NULL, "PR_SET_NO_NEW_PRIVS");
        break;
      case OP_CLOSE_FDS:
        if (syscall(SYS_close_range, 3u, ~0u, B_CLOSE_RANGE_CLOEXEC) < 0) child_fail(errno, "close_range", NULL, "close fds above 2");
        break;
      case OP_EXEC: op_exec(c, r); break;
      case OP_TTY: op_tty(c, r); break;
      case OP_HOLD:
        close(err_fd);  // EOF on the err pipe: the helper reports "started"
        for (;;) pause();  // PDEATHSIG (set above) ends it with the helper; or SIGKILL
      default: child_fail(EINVAL, "-", NULL, "unexpected op %u", r->def->op);
    }
  }
  child_fail(EINVAL, "-", NULL, "the plan ended without exec");
}
