// Terminals (TTY rows cols, an operation). The pty must come from the devpts instance the
// process sees at /dev/pts: for a container that is its own (newinstance), which exists only in
// the container's mount namespace, so the helper cannot open it before clone. The child opens
// /dev/pts/ptmx after pivot_root (or after setns, in exec mode), checks it is the 5:2
// multiplexer, unlocks it, sets the size, opens the slave with TIOCGPTPEER (no path lookup of
// /dev/pts/N, which the container could race), and sends the master back over a socketpair made
// before clone (SCM_RIGHTS); then setsid, TIOCSCTTY, slave onto 0-2. It runs after IDENTITY, so
// the pts belongs to the container's user. The monitor relays fd 0 -> master and master ->
// fd 1 (fd 2 stays unused), applies resize lines from fd 5, and after the exit drains what is
// still in the pty before reporting. Without TTY, fds 0-2 pass through untouched. With MONITOR the master is relayed
// over the monitor's socket instead (monitor-socket.c).
//
// The master comes back over a socketpair the helper makes before clone (the child's end is
// `struct child`.tty_sock); the helper waits for it (recv_fd) before it reads the err pipe, so a
// child that fails earlier is seen as EOF here and reported from the err pipe.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"

// Passes `fd` over the Unix socket `sock` (SCM_RIGHTS, with one byte of data).
static int send_fd(int sock, int fd) {
  char c = 'm';
  struct iovec iov = {&c, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : -1;
}

// TTY rows cols: a new pty of the devpts instance the process sees at /dev/pts (the container's
// own, newinstance), the slave its controlling terminal and its fds 0-2, the master to the monitor.
void op_tty(struct child *c, const struct rec *r) {
  const char *ptmx = "/dev/pts/ptmx";
  int m = open(ptmx, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (m < 0) child_fail(errno, "open", ptmx, "open the container's pty multiplexer");
  struct stat st;
  if (fstat(m, &st) < 0) child_fail(errno, "fstat", ptmx, "open the container's pty multiplexer");
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
    child_fail(ENOTTY, "fstat", ptmx, "\"%s\" is not a pty multiplexer (5:2)", ptmx);
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) child_fail(errno, "ioctl", ptmx, "unlock the pty (TIOCSPTLCK)");
  struct winsize ws = {.ws_row = (unsigned short)num(r, 0), .ws_col = (unsigned short)num(r, 1)};
  if (ioctl(m, TIOCSWINSZ, &ws) < 0) child_fail(errno, "ioctl", ptmx, "set the window size (TIOCSWINSZ)");
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) child_fail(errno, "ioctl", ptmx, "open the pty's slave (TIOCGPTPEER)");
  if (send_fd(c->tty_sock, m) < 0) child_fail(errno ? errno : EPIPE, "sendmsg", NULL, "hand the pty master to the monitor");
  close(m);
  close(c->tty_sock);
  c->tty_sock = -1;
  if (setsid() < 0) child_fail(errno, "setsid", NULL, "start a session for the terminal");
  if (ioctl(s, TIOCSCTTY, 0) < 0) child_fail(errno, "ioctl", NULL, "make the pty the controlling terminal (TIOCSCTTY)");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(s, fd) < 0) child_fail(errno, "dup2", NULL, "make the pty fd %d", fd);
  if (s > 2) close(s);
}

// The helper's side: the fd that send_fd passed, or -1 (EOF: the child failed before).
int recv_fd(int sock) {
  char c;
  struct iovec iov = {&c, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != 1) return -1;
  struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(int))) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  return fd;
}

// "resize ROWS COLS" lines from the control fd; anything else is ignored.
void control_line(int master, const char *line) {
  unsigned rows, cols;
  char end;
  if (master >= 0 && sscanf(line, "resize %u %u%c", &rows, &cols, &end) == 2 && rows <= 65535 && cols <= 65535) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(master, TIOCSWINSZ, &ws);  // the kernel sends SIGWINCH to the foreground group
  }
}
