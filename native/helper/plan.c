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
//                                        see monitor-socket.c); stdin
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
//   27 TTY       rows cols               the container's pty as controlling terminal (tty.c)
//   28 HOLD                              instead of EXEC: the set-up process closes its end of
//                                        the err pipe ("started") and sleeps until killed (or
//                                        the helper dies), running no program at all. Its
//                                        /proc/PID/root is the container's filesystem with its
//                                        mounts: how the agent reaches a stopped container's
//                                        files (`berth cp`) without mounting on the host.
//
// The codes and argument shapes are declared in ops.def; this file reads and validates a plan
// completely before anything is created, so a bad plan never leaves half a container behind.
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

static const struct opdef OPS[] = {
#define OP(id, code, name, class, join, min, max, kinds) {OP_##id, name, OPC_##class, join, min, max, kinds},
#include "ops.def"
#undef OP
};

// The plan's bytes while they are parsed.
struct reader {
  unsigned char *buf;
  size_t len, at;
};

static void read_all(struct reader *rd, int fd) {
  size_t cap = 65536;
  rd->buf = malloc(cap);
  rd->len = rd->at = 0;
  if (!rd->buf) helper_fail(0, "plan", ENOMEM, "malloc", NULL, "reading the plan");
  for (;;) {
    if (rd->len == cap) {
      if (cap >= MAX_PLAN) plan_fail("the plan is larger than %u bytes", MAX_PLAN);
      cap *= 2;
      unsigned char *p = realloc(rd->buf, cap);
      if (!p) helper_fail(0, "plan", ENOMEM, "realloc", NULL, "reading the plan");
      rd->buf = p;
    }
    ssize_t r = read(fd, rd->buf + rd->len, cap - rd->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) helper_fail(0, "plan", errno, "read", NULL, "reading the plan from fd %d", fd);
    if (r == 0) break;
    rd->len += (size_t)r;
  }
  close(fd);
}

static uint32_t take_u32(struct reader *rd, const char *what) {
  if (rd->len - rd->at < 4) plan_fail("the plan ends inside %s (byte %zu of %zu)", what, rd->at, rd->len);
  const unsigned char *b = rd->buf + rd->at;
  rd->at += 4;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

// A decimal number: digits only, no leading zero, at most `max`. -1 when not.
int parse_u64(const char *s, uint64_t max, uint64_t *out) {
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

// Argument i of r as a number (validated already by plan_read).
uint64_t num(const struct rec *r, uint32_t i) {
  uint64_t v = 0;
  parse_u64(r->args[i], UINT64_MAX, &v);
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
int parse_idmap(const char *s, char *umap, size_t ucap, char *gmap, size_t gcap) {
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

size_t map_text(const struct rec *r, char *buf, size_t cap) {
  size_t n = 0;
  for (uint32_t i = 0; i + 2 < r->nargs && n < cap; i += 3)
    n += (size_t)snprintf(buf + n, cap - n, "%s %s %s\n", r->args[i], r->args[i + 1], r->args[i + 2]);
  return n < cap ? n : cap - 1;
}

// Mount attributes: a comma list of ro nosuid nodev noexec strictatime noatime rec, or "-".
int parse_attrs(const char *s, uint64_t *attrs, int *rec) {
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

// One record's head and arguments, each checked against its kind.
static struct rec *take_record(struct plan *p, struct reader *rd) {
  if (p->nrecs == MAX_RECORDS) plan_fail("more than %u records", MAX_RECORDS);
  uint32_t idx = p->nrecs;
  uint32_t op = take_u32(rd, "a record's op");
  uint32_t nargs = take_u32(rd, "a record's argument count");
  const struct opdef *def = find_op(op);
  if (!def) plan_fail("record %u: unknown op %u", idx, op);
  if (nargs < def->min || nargs > def->max || nargs > MAX_ARGS)
    plan_fail("record %u (%s): %u arguments, expected %u..%u", idx, def->name, nargs, def->min,
              def->max == UINT32_MAX ? MAX_ARGS : def->max);
  struct rec *r = &p->recs[p->nrecs++];
  r->def = def;
  r->nargs = nargs;
  r->args = calloc(nargs + 1, sizeof(char *));
  if (!r->args) helper_fail(0, "plan", ENOMEM, "calloc", NULL, "reading the plan");
  size_t nk = strlen(def->kinds);
  for (uint32_t i = 0; i < nargs; i++) {
    uint32_t len = take_u32(rd, "an argument's length");
    if (len > MAX_ARG_LEN) plan_fail("record %u (%s) argument %u: %u bytes is too long", idx, def->name, i, len);
    if (rd->len - rd->at < len) plan_fail("record %u (%s) argument %u: the plan ends inside it", idx, def->name, i);
    if (memchr(rd->buf + rd->at, 0, len)) plan_fail("record %u (%s) argument %u contains a NUL byte", idx, def->name, i);
    char *s = malloc((size_t)len + 1);
    if (!s) helper_fail(0, "plan", ENOMEM, "malloc", NULL, "reading the plan");
    memcpy(s, rd->buf + rd->at, len);
    s[len] = 0;
    rd->at += len;
    r->args[i] = s;
    char kind = nk ? def->kinds[i < nk ? i : nk - 1] : A_STR;
    uint64_t v;
    if (kind == A_NUM && parse_u64(s, UINT64_MAX, &v) != 0)
      plan_fail("record %u (%s) argument %u: \"%s\" is not a decimal number", idx, def->name, i, s);
    if (kind == A_ABS && s[0] != '/')
      plan_fail("record %u (%s) argument %u: \"%s\" is not an absolute path", idx, def->name, i, s);
  }
  return r;
}

// Every mount's and bind's attributes parse; "rec" only on binds.
static void validate_attrs(const struct plan *p) {
  for (uint32_t i = p->first_op; i < p->nrecs; i++) {
    const struct rec *r = &p->recs[i];
    uint64_t a;
    int rec;
    if ((r->def->op == OP_MOUNT || r->def->op == OP_BIND) && parse_attrs(r->args[2], &a, &rec) != 0)
      plan_fail("record %u (%s): bad mount attributes \"%s\"", i, r->def->name, r->args[2]);
    if (r->def->op == OP_MOUNT && rec) plan_fail("record %u (mount): \"rec\" is for binds", i);
  }
}

// Reads the plan from `fd` to EOF and validates all of it; fails the helper (`failed 0 plan
// EINVAL ...`) on the first thing wrong.
void plan_read(struct plan *p, int fd) {
  struct reader rd;
  read_all(&rd, fd);
  p->setgroups_deny = -1;
  if (rd.len < 8 || memcmp(rd.buf, "BRTH", 4) != 0) plan_fail("the plan does not start with \"BRTH\"");
  rd.at = 4;
  uint32_t version = take_u32(&rd, "the header");
  if (version != 1) plan_fail("plan version %u is not 1", version);
  int seen_end = 0, seen_exec = 0, seen_overlay = 0, seen_pivot = 0;
  while (!seen_end) {
    uint32_t idx = p->nrecs;
    struct rec *r = take_record(p, &rd);
    const struct opdef *def = r->def;
    uint32_t op = def->op, nargs = r->nargs;
    int is_config = def->class == OPC_CONFIG;
    if (p->exec_mode && def->class == OPC_STEP && !def->join)
      plan_fail("record %u (%s): an exec plan only sets up the process", idx, def->name);
    if (is_config && p->first_op) plan_fail("record %u (%s) comes after the first operation", idx, def->name);
    if (def->class == OPC_STEP && !p->first_op) p->first_op = idx;
    if (seen_exec && op != OP_END) plan_fail("record %u (%s) comes after exec", idx, def->name);
    switch (op) {
      case OP_END:
        seen_end = 1;
        break;
      case OP_NAMESPACES:
        if (p->ns_flags || p->want_cgroupns) plan_fail("namespaces given twice");
        for (uint32_t i = 0; i < nargs; i++) {
          int f = ns_flag(r->args[i]);
          if (!f) plan_fail("unknown namespace \"%s\"", r->args[i]);
          if (f == CLONE_NEWCGROUP) p->want_cgroupns = 1;
          else p->ns_flags |= f;
        }
        break;
      case OP_UID_MAP:
      case OP_GID_MAP: {
        const struct rec **slot = op == OP_UID_MAP ? &p->uid_map : &p->gid_map;
        if (*slot) plan_fail("%s given twice", def->name);
        if (nargs % 3) plan_fail("%s: %u numbers is not a list of (inside outside count) triples", def->name, nargs);
        for (uint32_t i = 0; i < nargs; i++)
          if (num(r, i) > UINT32_MAX) plan_fail("%s: %s is out of range", def->name, r->args[i]);
        *slot = r;
        break;
      }
      case OP_SETGROUPS:
        if (p->setgroups_deny != -1) plan_fail("setgroups given twice");
        if (!strcmp(r->args[0], "allow")) p->setgroups_deny = 0;
        else if (!strcmp(r->args[0], "deny")) p->setgroups_deny = 1;
        else plan_fail("setgroups: \"%s\" is neither allow nor deny", r->args[0]);
        break;
      case OP_CGROUP:
        p->cgroups[p->ncgroups++] = r->args[0];
        break;
      case OP_JOIN:
        if (p->exec_mode) plan_fail("join given twice");
        if (num(r, 0) < 1 || num(r, 0) > INT_MAX) plan_fail("join: pid %s is out of range", r->args[0]);
        p->join_pid = (pid_t)num(r, 0);
        for (uint32_t i = 1; i < nargs; i++) {
          int f = ns_flag(r->args[i]);
          if (!f) plan_fail("unknown namespace \"%s\"", r->args[i]);
          p->join_flags |= f;
        }
        p->exec_mode = 1;
        break;
      case OP_NETNS:
        if (p->netns_path) plan_fail("netns given twice");
        p->netns_path = r->args[0];
        break;
      case OP_INIT:
        if (p->init_path) plan_fail("init given twice");
        p->init_path = r->args[0];
        break;
      case OP_MONITOR:
        if (p->monitor_dir) plan_fail("monitor given twice");
        if (num(r, 1) > 1) plan_fail("monitor: stdin flag %s is neither 0 nor 1", r->args[1]);
        p->monitor_dir = r->args[0];
        p->monitor_stdin = (int)num(r, 1);
        break;
      case OP_TTY:
        if (p->tty_mode) plan_fail("record %u: a second tty", idx);
        if (num(r, 0) > 65535 || num(r, 1) > 65535) plan_fail("tty: size %sx%s is out of range", r->args[0], r->args[1]);
        p->tty_mode = 1;
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
          if (parse_idmap(r->args[3], NULL, 0, NULL, 0) < 0)
            plan_fail("record %u: idmap \"%s\" is not UIDMAP/GIDMAP of inside:outside:count", idx, r->args[3]);
          if (p->ns_flags & CLONE_NEWUSER) plan_fail("record %u: idmapped binds need the host's user namespace", idx);
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
        if (!seen_pivot && !(p->exec_mode && op == OP_CHDIR))
          plan_fail("record %u (%s) comes before pivot-root", idx, def->name);
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
        if (p->exec_mode) plan_fail("record %u: hold is for launch plans", idx);
        if (p->monitor_dir) plan_fail("record %u: hold and monitor exclude each other", idx);
        p->hold_mode = 1;
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
  if (rd.at != rd.len) plan_fail("%zu bytes after the end record", rd.len - rd.at);
  if (!seen_exec) plan_fail("the plan has no exec");
  if ((p->uid_map || p->gid_map || p->setgroups_deny != -1) && !(p->ns_flags & CLONE_NEWUSER))
    plan_fail("uid/gid maps without a user namespace");
  if ((p->ns_flags & CLONE_NEWUSER) && (!p->uid_map || !p->gid_map)) plan_fail("a user namespace needs a uid-map and a gid-map");
  if (seen_overlay && !(p->ns_flags & CLONE_NEWNS)) plan_fail("mounts need a mount namespace");
  if (p->exec_mode && (p->ns_flags || p->want_cgroupns || p->uid_map || p->gid_map || p->setgroups_deny != -1))
    plan_fail("join (enter a running container) and namespaces (create one) exclude each other");
  if (p->exec_mode && p->monitor_dir) plan_fail("monitor is for containers, not for exec plans");
  if (p->exec_mode && p->init_path) plan_fail("init is for containers, not for exec plans");
  if (p->netns_path && (p->exec_mode || (p->ns_flags & CLONE_NEWNET)))
    plan_fail("netns (join a network namespace) excludes join and a new \"net\" namespace");
  free(rd.buf);
  validate_attrs(p);
}
