// The process operations, the last ones a plan runs (in a launch plan after pivot-root; in an
// exec plan they are all there is): the identity (groups, gid, uid, umask), the capability sets,
// and the exec of the command, directly or as the child of the sealed init (INIT). chdir,
// no-new-privs and close-fds are one call each and live in child.c; the terminal is in tty.c.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

// The PATH a command is searched in when the plan's env has none (the usual default of shells).
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void op_identity(struct child *c, const struct rec *r) {
  uid_t uid = (uid_t)num(r, 0);
  gid_t gid = (gid_t)num(r, 1);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail(errno, "prctl", NULL, "PR_SET_KEEPCAPS");
  if (c->plan->setgroups_deny != 1) {
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

void op_caps(const struct rec *r) {
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
__attribute__((noreturn)) static void exec_init(struct child *c, const char *file, uint32_t argc, char **argv, uint32_t envc, char **envp) {
  static char full[PATH_MAX];
  const char *found = NULL;
  int seen_eacces = 0;
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) < 0) child_fail(errno, "stat", file, "exec \"%s\"", file);
    if (!S_ISREG(st.st_mode) || access(file, X_OK) < 0) child_fail(EACCES, "access", file, "exec \"%s\"", file);
    found = file;
  } else {
    const char *path = DEFAULT_PATH;
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
  syscall(SYS_execveat, c->init_fd, "", iargv, envp, AT_EMPTY_PATH);
  child_fail(errno, "execveat", c->plan->init_path, "exec the init (\"%s\")", c->plan->init_path);
}

void op_exec(struct child *c, const struct rec *r) {
  uint32_t argc = (uint32_t)num(r, 1);
  uint32_t envc = r->nargs - 2 - argc;
  char **argv = calloc(argc + 1, sizeof(char *));
  char **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) child_fail(ENOMEM, "calloc", NULL, "exec");
  for (uint32_t i = 0; i < argc; i++) argv[i] = r->args[2 + i];
  for (uint32_t i = 0; i < envc; i++) envp[i] = r->args[2 + argc + i];
  const char *file = r->args[0];
  prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);  // from here on the container outlives a dead monitor
  if (c->init_fd >= 0) exec_init(c, file, argc, argv, envc, envp);
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    child_fail(errno, "execve", file, "exec \"%s\"", file);
  }
  // Search the PATH the container will see, the way a shell would.
  const char *path = DEFAULT_PATH;
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
