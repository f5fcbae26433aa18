// User namespaces and idmapped mounts, prepared by the helper (the host's root) before clone,
// because only it may: the container's own user namespace, once entered, has no say over the
// host's files. Three cases, each ending as file descriptors the child attaches (ops-mount.c):
//   - a BIND with an idmap (the host's user namespace only): a user namespace with those maps,
//     the bind then made MOUNT_ATTR_IDMAP through it (idmap_binds, struct rec.userns);
//   - a container with a user namespace: the image's layers, owned by the host's root, idmapped
//     with the container's maps so its root owns them (idmap_lowers, struct plan.lower_fds), and
//     every bind's source cloned here, where the store (0700) can still be looked into
//     (struct rec.mnt).
// The container's uid_map, gid_map and setgroups are written by launch.c, after clone.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

// A user namespace with the maps `umap` and `gmap` (in /proc's format), as an fd: a child
// unshares one and waits, the helper writes its maps, keeps /proc/CHILD/ns/user open and lets the
// child go (the namespace lives on as long as the fd). `idmap` names the maps in errors.
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
void idmap_lowers(struct plan *p) {
  const struct rec *ov = NULL;
  for (uint32_t i = p->first_op; i < p->nrecs; i++)
    if (p->recs[i].def->op == OP_OVERLAY) ov = &p->recs[i];
  if (!ov) return;
  static char umap[MAP_TEXT_MAX], gmap[MAP_TEXT_MAX];
  map_text(p->uid_map, umap, sizeof umap);
  map_text(p->gid_map, gmap, sizeof gmap);
  int userns = maps_userns(umap, gmap, "the container's maps");
  // The child, root of its user namespace only, may not look up paths in the store (0700, host
  // root's): the bind sources are cloned here (with their attributes) and passed as fds.
  for (uint32_t i = p->first_op; i < p->nrecs; i++) {
    struct rec *b = &p->recs[i];
    if (b->def->op != OP_BIND) continue;
    uint64_t attrs;
    int rc;
    parse_attrs(b->args[2], &attrs, &rc);
    int m = (int)syscall(SYS_open_tree, AT_FDCWD, b->args[0], B_OPEN_TREE_CLONE | O_CLOEXEC | (rc ? B_AT_RECURSIVE : 0));
    uint32_t step = i - p->first_op + 1;
    if (m < 0) helper_fail(step, "bind", errno, "open_tree", b->args[0], "bind \"%s\" on \"%s\"", b->args[0], b->args[1]);
    if (attrs && set_attrs(m, attrs, rc) < 0)
      helper_fail(step, "bind", errno, "mount_setattr", b->args[0], "bind \"%s\" on \"%s\"", b->args[0], b->args[1]);
    b->mnt = m;
  }
  for (uint32_t i = 4; i < ov->nargs; i++) {
    const char *lower = ov->args[i];
    int mnt = (int)syscall(SYS_open_tree, AT_FDCWD, lower, B_OPEN_TREE_CLONE | O_CLOEXEC);
    if (mnt < 0) helper_fail(0, "overlay", errno, "open_tree", lower, "idmap lower dir %u", i - 3);
    struct b_mount_attr a = {.attr_set = B_MOUNT_ATTR_IDMAP | B_MOUNT_ATTR_NOSUID | B_MOUNT_ATTR_NODEV, .userns_fd = (uint64_t)userns};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
      helper_fail(0, "overlay", errno, "mount_setattr", lower, "idmap lower dir %u", i - 3);
    p->lower_fds[p->nlower_fds++] = mnt;
  }
  close(userns);
}

// Every idmapped BIND gets its user namespace.
void idmap_binds(struct plan *p) {
  static char umap[340 * 36], gmap[340 * 36];
  for (uint32_t i = p->first_op; i < p->nrecs; i++) {
    struct rec *r = &p->recs[i];
    if (r->def->op != OP_BIND || r->nargs != 4) continue;
    const char *idmap = r->args[3];
    if (parse_idmap(idmap, umap, sizeof umap, gmap, sizeof gmap) < 0)
      helper_fail(0, "bind", EINVAL, "-", NULL, "idmap \"%s\"", idmap);
    r->userns = maps_userns(umap, gmap, idmap);
  }
}
