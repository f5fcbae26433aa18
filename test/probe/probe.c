// probe: what a process sees from inside a container, as one JSON object on stdout.
//
// Built by the tests (test/support/probe.ts: gcc -static -O2, into a cache directory, never
// committed) and copied into a busybox-based test image as /probe. It has no dependencies and
// no policy: it only looks, and reports what it saw, so every assertion lives in the tests.
//
//   probe                 the view: identity, capabilities, mounts, masked and read-only paths,
//                         cgroup limits, network interfaces, open fds, environment
//   probe escape K=V ...  the view, plus "escapes": attempts to reach outside the container.
//                         Parameters the test passes (all optional):
//                           marker=PATH   a file the test created on the host
//                           hostpid=N     a process of the host (the agent) by its host pid
//                           socket=PATH   the agent's socket path on the host
//                           hostname=NAME the host's hostname (never changed: we only try)
//
// Every attempt is reported as {"attempt": name, "ok": bool, "errno": "ENAME"|null, ...}: ok
// means the operation succeeded (for an escape: the container was NOT contained), with what it
// saw. Attempts that succeed are undone at once where they changed something inside the
// container (a mount is unmounted, a node unlinked); none of them writes to the host if the
// containment holds, and the ones that could (writing a cgroup limit, sethostname) write values
// that change nothing (the limit's current value; the container's own hostname).
//
// Output format: JSON, UTF-8 as read (bytes < 0x20, '"' and '\\' escaped; other bytes passed
// through, which is fine for the ASCII this reads in practice). Size is bounded by the reads:
// each file read is capped at 256 KiB.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

// --- JSON output -----------------------------------------------------------------------------

static int first = 1;  // no comma before the next member/element

static void sep(void) {
  if (!first) putchar(',');
  first = 0;
}

static void jstr_raw(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') fputs("\\n", stdout);
    else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}
static void jstr(const char *s) { jstr_raw(s, strlen(s)); }

static void key(const char *k) {
  sep();
  jstr(k);
  putchar(':');
  first = 1;  // the value follows without a comma
}
static void open_obj(void) { sep(); putchar('{'); first = 1; }
static void close_obj(void) { putchar('}'); first = 0; }
static void open_arr(void) { sep(); putchar('['); first = 1; }
static void close_arr(void) { putchar(']'); first = 0; }
static void v_str(const char *s) { sep(); if (s) jstr(s); else fputs("null", stdout); }
static void v_strn(const char *s, size_t n) { sep(); jstr_raw(s, n); }
static void v_int(long long v) { sep(); printf("%lld", v); }
static void v_bool(int b) { sep(); fputs(b ? "true" : "false", stdout); }
static void v_null(void) { sep(); fputs("null", stdout); }
static void k_str(const char *k, const char *s) { key(k); v_str(s); }
static void k_int(const char *k, long long v) { key(k); v_int(v); }
static void k_bool(const char *k, int b) { key(k); v_bool(b); }

static const char *errname(int e) {
  switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV)
    E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC)
    E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY)
    E(ELOOP) E(ENODATA) E(ENOTSOCK) E(EOPNOTSUPP) E(ECONNREFUSED) E(ESTALE) E(ENOPKG) E(EBADMSG)
#undef E
    default: return "EUNKNOWN";
  }
}

// --- reading files ---------------------------------------------------------------------------

#define MAX_READ (256 * 1024)

// Reads up to MAX_READ bytes of `path` into a malloc'd NUL-terminated buffer; NULL with errno.
static char *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  char *buf = malloc(MAX_READ + 1);
  if (!buf) { close(fd); errno = ENOMEM; return NULL; }
  size_t n = 0;
  while (n < MAX_READ) {
    ssize_t r = read(fd, buf + n, MAX_READ - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      close(fd);
      errno = e;
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

// The value of "Name:\t..." in /proc/self/status, trimmed, into `out`.
static int status_field(const char *status, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  for (const char *p = status; p && *p;) {
    if (!strncmp(p, name, nl) && p[nl] == ':') {
      p += nl + 1;
      while (*p == ' ' || *p == '\t') p++;
      size_t i = 0;
      while (p[i] && p[i] != '\n' && i + 1 < outlen) { out[i] = p[i]; i++; }
      out[i] = 0;
      return 0;
    }
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

// A small file's first line, trimmed (cgroup values); NULL when unreadable.
static const char *first_line(const char *path, char *out, size_t outlen) {
  char *s = slurp(path, NULL);
  if (!s) return NULL;
  size_t i = 0;
  while (s[i] && s[i] != '\n' && i + 1 < outlen) { out[i] = s[i]; i++; }
  out[i] = 0;
  free(s);
  return out;
}

// --- the view --------------------------------------------------------------------------------

static void identity(void) {
  struct utsname u;
  k_int("pid", getpid());
  k_int("ppid", getppid());
  key("hostname");
  if (uname(&u) == 0) v_str(u.nodename); else v_null();
  k_int("uid", getuid());
  k_int("gid", getgid());
  k_int("euid", geteuid());
  k_int("egid", getegid());
  key("groups");
  open_arr();
  gid_t groups[256];
  int n = getgroups(256, groups);
  for (int i = 0; i < n; i++) v_int(groups[i]);
  close_arr();
  char cwd[PATH_MAX];
  key("cwd");
  if (getcwd(cwd, sizeof cwd)) v_str(cwd); else v_null();
  key("env");
  open_arr();
  for (char **e = environ; e && *e; e++) v_str(*e);
  close_arr();
  k_int("umask", ({ mode_t m = umask(0); umask(m); (long long)m; }));
}

static void status(void) {
  char *s = slurp("/proc/self/status", NULL);
  key("status");
  open_obj();
  static const char *fields[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    char v[128];
    key(fields[i]);
    if (s && status_field(s, fields[i], v, sizeof v) == 0) v_str(v); else v_null();
  }
  close_obj();
  free(s);
}

// One line of mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER".
// Fields are separated by single spaces; special characters are octal-escaped (\040), kept as is.
static void mounts(void) {
  char *s = slurp("/proc/self/mountinfo", NULL);
  key("mounts");
  open_arr();
  for (char *line = s; line && *line;) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    char *f[32];
    int nf = 0;
    for (char *tok = strtok(line, " "); tok && nf < 32; tok = strtok(NULL, " ")) f[nf++] = tok;
    int dash = -1;
    for (int i = 6; i < nf; i++) if (!strcmp(f[i], "-")) { dash = i; break; }
    if (nf >= 6 && dash > 0 && dash + 3 <= nf) {
      open_obj();
      k_str("root", f[3]);
      k_str("mountPoint", f[4]);
      k_str("options", f[5]);
      k_str("fstype", f[dash + 1]);
      k_str("source", f[dash + 2]);
      k_str("superOptions", dash + 3 < nf ? f[dash + 3] : "");
      close_obj();
    }
    line = end ? end + 1 : NULL;
  }
  close_arr();
  free(s);
}

// A masked path: what a read of it gives. Files masked with /dev/null read as 0 bytes; a
// masked directory is an empty read-only tmpfs.
static void masked(void) {
  static const char *paths[] = {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                "/sys/firmware", "/sys/devices/virtual/powercap"};
  key("masked");
  open_obj();
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    key(paths[i]);
    open_obj();
    struct stat st;
    if (lstat(paths[i], &st) < 0) {
      k_bool("exists", 0);
      k_str("errno", errname(errno));
      close_obj();
      continue;
    }
    k_bool("exists", 1);
    if (S_ISDIR(st.st_mode)) {
      k_str("type", "dir");
      DIR *d = opendir(paths[i]);
      long entries = 0;
      if (d) {
        for (struct dirent *e; (e = readdir(d));) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
        closedir(d);
        k_int("entries", entries);
      } else {
        k_str("errno", errname(errno));
      }
    } else {
      k_str("type", S_ISCHR(st.st_mode) ? "char" : S_ISREG(st.st_mode) ? "file" : "other");
      if (S_ISCHR(st.st_mode)) { k_int("major", major(st.st_rdev)); k_int("minor", minor(st.st_rdev)); }
      // Read at most 4 KiB: enough to tell empty from not (kcore is huge when not masked).
      int fd = open(paths[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd < 0) {
        k_str("errno", errname(errno));
      } else {
        char buf[4096];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) k_str("errno", errname(errno));
        else k_int("bytes", r);
        close(fd);
      }
    }
    close_obj();
  }
  close_obj();
}

// A read-only path: is its mount read-only, and does opening a file under it for writing fail?
// Nothing is written: the write-open is closed at once.
static void readonly(void) {
  static const char *checks[][2] = {
      {"/proc/sys", "/proc/sys/kernel/hostname"}, {"/proc/sysrq-trigger", "/proc/sysrq-trigger"},
      {"/proc/bus", NULL}, {"/proc/fs", NULL}, {"/proc/irq", NULL}, {"/sys", "/sys/class/net/lo/mtu"},
  };
  key("readonly");
  open_obj();
  for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
    key(checks[i][0]);
    open_obj();
    struct statvfs vfs;
    if (statvfs(checks[i][0], &vfs) < 0) {
      k_bool("exists", 0);
      k_str("errno", errname(errno));
    } else {
      k_bool("exists", 1);
      k_bool("mountReadOnly", (vfs.f_flag & ST_RDONLY) != 0);
      if (checks[i][1]) {
        k_str("file", checks[i][1]);
        int fd = open(checks[i][1], O_WRONLY | O_CLOEXEC | O_NONBLOCK);
        k_bool("openForWrite", fd >= 0);
        if (fd >= 0) close(fd);
        else k_str("errno", errname(errno));
      }
    }
    close_obj();
  }
  close_obj();
}

static void cg_value(const char *name, const char *path) {
  char v[256];
  key(name);
  if (first_line(path, v, sizeof v)) v_str(v); else v_null();
}

// The limits the container can read through cgroupfs at /sys/fs/cgroup (v1 controllers or the
// v2 unified hierarchy), and its membership from /proc/self/cgroup.
static void cgroups(void) {
  key("cgroup");
  open_obj();
  size_t n;
  char *self = slurp("/proc/self/cgroup", &n);
  key("self");
  if (self) v_strn(self, n); else v_null();
  free(self);
  key("v1");
  open_obj();
  cg_value("memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.limit_in_bytes");
  cg_value("memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  cg_value("pids.max", "/sys/fs/cgroup/pids/pids.max");
  cg_value("cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  cg_value("cpu.cfs_period_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  cg_value("cpu.shares", "/sys/fs/cgroup/cpu/cpu.shares");
  close_obj();
  key("v2");
  open_obj();
  cg_value("memory.max", "/sys/fs/cgroup/memory.max");
  cg_value("memory.swap.max", "/sys/fs/cgroup/memory.swap.max");
  cg_value("pids.max", "/sys/fs/cgroup/pids.max");
  cg_value("cpu.max", "/sys/fs/cgroup/cpu.max");
  cg_value("cgroup.controllers", "/sys/fs/cgroup/cgroup.controllers");
  close_obj();
  close_obj();
}

// Interface names from /proc/net/dev (the lines after the two header lines: "  name: stats").
static void network(void) {
  char *s = slurp("/proc/net/dev", NULL);
  key("interfaces");
  if (!s) { v_null(); return; }
  open_arr();
  int lineno = 0;
  for (char *line = s; line && *line; lineno++) {
    char *end = strchr(line, '\n');
    if (end) *end = 0;
    char *colon = strchr(line, ':');
    if (lineno >= 2 && colon) {
      char *name = line;
      while (*name == ' ') name++;
      *colon = 0;
      v_str(name);
    }
    line = end ? end + 1 : NULL;
  }
  close_arr();
  free(s);
}

// Open file descriptors above 2 and what they are (the directory listing's own fd excluded).
static void fds(void) {
  key("fds");
  open_arr();
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    int own = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      int fd = atoi(e->d_name);
      if (fd <= 2 || fd == own) continue;
      char path[64], target[PATH_MAX];
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, target, sizeof target - 1);
      target[n > 0 ? n : 0] = 0;
      open_obj();
      k_int("fd", fd);
      k_str("target", target);
      close_obj();
    }
    closedir(d);
  }
  close_arr();
}

// Numeric entries of /proc: the processes this pid namespace shows, with their names.
static void processes(void) {
  key("processes");
  open_arr();
  DIR *d = opendir("/proc");
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      char path[300], comm[64];
      snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
      open_obj();
      k_int("pid", atoi(e->d_name));
      key("comm");
      if (first_line(path, comm, sizeof comm)) v_str(comm); else v_null();
      close_obj();
    }
    closedir(d);
  }
  close_arr();
}

// --- escape attempts -------------------------------------------------------------------------

static const char *param(int argc, char **argv, const char *name) {
  size_t n = strlen(name);
  for (int i = 2; i < argc; i++) if (!strncmp(argv[i], name, n) && argv[i][n] == '=') return argv[i] + n + 1;
  return NULL;
}

// Starts an attempt object; the caller adds its own fields and closes it with attempt_end.
static void attempt_begin(const char *name, int ok, int err) {
  open_obj();
  k_str("attempt", name);
  k_bool("ok", ok);
  key("errno");
  if (ok) v_null(); else v_str(errname(err));
}
static void attempt_end(void) { close_obj(); }
static void attempt(const char *name, int ok, int err) { attempt_begin(name, ok, err); attempt_end(); }

// Reads a file the container should not reach; on success reports the first bytes seen.
static void try_read(const char *name, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) { int e = errno; attempt_begin(name, 0, e); k_str("path", path); attempt_end(); return; }
  char buf[128];
  ssize_t r = read(fd, buf, sizeof buf - 1);
  int e = errno;
  close(fd);
  attempt_begin(name, r >= 0, e);
  k_str("path", path);
  if (r >= 0) { key("content"); v_strn(buf, (size_t)r); }
  attempt_end();
}

// Runs `fn` in a child process (so a chroot or a ptrace cannot disturb the probe) and reports
// the errno it exits with: 0 = the operation succeeded, >0 = its errno.
static int in_child(int (*fn)(void *), void *arg, char *out, size_t outlen) {
  int p[2];
  if (pipe(p) < 0) return errno;
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    close(p[0]);
    int r = fn(arg);
    _exit(r & 0xff);
  }
  close(p[1]);
  size_t n = 0;
  for (ssize_t r; n + 1 < outlen && (r = read(p[0], out + n, outlen - 1 - n)) != 0;) {
    if (r < 0) { if (errno == EINTR) continue; break; }
    n += (size_t)r;
  }
  out[n] = 0;
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
}

// The chroot escape: chroot into a subdirectory, climb ".." from outside it, chroot(".") there.
// In a pivot_root'ed mount namespace the climb stops at the container's own root.
static const char *chroot_marker;
static int chroot_escape(void *out_fd) {
  (void)out_fd;
  mkdir("/tmp/.probe-chroot", 0700);
  int keep = open("/", O_RDONLY | O_DIRECTORY);
  if (chroot("/tmp/.probe-chroot") < 0) return errno;
  if (fchdir(keep) < 0) return errno;
  for (int i = 0; i < 64; i++) if (chdir("..") < 0) return errno;
  if (chroot(".") < 0) return errno;
  // Success of the syscalls is not an escape; reaching the marker is.
  int fd = open(chroot_marker ? chroot_marker : "/nonexistent-marker", O_RDONLY);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

static int unshare_mount_ns(void *unused) {
  (void)unused;
  return unshare(CLONE_NEWNS) < 0 ? errno : 0;
}

static pid_t ptrace_target;
static int ptrace_attempt(void *unused) {
  (void)unused;
  if (ptrace(PTRACE_SEIZE, ptrace_target, 0, 0) < 0) return errno;
  ptrace(PTRACE_DETACH, ptrace_target, 0, 0);
  return 0;
}

// open_by_handle_at with a handle forged for inode 2 (the root directory of an ext2/3/4
// filesystem: FILEID_INO32_GEN, ino 2, generation 0), relative to a file that is bind-mounted
// from the host (the container's /etc/hostname): the "shocker" escape. Needs
// CAP_DAC_READ_SEARCH, which containers do not get.
static void try_open_by_handle(void) {
  struct { unsigned int handle_bytes; int handle_type; uint32_t ino, gen; } h = {8, 1, 2, 0};
  int mfd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
  if (mfd < 0) mfd = open("/", O_RDONLY | O_CLOEXEC);
  int fd = (int)syscall(SYS_open_by_handle_at, mfd, &h, O_RDONLY | O_DIRECTORY);
  int e = errno;
  attempt_begin("open_by_handle_at", fd >= 0, e);
  if (fd >= 0) {
    DIR *d = fdopendir(fd);
    key("entries");
    open_arr();
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d)) && n < 20; n++) v_str(de->d_name);
    close_arr();
    if (d) closedir(d);
  }
  attempt_end();
  if (mfd >= 0) close(mfd);
}

static void try_mount(const char *name, const char *src, const char *fstype) {
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/.probe-mnt-%s", fstype);
  mkdir(dir, 0700);
  int r = mount(src, dir, fstype, 0, NULL);
  int e = errno;
  if (r == 0) umount2(dir, MNT_DETACH);
  rmdir(dir);
  attempt_begin(name, r == 0, e);
  k_str("fstype", fstype);
  attempt_end();
}

// Writes the current value of a cgroup limit back to it (a no-op if it were allowed).
static void try_cgroup_write(const char *name, const char *path) {
  char v[256];
  if (!first_line(path, v, sizeof v)) { int e = errno; attempt_begin(name, 0, e); k_str("path", path); attempt_end(); return; }
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int ok = 0, e = errno;
  if (fd >= 0) {
    ok = write(fd, v, strlen(v)) >= 0;
    e = errno;
    close(fd);
  }
  attempt_begin(name, ok, e);
  k_str("path", path);
  attempt_end();
}

static void try_cgroup_mkdir(const char *name, const char *path) {
  int r = mkdir(path, 0755);
  int e = errno;
  if (r == 0) rmdir(path);
  attempt_begin(name, r == 0, e);
  k_str("path", path);
  attempt_end();
}

static void try_connect(const char *name, const char *path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int r = s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof a);
  int e = errno;
  if (s >= 0) close(s);
  attempt_begin(name, r == 0, e);
  k_str("path", path);
  attempt_end();
}

// A block device node for the first disk sysfs lists (major:minor from /sys/class/block/X/dev),
// then an open of it: the devices cgroup must refuse the open even if mknod is allowed.
static void try_block_device(void) {
  char devno[64] = "", name[256] = "";
  DIR *d = opendir("/sys/class/block");
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      if (e->d_name[0] == '.' || !strncmp(e->d_name, "loop", 4) || !strncmp(e->d_name, "zram", 4) || !strncmp(e->d_name, "ram", 3)) continue;
      char p[512];
      snprintf(p, sizeof p, "/sys/class/block/%s/dev", e->d_name);
      if (first_line(p, devno, sizeof devno)) { snprintf(name, sizeof name, "%s", e->d_name); break; }
    }
    closedir(d);
  }
  unsigned maj = 8, min = 0;  // sda when sysfs shows none
  if (devno[0]) sscanf(devno, "%u:%u", &maj, &min);
  const char *node = "/tmp/.probe-blk";
  unlink(node);
  int r = mknod(node, S_IFBLK | 0600, makedev(maj, min));
  int e = errno;
  attempt_begin("mknod block device", r == 0, e);
  k_str("device", name[0] ? name : "sda (guessed)");
  k_int("major", maj);
  k_int("minor", min);
  attempt_end();
  if (r == 0) {
    int fd = open(node, O_RDONLY | O_CLOEXEC);
    e = errno;
    attempt_begin("open block device", fd >= 0, e);
    if (fd >= 0) {
      char buf[512];
      k_int("bytesRead", read(fd, buf, sizeof buf));
      close(fd);
    }
    attempt_end();
    unlink(node);
  }
}

static void escapes(int argc, char **argv) {
  const char *marker = param(argc, argv, "marker");
  const char *hostpid = param(argc, argv, "hostpid");
  const char *sock = param(argc, argv, "socket");
  const char *hostname = param(argc, argv, "hostname");
  char path[PATH_MAX + 64], out[256];

  key("escapes");
  open_arr();
  if (marker) {
    try_read("read host file by its path", marker);
    snprintf(path, sizeof path, "/proc/1/root%s", marker);
    try_read("read host file via /proc/1/root", path);
    snprintf(path, sizeof path, "/../../../../../../..%s", marker);
    try_read("read host file via ../..", path);
    snprintf(path, sizeof path, "/proc/self/cwd/../../../../../..%s", marker);
    try_read("read host file via /proc/self/cwd/..", path);
    chroot_marker = marker;
    int r = in_child(chroot_escape, NULL, out, sizeof out);
    rmdir("/tmp/.probe-chroot");
    attempt("chroot escape to the host file", r == 0, r);
  }
  if (hostpid) {
    snprintf(path, sizeof path, "/proc/%s/root%s", hostpid, marker ? marker : "/");
    try_read("read host file via /proc/HOSTPID/root", path);
    snprintf(path, sizeof path, "/proc/%s/comm", hostpid);
    try_read("see host process in /proc", path);
    pid_t hp = (pid_t)atoi(hostpid);
    int r = kill(hp, 0);
    attempt("signal host process", r == 0, errno);
    ptrace_target = hp;
    r = in_child(ptrace_attempt, NULL, out, sizeof out);
    attempt("ptrace host process", r == 0, r);
  }
  // ptrace of pid 1: in a pid namespace, pid 1 is the container's own init. Reported with what
  // pid 1 is, so the test can tell it is not the host's init.
  {
    ptrace_target = 1;
    int r = in_child(ptrace_attempt, NULL, out, sizeof out);
    char comm[64];
    attempt_begin("ptrace pid 1", r == 0, r);
    key("pid1comm");
    if (first_line("/proc/1/comm", comm, sizeof comm)) v_str(comm); else v_null();
    attempt_end();
  }
  try_open_by_handle();
  try_mount("mount proc", "proc", "proc");
  try_mount("mount sysfs", "sysfs", "sysfs");
  try_mount("mount tmpfs", "tmpfs", "tmpfs");
  try_mount("mount cgroup2", "cgroup2", "cgroup2");
  {
    // Remounting / read-write would be the way to write through a read-only bind.
    int r = mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL);
    attempt("remount /proc/sys read-write", r == 0, errno);
  }
  try_cgroup_write("write v1 memory limit", "/sys/fs/cgroup/memory/memory.limit_in_bytes");
  try_cgroup_write("write v1 pids limit", "/sys/fs/cgroup/pids/pids.max");
  try_cgroup_write("write v2 memory limit", "/sys/fs/cgroup/memory.max");
  try_cgroup_write("write v2 pids limit", "/sys/fs/cgroup/pids.max");
  try_cgroup_mkdir("create v1 cgroup", "/sys/fs/cgroup/memory/probe-escape");
  try_cgroup_mkdir("create v2 cgroup", "/sys/fs/cgroup/probe-escape");
  if (sock) {
    try_connect("connect to the agent socket", sock);
    snprintf(path, sizeof path, "/proc/1/root%s", sock);
    try_connect("connect to the agent socket via /proc/1/root", path);
  }
  {
    int r = (int)syscall(SYS_init_module, NULL, 0, "");
    attempt("init_module", r == 0, errno);
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    r = (int)syscall(SYS_finit_module, fd, "", 0);
    attempt("finit_module", r == 0, errno);
    if (fd >= 0) close(fd);
    r = (int)syscall(SYS_delete_module, "probe_nonexistent", O_NONBLOCK);
    attempt("delete_module", r == 0, errno);
  }
  try_block_device();
  {
    // Setting our own current hostname again: a change to the host's if the UTS namespace were
    // shared and CAP_SYS_ADMIN held; the container's otherwise. Either way the same name.
    struct utsname u;
    uname(&u);
    int r = sethostname(u.nodename, strlen(u.nodename));
    attempt_begin("sethostname", r == 0, errno);
    k_str("name", u.nodename);
    if (hostname) k_bool("sameAsHost", !strcmp(hostname, u.nodename));
    attempt_end();
  }
  {
    int r = in_child(unshare_mount_ns, NULL, out, sizeof out);
    attempt("unshare mount namespace", r == 0, r);
  }
  close_arr();
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  putchar('{');
  first = 1;
  identity();
  key("argv");
  open_arr();
  for (int i = 0; i < argc; i++) v_str(argv[i]);
  close_arr();
  status();
  mounts();
  masked();
  readonly();
  cgroups();
  network();
  fds();
  processes();
  if (argc > 1 && !strcmp(argv[1], "escape")) escapes(argc, argv);
  putchar('}');
  putchar('\n');
  fflush(stdout);
  return 0;
}
