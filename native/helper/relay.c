// `--connect PID PORT`: a TCP relay into a container's loopback, for ports a workspace listens
// on at 127.0.0.1 or ::1 only (the bridge cannot reach them). fd 0 (also fd 1) is a connection
// the agent accepted on the host; this process enters only the network namespace of PID (one
// setns through a pidfd: no mount or pid namespace, so the container cannot see or reach it),
// connects to 127.0.0.1:PORT (or [::1]:PORT) there, and copies both ways until both sides end.
//
// The agent spawns it per connection (agent/runtime/network/proxy.ts); it lives as long as that
// connection and shares nothing with the launch and monitor code but the binary: plans, mounts
// and the status fd play no part.
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

// Returns the process's exit code: 0 when both directions ended, 1 when nothing listens on the
// port in the container, 125 when the arguments or the namespace are wrong (said on stderr).
int relay_main(const char *pid_s, const char *port_s) {
  uint64_t pid, port;
  if (parse_u64(pid_s, INT_MAX, &pid) || pid < 1 || parse_u64(port_s, 65535, &port) || port < 1) {
    fprintf(stderr, "berth-helper --connect: want a pid and a port, got \"%s\" \"%s\"\n", pid_s, port_s);
    return 125;
  }
  signal(SIGPIPE, SIG_IGN);
  int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (pfd < 0 || setns(pfd, CLONE_NEWNET) < 0) {
    fprintf(stderr, "berth-helper --connect: enter the network namespace of pid %d: %s\n", (int)pid, strerror(errno));
    return 125;
  }
  close(pfd);
  int s = -1;
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  for (int v6 = 0; v6 < 2 && s < 0; v6++) {
    s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) continue;
    if (connect(s, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, v6 ? sizeof a6 : sizeof a4) < 0) {
      close(s);
      s = -1;
    }
  }
  if (s < 0) {
    fprintf(stderr, "berth-helper --connect: connect to port %d in the container: %s\n", (int)port, strerror(errno));
    return 1;
  }
  struct pollfd pf[2] = {{.fd = 0, .events = POLLIN}, {.fd = s, .events = POLLIN}};
  char buf[65536];
  while (pf[0].fd >= 0 || pf[1].fd >= 0) {
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int to = i == 0 ? s : 1;
      ssize_t n = read(pf[i].fd, buf, sizeof buf);
      if (n > 0 && write_full(to, buf, (size_t)n) == 0) continue;
      if (n < 0 && errno == EINTR) continue;
      shutdown(to, SHUT_WR);  // this direction is done; the other may still carry an answer
      pf[i].fd = -1;
    }
  }
  return 0;
}
