// berth-init: the init of `berth run --init`, of the project's own. A static program the helper
// runs as the container's pid 1 from a sealed memfd (MFD_ALLOW_SEALING + F_SEAL_WRITE...), so the
// container cannot reach, let alone change, the host file it came from.
//
// Usage (the helper builds it; argv[0] is ignored):  berth-init PATH ARGV0 [ARGS...]
// It starts PATH with argv ARGV0 ARGS... and the same environment as its only child, then:
//   - forwards every signal it can catch to the child (SIGTERM from `berth stop` included), so the
//     child gets the default dispositions a pid 1 would not have;
//   - reaps every process that ends up reparented to it (zombies of double forks and daemons);
//   - exits when the child exits: with its exit code, or 128+N when a signal N killed it, as a
//     shell reports it. The kernel then kills whatever is left in the pid namespace.
// It never allocates after start and has no state but the child's pid.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "berth-init: usage: berth-init PATH ARGV0 [ARGS...] (started by berth's runtime helper)\n");
    return 127;
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);  // from here on, signals wait for sigwaitinfo below
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
    return 127;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    execve(argv[1], argv + 2, environ);
    int e = errno;
    fprintf(stderr, "berth-init: exec %s: %s\n", argv[1], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&all, &si) < 0) continue;  // EINTR only: everything is blocked
    if (si.si_signo != SIGCHLD) {
      kill(child, si.si_signo);
      continue;
    }
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p != child) continue;  // an orphan reaped
      if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
      return WEXITSTATUS(st);
    }
  }
}
