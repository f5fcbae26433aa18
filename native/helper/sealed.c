// The sealed copy: a file copied into a memfd and sealed (F_SEAL_WRITE, GROW, SHRINK, SEAL), so
// that nothing, the container included, can change what runs from it. Two users:
//   - INIT: the container's pid 1 (native/init/berth-init.c) is copied before clone and run
//     with execveat(AT_EMPTY_PATH) by the child (ops-process.c); the container's /proc/1/exe is
//     then the memfd, not a host file it could write through.
//   - `--sealed`: the helper copies itself and re-executes from the copy, before it reads the
//     plan (which waits on fd 3). The agent asks for this when the helper will enter a running
//     container (exec): between its clone into the container's pid namespace and the exec of the
//     command, the child is a process of the container, and a process of the container could open
//     its /proc/PID/exe and, later, write the host's berth-helper through it (CVE-2019-5736
//     against runc). A sealed memfd cannot be written; the child is also made non-dumpable until
//     its exec (child.c). The helper then stays the exec's monitor, still from the memfd.
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helper.h"

// A copy of the file `path` in a memfd named `name`, sealed against any change; fails the helper
// as `op`.
int sealed_copy(const char *path, const char *name, const char *op) {
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

// `--sealed`: runs this program again from a sealed copy of itself, with no arguments.
void reexec_sealed(char *argv0) {
  int fd = sealed_copy("/proc/self/exe", "berth-helper", "setup");
  char *args[] = {argv0, NULL};
  extern char **environ;
  syscall(SYS_execveat, fd, "", args, environ, AT_EMPTY_PATH);
  helper_fail(0, "setup", errno, "execveat", NULL, "run the sealed helper");
}
