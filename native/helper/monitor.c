// The monitor attached to the agent: what the helper becomes after "started" when the plan has
// no MONITOR (execs, holders, and containers of tests). The container's stdio are the agent's own
// pipes (or, with a pty, the helper relays them), so it lives and dies with the agent's process.
// It forwards the signals the agent sends the helper (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
// SIGUSR2: blocked before clone and read from a signalfd, so none is lost) to the process with
// pidfd_send_signal, and when the process exits, reports "exited N" or "killed SIGNAME" on fd 4
// and exits with N or 128+SIG.
//
// With a pty (tty.c) it also relays fd 0 -> master, master -> fd 1, and applies "resize ROWS
// COLS" lines from the control fd 5 to the master's window size.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

// Reaps `pid` and formats its end as a status line without newline ("exited 3", "killed
// SIGKILL") in line[cap]; returns the exit code the helper passes on (N, or 128+SIG).
int exit_status_line(pid_t pid, char *line, size_t cap, size_t *len) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  int code, n;
  if (WIFSIGNALED(st)) {
    code = 128 + WTERMSIG(st);
    const char *name = sigabbrev_np(WTERMSIG(st));
    n = snprintf(line, cap, "killed SIG%s", name ? name : "UNKNOWN");
  } else {
    code = WEXITSTATUS(st);
    n = snprintf(line, cap, "exited %d", code);
  }
  *len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
  return code;
}

// The monitor: forwards signals until the process exits; with a pty, also relays stdin (fd 0) to
// the master, the master to stdout (fd 1), and control lines (fd 5) to the master's window size.
static void relay_until_exit(const struct watched *w, int master) {
  enum { P_SIG, P_PID, P_MASTER, P_IN, P_CTL, NP };
  struct pollfd pf[NP] = {{.fd = w->sfd, .events = POLLIN}, {.fd = w->pidfd, .events = POLLIN}, {.fd = -1}, {.fd = -1}, {.fd = -1}};
  char in[16384], out[16384], ctl[256];
  size_t in_len = 0, in_off = 0, ctl_len = 0;
  if (master >= 0) {
    pf[P_MASTER].fd = master;
    pf[P_IN].fd = 0;
    pf[P_CTL].fd = fcntl(5, F_GETFD) >= 0 ? 5 : -1;
    pf[P_CTL].events = POLLIN;
  }
  for (;;) {
    pf[P_MASTER].events = POLLIN | (in_len > in_off ? POLLOUT : 0);
    pf[P_IN].events = in_len > in_off ? 0 : POLLIN;  // one buffer of input at a time
    if (poll(pf, NP, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pf[P_SIG].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(w->sfd, &si, sizeof si) == (ssize_t)sizeof si)
        syscall(SYS_pidfd_send_signal, w->pidfd, (int)si.ssi_signo, NULL, 0);
    }
    if (pf[P_PID].revents & (POLLIN | POLLHUP)) break;
    if (pf[P_MASTER].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(master, out, sizeof out);
      if (n > 0) write_all(1, out, (size_t)n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) pf[P_MASTER].fd = -1;  // EIO: no slave left
    }
    if (pf[P_IN].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, in, sizeof in);
      if (n > 0) in_len = (size_t)n, in_off = 0;
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) pf[P_IN].fd = -1;  // the agent closed stdin
    }
    if (in_len > in_off && pf[P_MASTER].fd >= 0) {
      ssize_t w = write(master, in + in_off, in_len - in_off);
      if (w > 0) in_off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) in_len = in_off = 0;
      if (in_off == in_len) in_len = in_off = 0;
    }
    if (pf[P_CTL].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(5, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
      if (n <= 0 && !(n < 0 && errno == EINTR)) {
        pf[P_CTL].fd = -1;
      } else if (n > 0) {
        ctl_len += (size_t)n;
        ctl[ctl_len] = 0;
        char *nl;
        while ((nl = memchr(ctl, '\n', ctl_len))) {
          *nl = 0;
          control_line(master, ctl);
          ctl_len -= (size_t)(nl + 1 - ctl);
          memmove(ctl, nl + 1, ctl_len);
          ctl[ctl_len] = 0;
        }
        if (ctl_len == sizeof ctl - 1) ctl_len = 0;  // an overlong line: dropped
      }
    }
  }
  // The process exited: what it wrote last may still be on its way through the pty.
  while (master >= 0 && pf[P_MASTER].fd >= 0) {
    struct pollfd p = {.fd = master, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) break;
    ssize_t n = read(master, out, sizeof out);
    if (n > 0) write_all(1, out, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
  }
}

// After "started": relays until the process exits, then reports its end on fd 4; returns the
// helper's exit code.
int monitor_attached(const struct watched *w, int master) {
  relay_until_exit(w, master);
  char line[64];
  size_t n;
  int code = exit_status_line(w->pid, line, sizeof line - 1, &n);
  line[n++] = '\n';
  status_line(line, n);
  return code;
}
