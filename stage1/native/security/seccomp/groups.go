package seccomp

// Well-known seccomp set names (SEC-SC-03).
const (
	// GroupAll in a retain-set allows everything, i.e. disables seccomp.
	GroupAll = "@appc.io/all"
	// GroupEmpty in a remove-set removes nothing: the default whitelist applies.
	GroupEmpty = "@appc.io/empty"
	// GroupRktDefaultBlacklist is rkt's default blacklist (Docker's).
	GroupRktDefaultBlacklist = "@rkt/default-blacklist"
	// GroupRktDefaultWhitelist is rkt's default whitelist (Docker's).
	GroupRktDefaultWhitelist = "@rkt/default-whitelist"
	// GroupDockerDefaultBlacklist is Docker's default blacklist.
	GroupDockerDefaultBlacklist = "@docker/default-blacklist"
	// GroupDockerDefaultWhitelist is Docker's default whitelist.
	GroupDockerDefaultWhitelist = "@docker/default-whitelist"
)

// dockerDefaultBlacklist is Docker's default blacklist as listed by rkt.
var dockerDefaultBlacklist = []string{
	"_sysctl", "acct", "add_key", "adjtimex", "bpf", "clock_adjtime",
	"clock_settime", "create_module", "delete_module", "finit_module",
	"get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl",
	"kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
	"mbind", "mount", "move_pages", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "perf_event_open", "pivot_root",
	"process_vm_readv", "process_vm_writev", "ptrace", "query_module",
	"quotactl", "reboot", "request_key", "set_mempolicy", "setns",
	"settimeofday", "stime", "swapoff", "swapon", "sysfs", "umount",
	"umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86",
	"vm86old",
}

// dockerDefaultWhitelist is Docker's default whitelist (the syscalls its
// default profile allows unconditionally, plus the amd64 and the
// argument-filtered ones such as clone and personality, which seccomp here
// cannot filter by argument and which ordinary programs need). It is
// written for every architecture: names the running architecture does not
// have are dropped when the filter is assembled. A few syscalls newer than
// rkt (clone3, rseq, close_range, faccessat2, epoll_pwait2, futex_waitv,
// fchmodat2) are included because current libcs call them and a killed
// process is a worse default than an allowed harmless syscall.
var dockerDefaultWhitelist = []string{
	"_llseek", "_newselect", "accept", "accept4", "access", "alarm",
	"arch_prctl", "bind", "brk", "capget", "capset", "chdir", "chmod",
	"chown", "chown32", "chroot", "clock_getres", "clock_getres_time64",
	"clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "clone", "clone3", "close", "close_range",
	"connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
	"eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
	"faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown",
	"fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
	"flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
	"fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat",
	"get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents",
	"getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
	"getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
	"getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
	"getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
	"getrusage", "getsid", "getsockname", "getsockopt", "gettid",
	"gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
	"inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
	"io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
	"io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc",
	"kill", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
	"listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr",
	"lstat", "lstat64", "madvise", "membarrier", "memfd_create", "mincore",
	"mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
	"mmap", "mmap2", "modify_ldt", "mprotect", "mq_getsetattr",
	"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
	"msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
	"munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat",
	"openat2", "pause", "personality", "pidfd_open", "pidfd_send_signal",
	"pipe", "pipe2", "poll", "ppoll", "ppoll_time64", "prctl", "pread64",
	"preadv", "preadv2", "prlimit64", "pselect6", "pselect6_time64",
	"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
	"recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
	"rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
	"select", "semctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
	"sendmsg", "sendto", "set_robust_list", "set_thread_area",
	"set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
	"setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
	"setpgid", "setpriority", "setregid", "setregid32", "setresgid",
	"setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
	"setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr",
	"shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
	"signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket",
	"socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
	"statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
	"syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_gettime64", "timer_settime", "timer_settime64",
	"timerfd_create", "timerfd_gettime", "timerfd_gettime64",
	"timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
	"truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
	"utime", "utimensat", "utimensat_time64", "utimes", "vfork",
	"vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
}

// groups maps the supported wildcard names to their syscalls.
var groups = map[string][]string{
	GroupRktDefaultBlacklist:    dockerDefaultBlacklist,
	GroupRktDefaultWhitelist:    dockerDefaultWhitelist,
	GroupDockerDefaultBlacklist: dockerDefaultBlacklist,
	GroupDockerDefaultWhitelist: dockerDefaultWhitelist,
}
