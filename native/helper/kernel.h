// Kernel ABI the C library may not name: syscall numbers, flags and structs, with the values of
// the kernel's uapi headers. The syscalls here are all from Linux 5.2 or later, where every
// architecture (but alpha) shares one numbering for new calls. The B_ prefix keeps the constants
// apart from a libc that does define them. Included by helper.h; nothing else belongs here.
#ifndef BERTH_KERNEL_H
#define BERTH_KERNEL_H

#include <stdint.h>
#include <sys/syscall.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

#define B_FSOPEN_CLOEXEC 0x1u
#define B_FSMOUNT_CLOEXEC 0x1u
#define B_FSCONFIG_SET_FLAG 0u
#define B_FSCONFIG_SET_STRING 1u
#define B_FSCONFIG_CMD_CREATE 6u
#define B_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define B_MOVE_MOUNT_T_EMPTY_PATH 0x40u
#define B_OPEN_TREE_CLONE 0x1u
#define B_AT_RECURSIVE 0x8000
#define B_MOUNT_ATTR_RDONLY 0x1ull
#define B_MOUNT_ATTR_NOSUID 0x2ull
#define B_MOUNT_ATTR_NODEV 0x4ull
#define B_MOUNT_ATTR_NOEXEC 0x8ull
#define B_MOUNT_ATTR_NOATIME 0x10ull
#define B_MOUNT_ATTR_STRICTATIME 0x20ull
#define B_MOUNT_ATTR_IDMAP 0x00100000ull
#define B_CLONE_PIDFD 0x1000ull
#define B_CLOSE_RANGE_CLOEXEC (1u << 2)

// mount_setattr(2)
struct b_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

// clone3(2), up to CLONE_ARGS_SIZE_VER2
struct b_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
      cgroup;
};

#endif
