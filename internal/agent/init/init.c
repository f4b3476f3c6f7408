/*
 * lab-init: the guest's /init (PID 1). It mounts the root file systems a
 * lab guest uses, starts the agent (/lab/bin/lab-agent, Go) as its child in
 * a session of its own with the console as its controlling terminal, and
 * reaps every process, forever: PID 1 must never exit.
 *
 * The agent runs as a child, not as PID 1 itself: an oops in a syscall the
 * agent makes (a module's init during a load step) kills the calling task,
 * and killing PID 1 panics the kernel ("Attempted to kill init"), which
 * would turn an oops the experiment is about into a panic.
 *
 * It is C, not Go, because a cold boot waits for it: the agent's Go binary
 * as PID 1 spent about 0.1 s under TCG starting its runtime and packages
 * before it mounted anything, and then started a second time as the agent.
 * Its lines in the kernel log are the agent's protocol lines
 * (internal/protocol/markers.go; internal/agent checks they agree).
 *
 * Measured on debian-6.1 under TCG, from "Run /init" to the agent's ready
 * line: 0.42-0.49 s with the Go /init, 0.385-0.393 s with this one.
 *
 * Built statically by lab with the host's compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define AGENT "/lab/bin/lab-agent"
#define ROOT_READY_LINE "lab-agent: root file system ready"
#define FATAL_LINE "lab-agent: fatal: "

/* kmsg writes one line into the kernel log, so the console shows it. */
static void kmsg(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= (int)sizeof(msg))
		n = sizeof(msg) - 1;
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, msg, n) < 0) { /* nothing left to tell it to */
	}
	close(fd);
}

/* The file systems of u-root's CreateRootfs (libinit's PreNamespace and
 * Namespace) that a lab guest uses, in its order. Left out: the cgroup v1
 * hierarchy, efivarfs (lab boots with BIOS), the device nodes devtmpfs
 * already has, u-root's Go toolchain directories and its copy of /etc (the
 * initramfs root is writable already). */
static const struct {
	const char *source, *target, *fstype, *opts;
} mounts[] = {
	{"devtmpfs", "/dev", "devtmpfs", NULL},
	{"proc", "/proc", "proc", NULL},
	{"tmpfs", "/tmp", "tmpfs", NULL},
	{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=666,gid=5,mode=620"},
	{"tmpfs", "/dev/shm", "tmpfs", NULL},
	{"sysfs", "/sys", "sysfs", NULL},
	{"securityfs", "/sys/kernel/security", "securityfs", NULL},
	{"debugfs", "/sys/kernel/debug", "debugfs", NULL},
};

static void create_root(void)
{
	mode_t old = umask(0);

	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		if (mkdir(mounts[i].target, 0755) < 0 && errno != EEXIST)
			kmsg("lab-agent: mkdir %s: %s", mounts[i].target, strerror(errno));
		if (mount(mounts[i].source, mounts[i].target, mounts[i].fstype, 0, mounts[i].opts) < 0)
			kmsg("lab-agent: mount -t %s %s %s: %s", mounts[i].fstype, mounts[i].source, mounts[i].target, strerror(errno));
		if (!strcmp(mounts[i].target, "/dev/pts")) {
			unlink("/dev/ptmx");
			if (symlink("/dev/pts/ptmx", "/dev/ptmx") < 0)
				kmsg("lab-agent: link /dev/ptmx: %s", strerror(errno));
		}
	}
	umask(old);
}

/* start_agent forks the agent in a session of its own, with the console as
 * its controlling terminal where there is one (as u-root's init gave its
 * uinit: lab shell's job control wants it). */
static pid_t start_agent(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *argv[] = {"lab-agent", NULL};

		setsid();
		ioctl(0, TIOCSCTTY, 0);
		execv(AGENT, argv);
		kmsg(FATAL_LINE "start the agent: %s", strerror(errno));
		_exit(127);
	}
	return pid;
}

static void describe(int ws, char *buf, size_t n)
{
	if (WIFEXITED(ws))
		snprintf(buf, n, "exit %d", WEXITSTATUS(ws));
	else if (WIFSIGNALED(ws))
		snprintf(buf, n, "killed by %s", sigabbrev_np(WTERMSIG(ws)) ? sigabbrev_np(WTERMSIG(ws)) : "?");
	else
		snprintf(buf, n, "status %#x", ws);
}

int main(void)
{
	pid_t agent;

	if (getpid() != 1) {
		fprintf(stderr, "lab-init: not PID 1\n");
		return 2;
	}
	/* u-root init's PATH, less its Go toolchain directories: u-root's
	 * commands, when a run carries them, are found there. */
	setenv("PATH", "/ubin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin:/usr/local/sbin:/buildbin:/bbin", 1);
	setenv("USER", "root", 1);
	create_root();
	kmsg(ROOT_READY_LINE);
	agent = start_agent();
	if (agent < 0)
		kmsg(FATAL_LINE "start the agent: %s", strerror(errno));
	for (;;) {
		int ws;
		pid_t pid = wait(&ws);

		if (pid < 0) {
			if (errno == ECHILD)
				sleep(1); /* none now; a child's orphans come later */
			continue;
		}
		if (pid == agent) {
			char how[64];

			describe(ws, how, sizeof(how));
			kmsg(FATAL_LINE "the agent exited (%s)", how);
			agent = -1;
		}
	}
}
