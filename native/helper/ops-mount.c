// The mount operations of a plan, run by the child in its new mount namespace (child.c calls
// them in the plan's order): the overlay that becomes the root, filesystems, binds, device nodes,
// symlinks, pivot_root, masks and read-only paths; also the loopback interface. Failures end the
// child through child_fail, naming the step.
//
// Everything uses the new mount API (fsopen/fsconfig/fsmount, open_tree, move_mount,
// mount_setattr) on file descriptors. Until pivot-root, paths of the host (the overlay's dirs, bind
// sources) are looked up in the child's copy of the host's mount tree; paths inside the container
// are resolved with openat2(RESOLVE_IN_ROOT) under the overlay's mount, so a symlink in the image
// (which the container's author controls) can never lead a mount or a mknod out of the rootfs.
// Mount points that are missing are created the same way, component by component.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "helper.h"

void op_mount_private(void) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(errno, "mount", "/", "make \"/\" private (MS_REC|MS_PRIVATE)");
}

// Opens `path` (absolute, inside the container) with every component resolved inside `root`:
// ".." stops at the root, absolute symlinks restart at the root, /proc magic links are refused.
static int open_in_root(int root, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = 0, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  for (int tries = 0;; tries++) {
    int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
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

// The directory at `path` inside the root, created (0755, like mkdir -p) where missing. Each
// missing component is made with mkdirat in its parent, itself resolved inside the root, so a
// symlink can redirect creation only to another place inside the root.
static int dir_in_root(int root, const char *path, const char **call) {
  *call = "openat2";
  int fd = open_in_root(root, path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) return fd;
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= PATH_MAX) return errno = ENAMETOOLONG, -1;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1;;) {
    char *slash = strchr(p, '/');
    if (slash) *slash = 0;
    if (*p && strcmp(p, ".") && strcmp(p, "..")) {
      int cfd = open_in_root(root, buf, O_PATH | O_DIRECTORY);
      if (cfd < 0 && errno == ENOENT) {
        char saved = p[-1];
        p[-1] = 0;
        int pfd = open_in_root(root, buf[0] ? buf : "/", O_PATH | O_DIRECTORY);
        p[-1] = saved;
        if (pfd < 0) return -1;
        *call = "mkdirat";
        int r = mkdirat(pfd, p, 0755);
        int e = errno;
        close(pfd);
        if (r < 0 && e != EEXIST) return errno = e, -1;
        *call = "openat2";
        cfd = open_in_root(root, buf, O_PATH | O_DIRECTORY);
      }
      if (cfd < 0) return -1;
      close(cfd);
    }
    if (!slash) break;
    *slash = '/';
    p = slash + 1;
  }
  return open_in_root(root, path, O_PATH | O_DIRECTORY);
}

// The non-directory at `path` inside the root, created as an empty 0644 file when missing.
static int file_in_root(int root, const char *path, const char **call) {
  *call = "openat2";
  int fd = open_in_root(root, path, O_PATH);
  if (fd >= 0 || errno != ENOENT) return fd;
  const char *base;
  char dir[PATH_MAX];
  if (split_path(path, dir, &base) < 0) return -1;
  int pfd = dir_in_root(root, dir, call);
  if (pfd < 0) return -1;
  *call = "openat";
  int f = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  int e = errno;
  close(pfd);
  if (f < 0 && e != EEXIST) return errno = e, -1;
  if (f >= 0) close(f);
  *call = "openat2";
  return open_in_root(root, path, O_PATH);
}

// The parent directory of `path` inside the root (created if missing); *base gets the last name,
// kept in `dir` (PATH_MAX bytes, the caller's).
static int parent_in_root(int root, const char *path, char *dir, const char **base, const char **call) {
  *call = "openat2";
  if (split_path(path, dir, base) < 0) return -1;
  return dir_in_root(root, dir, call);
}

static int move_mount_fd(int from, int to) {
  return (int)syscall(SYS_move_mount, from, "", to, "", B_MOVE_MOUNT_F_EMPTY_PATH | B_MOVE_MOUNT_T_EMPTY_PATH);
}

int set_attrs(int mfd, uint64_t attrs, int rec) {
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

void op_overlay(struct child *c, const struct rec *r) {
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
    if (c->plan->nlower_fds) {
      const char *slash = strrchr(target, '/');
      int n = snprintf(staged, sizeof staged, "%.*s/lowers/%u", (int)(slash - target), target, i - 4);
      if (n < 0 || (size_t)n >= sizeof staged) child_fail(ENAMETOOLONG, "snprintf", target, "%s: lower dir %u", what, i - 3);
      if (syscall(SYS_move_mount, c->plan->lower_fds[i - 4], "", AT_FDCWD, staged, B_MOVE_MOUNT_F_EMPTY_PATH) < 0)
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
  c->root_fd = mnt;
}

void op_mount(struct child *c, const struct rec *r) {
  const char *fstype = r->args[0], *target = r->args[1];
  uint64_t attrs;
  int rec;
  parse_attrs(r->args[2], &attrs, &rec);
  char what[PATH_MAX + 64];
  snprintf(what, sizeof what, "mount \"%s\" on \"%s\"", fstype, target);
  int fs = make_fs(fstype, r->args + 3, r->nargs - 3, NULL, target, what);
  int mnt = finish_fs(fs, attrs, target, what);
  const char *call;
  int tfd = dir_in_root(c->root_fd, target, &call);
  if (tfd < 0) child_fail(errno, call, target, "%s", what);
  if (move_mount_fd(mnt, tfd) < 0) child_fail(errno, "move_mount", target, "%s", what);
  close(mnt);
  close(tfd);
}

void op_bind(struct child *c, const struct rec *r) {
  const char *source = r->args[0], *target = r->args[1];
  uint64_t attrs;
  int rec;
  parse_attrs(r->args[2], &attrs, &rec);
  char what[2 * PATH_MAX + 64];
  snprintf(what, sizeof what, "bind \"%s\" on \"%s\"", source, target);
  int mnt = r->mnt > 0 ? r->mnt  // user namespace: cloned (and attrs set) by the helper
                       : (int)syscall(SYS_open_tree, AT_FDCWD, source, B_OPEN_TREE_CLONE | O_CLOEXEC | (rec ? B_AT_RECURSIVE : 0));
  if (mnt < 0) child_fail(errno, "open_tree", source, "%s", what);
  if (r->mnt > 0) {
    // attrs applied already
  } else if (r->userns > 0) {
    struct b_mount_attr a = {.attr_set = attrs | B_MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)r->userns};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
      child_fail(errno, "mount_setattr", source, "%s (idmapped)", what);
  } else if (attrs && set_attrs(mnt, attrs, rec) < 0) child_fail(errno, "mount_setattr", source, "%s", what);
  struct stat st;
  if (fstat(mnt, &st) < 0) child_fail(errno, "fstat", source, "%s", what);
  const char *call;
  int tfd = S_ISDIR(st.st_mode) ? dir_in_root(c->root_fd, target, &call) : file_in_root(c->root_fd, target, &call);
  if (tfd < 0) child_fail(errno, call, target, "%s", what);
  struct stat ts;
  if (fstat(tfd, &ts) == 0 && S_ISDIR(ts.st_mode) != S_ISDIR(st.st_mode))
    child_fail(S_ISDIR(st.st_mode) ? ENOTDIR : EISDIR, "move_mount", target, "%s: one is a directory, the other not", what);
  if (move_mount_fd(mnt, tfd) < 0) child_fail(errno, "move_mount", target, "%s", what);
  close(mnt);
  close(tfd);
}

void op_mknod(struct child *c, const struct rec *r) {
  const char *path = r->args[0], *base, *call;
  char dir[PATH_MAX];
  int pfd = parent_in_root(c->root_fd, path, dir, &base, &call);
  if (pfd < 0) child_fail(errno, call, path, "mknod \"%s\"", path);
  if (mknodat(pfd, base, S_IFCHR | (mode_t)num(r, 1), makedev((unsigned)num(r, 2), (unsigned)num(r, 3))) < 0)
    child_fail(errno, "mknodat", path, "mknod \"%s\"", path);
  close(pfd);
}

void op_symlink(struct child *c, const struct rec *r) {
  const char *path = r->args[1], *base, *call;
  char dir[PATH_MAX];
  int pfd = parent_in_root(c->root_fd, path, dir, &base, &call);
  if (pfd < 0) child_fail(errno, call, path, "symlink \"%s\"", path);
  if (symlinkat(r->args[0], pfd, base) < 0) child_fail(errno, "symlinkat", path, "symlink \"%s\" -> \"%s\"", path, r->args[0]);
  close(pfd);
}

void op_loopback_up(void) {
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

void op_pivot_root(struct child *c) {
  if (fchdir(c->root_fd) < 0) child_fail(errno, "fchdir", NULL, "enter the rootfs");
  // The new root is stacked under the old one at "/"; detaching "." then drops the old root and
  // everything below it (the host's mounts) from this namespace. Propagation is private by now,
  // so nothing of this reaches the host.
  if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(errno, "pivot_root", NULL, "pivot_root into the rootfs");
  if (umount2(".", MNT_DETACH) < 0) child_fail(errno, "umount2", NULL, "detach the old root");
  if (chdir("/") < 0) child_fail(errno, "chdir", "/", "chdir \"/\"");
  close(c->root_fd);
  c->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (c->root_fd < 0) child_fail(errno, "open", "/", "open the new root");
}

void op_mask(struct child *c, const struct rec *r) {
  const char *path = r->args[0];
  int fd = open_in_root(c->root_fd, path, O_PATH);
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
    int nfd = open_in_root(c->root_fd, "/dev/null", O_PATH);
    if (nfd < 0) child_fail(errno, "openat2", "/dev/null", "mask \"%s\"", path);
    mnt = (int)syscall(SYS_open_tree, nfd, "", B_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
    if (mnt < 0) child_fail(errno, "open_tree", "/dev/null", "mask \"%s\"", path);
    close(nfd);
  }
  if (move_mount_fd(mnt, fd) < 0) child_fail(errno, "move_mount", path, "mask \"%s\"", path);
  close(mnt);
  close(fd);
}

void op_readonly(struct child *c, const struct rec *r) {
  const char *path = r->args[0];
  int fd = open_in_root(c->root_fd, path, O_PATH);
  if (fd < 0 && errno == ENOENT) return;
  if (fd < 0) child_fail(errno, "openat2", path, "make \"%s\" read-only", path);
  int mnt = (int)syscall(SYS_open_tree, fd, "", B_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | B_AT_RECURSIVE);
  if (mnt < 0) child_fail(errno, "open_tree", path, "make \"%s\" read-only", path);
  if (set_attrs(mnt, B_MOUNT_ATTR_RDONLY, 1) < 0) child_fail(errno, "mount_setattr", path, "make \"%s\" read-only", path);
  if (move_mount_fd(mnt, fd) < 0) child_fail(errno, "move_mount", path, "make \"%s\" read-only", path);
  close(mnt);
  close(fd);
}

