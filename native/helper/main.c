// berth-helper: the one place where Berth creates namespaces, mounts, pivots and execs.
//
// The agent is a multithreaded Node process, and unshare/setns/mount are per-thread or
// per-process affairs that a multithreaded process cannot do safely. So the agent never does
// them: it spawns this small single-threaded program, writes it a *launch plan* (built by
// agent/runtime/plan.ts, where all policy lives), and this program interprets the plan, one
// operation after the other, with no decisions of its own beyond "do exactly this, or say
// precisely what failed". It then stays alive as the container's monitor.
//
// File descriptors, as agent/runtime/helper.ts spawns it:
//   0, 1, 2   the container's stdin, stdout, stderr (pipes or a pty; passed through untouched)
//   3         the plan, read to EOF                               (agent -> helper)
//   4         status lines                                        (helper -> agent)
//   5         optional control lines "resize ROWS COLS\n"          (agent -> helper, with a tty)
//
// Two modes. A launch plan (NAMESPACES ...) creates a container: clone3 into new namespaces,
// mounts, pivot_root, exec. An exec plan (JOIN) enters a running one: setns into its
// namespaces, clone, the process ops, exec. In both the helper then stays the process's monitor.
// Other invocations: `--sealed` (run from a sealed copy of itself first, sealed.c), `--connect
// PID PORT` (a TCP relay into a container's loopback, relay.c), `--version`.
//
// The program by role, like crun (launch, ops) and conmon (monitor) but in one binary:
//   main.c            this file: the modes, by arguments
//   launch.c          the launch and exec-join sequence: clone3 and the handshake with the child
//   plan.c            the plan's wire format, reading and validating it (ops.def: the op table)
//   child.c           the child: waits for the release, runs the operations in order
//   ops-mount.c       the mount operations (overlay, mounts, binds, pivot_root, masks)
//   ops-process.c     identity, capabilities, exec (and the sealed init's exec)
//   tty.c             the container's pty, and passing its master back
//   userns.c          user namespaces for idmapped mounts, made before clone
//   sealed.c          sealed memfd copies (the init, `--sealed`)
//   monitor.c         the monitor attached to the agent (signals, pty relay, the exit)
//   monitor-socket.c  the monitor that outlives the agent (MONITOR: socket, spill, exit file)
//   relay.c           `--connect`
//   report.c          failure lines and the status fd
//   kernel.h          kernel ABI glibc may not name; helper.h what the files share
// The monitors stay in this executable: the monitor is the process that cloned the container
// (its parent, holding its pidfd and reaping it), so it cannot be another program without an
// exec after clone, and an exec's monitor must keep running from the sealed copy (sealed.c).
#include <stdio.h>
#include <string.h>

#include "helper.h"

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--connect")) return relay_main(argv[2], argv[3]);
  if (argc == 2 && !strcmp(argv[1], "--sealed")) reexec_sealed(argv[0]);
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    puts("berth-helper 1");
    return 0;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: berth-helper 3<PLAN 4>STATUS (the plan is written by agent/runtime/helper.ts)\n");
    return 125;
  }
  return launch_main();
}
