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
//
// This file is that monitor. Its state is one `struct monitor`, made before clone by
// monitor_setup (so a failure is still reported on fd 4 and the child can take its stdio from
// the pipes), then run by monitor_persistent after "started" until the container's init exits.
// Signals sent to the helper are forwarded to the container as in monitor.c.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper.h"

#define FRAME_MAX 65536u
#define SPILL_MAX (64ull << 20)

struct monitor {
  int dir;                        // the container's directory
  int listen, client, spill;      // the socket, the agent connected to it (or -1), dir/spill (or -1)
  int in[2], out[2], err[2];      // the container's stdio pipes (in: /dev/null without stdin)
  unsigned long long spilled, lost;
  int ever_connected;             // the agent that launched us connects right after "started"
  // Pending stdin for the container: one frame's worth at a time (the agent's frames wait).
  char inbuf[FRAME_MAX];
  size_t in_len, in_off;
};

static void frame_header(char *h, char type, size_t len) {
  h[0] = type;
  for (int i = 0; i < 4; i++) h[1 + i] = (char)((len >> (8 * i)) & 0xff);
}

static void drop_client(struct monitor *m) {
  if (m->client >= 0) close(m->client);
  m->client = -1;
}

// To the agent if one listens, else to the spill file (bounded; the rest is counted as lost).
static void deliver(struct monitor *m, char type, const char *data, size_t len) {
  char h[5];
  frame_header(h, type, len);
  if (m->client >= 0) {
    if (write_full(m->client, h, 5) == 0 && write_full(m->client, data, len) == 0) return;
    drop_client(m);  // it went away: this frame goes to the spill file, whole
  }
  if (m->spill < 0) m->spill = openat(m->dir, "spill", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (m->spill < 0 || (type != 'X' && type != 'L' && m->spilled + 5 + len > SPILL_MAX)) {
    m->lost += len;
    return;
  }
  if (write_full(m->spill, h, 5) == 0 && write_full(m->spill, data, len) == 0) m->spilled += 5 + len;
}

static void deliver_lost(struct monitor *m) {
  if (!m->lost) return;
  char n[32];
  int len = snprintf(n, sizeof n, "%llu", m->lost);
  m->lost = 0;
  deliver(m, 'L', n, (size_t)len);
}

// A new agent: it replaces the old one and first gets what was spilled while none listened.
static void accept_client(struct monitor *m) {
  int c = accept4(m->listen, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || (cred.uid != 0 && cred.uid != geteuid())) {
    close(c);
    return;
  }
  drop_client(m);
  m->client = c;
  m->ever_connected = 1;
  if (m->spill >= 0) close(m->spill);
  m->spill = -1;
  int fd = openat(m->dir, "spill", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    char buf[65536];
    ssize_t n;
    int ok = 1;
    while (ok && (n = read(fd, buf, sizeof buf)) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (write_full(m->client, buf, (size_t)n) < 0) ok = 0;
    }
    close(fd);
    if (!ok) {
      drop_client(m);  // the spill file stays for the next one
      return;
    }
    unlinkat(m->dir, "spill", 0);
    m->spilled = 0;
  }
  deliver_lost(m);
}

// Frames from the agent, from `buf`; returns the bytes consumed. Stops at stdin it cannot yet
// pass on. A malformed frame drops the agent.
static size_t client_frames(struct monitor *m, const struct watched *w, const char *buf, size_t len, int in_fd, int master) {
  size_t at = 0;
  while (len - at >= 5 && m->in_len == m->in_off) {
    uint32_t flen = 0;
    for (int i = 0; i < 4; i++) flen |= (uint32_t)(unsigned char)buf[at + 1 + i] << (8 * i);
    if (flen > FRAME_MAX) {
      drop_client(m);
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
      memcpy(m->inbuf, p, flen);
      m->in_len = flen;
      m->in_off = 0;
    } else if (type == 'c' && master < 0 && m->in[1] >= 0) {
      close(m->in[1]);
      m->in[1] = -1;
    } else if (type == 'r') {
      char line[80];
      snprintf(line, sizeof line, "resize %s", arg);
      control_line(master, line);
    } else if (type == 's') {
      char *end;
      long sig = strtol(arg, &end, 10);
      if (end != arg && !*end && sig > 0 && sig < NSIG) syscall(SYS_pidfd_send_signal, w->pidfd, (int)sig, NULL, 0);
    }
    at += 5 + flen;
  }
  return at;
}

static void write_exit_file(struct monitor *m, const char *status, size_t len) {
  int fd = openat(m->dir, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  int ok = write_full(fd, status, len) == 0;
  close(fd);
  if (ok) renameat(m->dir, "exit.tmp", m->dir, "exit");
}

// Before clone: the directory, stale files of an earlier run gone, the socket listening, and
// the container's stdio pipes.
struct monitor *monitor_setup(const struct plan *p) {
  struct monitor *m = calloc(1, sizeof *m);
  if (!m) helper_fail(0, "monitor", ENOMEM, "calloc", NULL, "the monitor's state");
  m->listen = m->client = m->spill = -1;
  for (int i = 0; i < 2; i++) m->in[i] = m->out[i] = m->err[i] = -1;
  const char *monitor_dir = p->monitor_dir;
  m->dir = open(monitor_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (m->dir < 0) helper_fail(0, "monitor", errno, "open", monitor_dir, "open the container's directory");
  const char *stale[] = {"monitor.sock", "exit", "exit.tmp", "spill"};
  for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++)
    if (unlinkat(m->dir, stale[i], 0) < 0 && errno != ENOENT)
      helper_fail(0, "monitor", errno, "unlinkat", monitor_dir, "remove the stale \"%s\"", stale[i]);
  m->listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (m->listen < 0) helper_fail(0, "monitor", errno, "socket", NULL, "the monitor's socket");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  // Through the directory's fd, so the path fits sun_path however deep the store is.
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/monitor.sock", m->dir);
  mode_t old = umask(0177);
  int b = bind(m->listen, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (b < 0) helper_fail(0, "monitor", errno, "bind", monitor_dir, "bind the monitor's socket");
  if (listen(m->listen, 4) < 0) helper_fail(0, "monitor", errno, "listen", monitor_dir, "listen on the monitor's socket");
  if (pipe2(m->out, O_CLOEXEC) < 0 || pipe2(m->err, O_CLOEXEC) < 0 || (p->monitor_stdin && pipe2(m->in, O_CLOEXEC) < 0))
    helper_fail(0, "monitor", errno, "pipe2", NULL, "the container's stdio pipes");
  if (!p->monitor_stdin && (m->in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
    helper_fail(0, "monitor", errno, "open", "/dev/null", "the container's stdin");
  return m;
}

// The launch failed: no agent is to find a socket.
void monitor_abandon(struct monitor *m) {
  unlinkat(m->dir, "monitor.sock", 0);
}

// In the child, first thing: its stdio are the monitor's pipes (a TTY op replaces them later).
void monitor_child_stdio(const struct monitor *m) {
  if (dup2(m->in[0], 0) < 0 || dup2(m->out[1], 1) < 0 || dup2(m->err[1], 2) < 0)
    child_fail(errno, "dup2", NULL, "the container's stdio");
}

// Reads what `fd` has into a frame of `type`; returns 0 at EOF or error (then stop polling it).
static int relay_out(struct monitor *m, int fd, char type) {
  char buf[FRAME_MAX];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    deliver(m, type, buf, (size_t)n);
    return 1;
  }
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

// The monitor proper, after "started" (fd 4 is closed by then): until the container's init
// exits, then the exit; returns the helper's exit code.
int monitor_persistent(struct monitor *m, const struct watched *w, int master) {
  close(m->out[1]);
  close(m->err[1]);
  if (m->in[0] >= 0) close(m->in[0]);
  m->out[1] = m->err[1] = m->in[0] = -1;
  if (master >= 0) {  // the pty carries everything; the pipes stay unused
    close(m->out[0]);
    close(m->err[0]);
    m->out[0] = m->err[0] = -1;
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  }
  int in_fd = master >= 0 ? master : m->in[1];
  if (in_fd >= 0) fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  enum { P_SIG, P_PID, P_OUT, P_ERR, P_LISTEN, P_CLIENT, P_IN, NP };
  struct pollfd pf[NP];
  static char cbuf[2 * (FRAME_MAX + 5)];
  size_t clen = 0;
  int out_fd = master >= 0 ? master : m->out[0];
  for (;;) {
    in_fd = master >= 0 ? master : m->in[1];
    pf[P_SIG] = (struct pollfd){.fd = w->sfd, .events = POLLIN};
    pf[P_PID] = (struct pollfd){.fd = w->pidfd, .events = POLLIN};
    pf[P_OUT] = (struct pollfd){.fd = out_fd, .events = POLLIN};
    pf[P_ERR] = (struct pollfd){.fd = m->err[0], .events = POLLIN};
    pf[P_LISTEN] = (struct pollfd){.fd = m->listen, .events = POLLIN};
    pf[P_CLIENT] = (struct pollfd){.fd = m->in_len > m->in_off || clen == sizeof cbuf ? -1 : m->client, .events = POLLIN};
    pf[P_IN] = (struct pollfd){.fd = m->in_len > m->in_off ? in_fd : -1, .events = POLLOUT};
    if (poll(pf, NP, clen && m->in_len == m->in_off ? 0 : -1) < 0) {  // 0: frames wait in cbuf
      if (errno == EINTR) continue;
      break;
    }
    if (pf[P_SIG].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(w->sfd, &si, sizeof si) == (ssize_t)sizeof si) syscall(SYS_pidfd_send_signal, w->pidfd, (int)si.ssi_signo, NULL, 0);
    }
    if (pf[P_OUT].revents & (POLLIN | POLLHUP | POLLERR) && !relay_out(m, out_fd, 'O')) {
      if (master < 0) close(out_fd);
      out_fd = -1;  // EOF, or EIO from a pty with no slave left
    }
    if (pf[P_ERR].revents & (POLLIN | POLLHUP | POLLERR) && !relay_out(m, m->err[0], 'E')) {
      close(m->err[0]);
      m->err[0] = -1;
    }
    if (pf[P_LISTEN].revents & POLLIN) accept_client(m);
    if (m->client >= 0 && pf[P_CLIENT].fd == m->client && pf[P_CLIENT].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(m->client, cbuf + clen, sizeof cbuf - clen);
      if (n > 0) clen += (size_t)n;
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) drop_client(m), clen = 0;
    }
    if (m->client < 0) clen = 0;
    if (clen && m->in_len == m->in_off) {
      size_t used = client_frames(m, w, cbuf, clen, in_fd, master);
      if (m->client < 0) clen = 0;
      else memmove(cbuf, cbuf + used, clen -= used);
    }
    if (m->in_len > m->in_off) {
      if (in_fd < 0) {
        m->in_len = m->in_off = 0;
      } else {
        ssize_t w = write(in_fd, m->inbuf + m->in_off, m->in_len - m->in_off);
        if (w > 0) m->in_off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) m->in_len = m->in_off = 0;  // it closed its stdin
        if (m->in_off == m->in_len) m->in_len = m->in_off = 0;
      }
    }
    if (pf[P_PID].revents & (POLLIN | POLLHUP)) break;
  }
  // The init exited, and with it its pid namespace: what is left in the pipes or the pty comes
  // now (bounded: a process outside the namespace could hold a pipe open).
  for (int rounds = 0; rounds < 20 && (out_fd >= 0 || m->err[0] >= 0); rounds++) {
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = m->err[0], .events = POLLIN}};
    if (poll(p, 2, 100) <= 0) break;
    if (p[0].revents && !relay_out(m, out_fd, 'O')) out_fd = -1;
    if (p[1].revents && !relay_out(m, m->err[0], 'E')) m->err[0] = -1;
  }
  char line[64];
  size_t n;
  int code = exit_status_line(w->pid, line, sizeof line, &n);
  // No agent: a late agent accepted now still gets everything in order. A command as quick as
  // /bin/true can exit before the agent that launched it has connected: wait for it (10 s at
  // most; if it died meanwhile, the exit and spill files tell the next one).
  struct pollfd lp = {.fd = m->listen, .events = POLLIN};
  if (m->client < 0 && poll(&lp, 1, m->ever_connected ? 0 : 10000) > 0) accept_client(m);
  deliver_lost(m);
  unlinkat(m->dir, "monitor.sock", 0);
  close(m->listen);
  write_exit_file(m, line, n);
  deliver(m, 'X', line, n);
  if (m->spill >= 0) close(m->spill);
  drop_client(m);
  return code;
}
