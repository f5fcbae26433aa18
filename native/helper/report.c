// Failure reporting: how every part of the helper says what went wrong, in one line the agent
// parses (agent/runtime/helper.ts, parseStatusLine). Two channels:
//   - the helper itself writes status lines on fd 4 ("started PID", "exited N", "killed SIGX",
//     or a failure) and then exits; run by hand without fd 4, it writes them on stderr;
//   - the child, while it runs the operations, writes its failure on the err pipe (the write end
//     is O_CLOEXEC, so EOF without data tells the helper that execve succeeded) and _exit(125)s.
//
// Failure lines have exactly this shape (one line, tokens separated by single spaces):
//   failed <step> <op> <ERRNO> <syscall> <path>: <description>
// <step> is the operation's number from 1, or 0 for the helper's own work; <op> the op's name
// (ops.def) or "plan", "setup", "clone"...; <path> is "-" when there is none, and its bytes
// <= 0x20, 0x7f, '\\' and ':' are written as \xNN; <description> is a human phrase such as
// `mount "proc" on "/proc"` or `exec "nosuch"`, its newlines made spaces.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

// The failure channel of this process: one per process, so file-scope. The child sets err_fd
// and the step it runs; the helper keeps err_fd at -1.
static struct {
  int status_fd;
  int err_fd;
  uint32_t step;
  const char *op;
} channel = {4, -1, 0, "setup"};

void report_status_fd(int fd) { channel.status_fd = fd; }
int report_get_status_fd(void) { return channel.status_fd; }
void report_child(int err_fd) { channel.err_fd = err_fd; }

void report_step(uint32_t step, const char *op) {
  channel.step = step;
  channel.op = op;
}

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

// Writes all of `buf`, giving up silently when the reader is gone (a failure line has nowhere
// else to go).
void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    buf += w;
    len -= (size_t)w;
  }
}

// Writes all of `buf`; -1 (errno set) when it cannot.
int write_full(int fd, const void *buf, size_t len) {
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

void status_line(const char *buf, size_t len) {
  if (fcntl(channel.status_fd, F_GETFD) < 0) channel.status_fd = 2;  // run by hand: report on stderr
  write_all(channel.status_fd, buf, len);
}

void helper_fail(uint32_t step, const char *op, int err, const char *syscall, const char *path, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_failure(buf, sizeof buf, step, op, err, syscall, path, fmt, ap);
  va_end(ap);
  status_line(buf, n);
  _exit(125);
}

void child_fail(int err, const char *syscall, const char *path, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_failure(buf, sizeof buf, channel.step, channel.op, err, syscall, path, fmt, ap);
  va_end(ap);
  write_all(channel.err_fd, buf, n);
  _exit(125);
}
