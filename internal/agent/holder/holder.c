/*
 * lab-holder: holds one file open for lab's agent and runs open, read, seek,
 * close, write, ioctl and mmap on it, one command a line on stdin, one JSON
 * reply a line on stdout. Bytes travel as hex on the command line, so data
 * may hold spaces, newlines and zeros.
 *
 * It is C, not Go, because it must be single-threaded, like the programs of
 * the experiments it stands for (the seed used a Python shell). When a read
 * oopses, the kernel kills the faulting thread. In a single-threaded process
 * that is the whole process: its files are closed on exit, the close faults
 * again ("Fixing recursive fault") and the task is left D or X. A Go program
 * has several threads sharing the file table; only the reading thread dies,
 * the file is never closed and the process sits as a zombie leader with
 * sleeping threads: a different story from the one the kernel tells real
 * programs.
 *
 * "lab-holder --spare" waits for its first line to become a holder or an
 * unloader (see main).
 *
 * "lab-holder --unload MODULE" is the agent's unloader: one
 * delete_module(O_NONBLOCK) in a process of its own named rmmod, so that an
 * unload that blocks (a procfs read in flight) can be observed, and kernel
 * reports name it as they would the real tool. C for the same reason, and
 * because a C process starts in a fraction of the time the agent's Go
 * runtime took (50-70 ms less per unload under TCG).
 *
 * Built statically by lab with the host's compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];
static char hex[2 * sizeof(buf) + 1];
/* The latest mapping stays until the next mmap: a driver's page may outlive
 * the close or the module, and that is what an experiment wants to see. */
static char *map;
static size_t map_len;

/* unhex decodes s into out (at most max bytes); -1 on bad hex. */
static long unhex(const char *s, char *out, long max)
{
	long n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned int b;

		if (n >= max || sscanf(s, "%2x", &b) != 1)
			return -1;
		out[n++] = (char)b;
	}
	return s[0] ? -1 : n;
}

static const char *tohex(const char *data, long n)
{
	for (long i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", (unsigned char)data[i]);
	hex[2 * n] = 0;
	return hex;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* reply writes one JSON line; data may hold any bytes. */
static void reply(int ok, int err, const char *data, long n, long long bytes, long long ms)
{
	printf("{\"ok\":%s", ok ? "true" : "false");
	if (!ok) {
		const char *name = strerrorname_np(err);
		printf(",\"errno\":\"%s\",\"error\":\"%s\"", name ? name : "", strerror(err));
	}
	if (data) {
		printf(",\"data\":\"");
		for (long i = 0; i < n; i++) {
			unsigned char c = data[i];
			if (c == '"' || c == '\\')
				printf("\\%c", c);
			else if (c < 0x20 || c >= 0x7f)
				printf("\\u%04x", c);
			else
				putchar(c);
		}
		putchar('"');
	}
	printf(",\"bytes\":%lld,\"ms\":%lld}\n", ok ? bytes : 0, ms);
	fflush(stdout);
}

/* UNLOADED_LINE is protocol.UnloadedLine without the module: the host
 * orders the unload against the kernel's reports by this line's time in
 * the kernel log (internal/agent checks the two agree). */
#define UNLOADED_LINE "lab-agent: unloaded "

/* unload runs one delete_module and answers it like a step. */
static int unload(const char *module)
{
	long long start;
	long rc;
	int err;

	prctl(PR_SET_NAME, "rmmod", 0, 0, 0);
	start = now_ms();
	rc = syscall(SYS_delete_module, module, O_NONBLOCK);
	err = errno;
	if (rc == 0) {
		/* One write() a record: dprintf fails on /dev/kmsg (EINVAL from
		 * the seek glibc makes first). */
		char msg[256];
		int kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
		int n = snprintf(msg, sizeof(msg), UNLOADED_LINE "%s", module);

		if (kmsg >= 0) {
			if (write(kmsg, msg, n) != n)
				perror("/dev/kmsg");
			close(kmsg);
		}
	}
	reply(rc == 0, err, NULL, 0, 0, now_ms() - start);
	return 0;
}

/* hold is the holder proper: it answers one command a line until its
 * standard input closes. */
static int hold(const char *holder)
{
	char line[4096], name[16];
	int fd = -1;

	snprintf(name, sizeof(name), "holder-%s", holder);
	prctl(PR_SET_NAME, name, 0, 0, 0);

	while (fgets(line, sizeof(line), stdin)) {
		char *arg = strchr(line, ' ');
		long long start = now_ms();

		line[strcspn(line, "\n")] = 0;
		if (arg)
			*arg++ = 0;
		if ((!strcmp(line, "open") || !strcmp(line, "open-w") || !strcmp(line, "open-rw")) && arg) {
			int mode = !strcmp(line, "open") ? O_RDONLY : !strcmp(line, "open-w") ? O_WRONLY : O_RDWR;

			if (fd >= 0) {
				reply(0, EBUSY, NULL, 0, 0, 0);
				continue;
			}
			/* O_CLOEXEC: no other process may inherit this file. */
			fd = open(arg, mode | O_CLOEXEC);
			reply(fd >= 0, errno, NULL, 0, 0, now_ms() - start);
		} else if (!strcmp(line, "write") && arg) {
			long n = unhex(arg, buf, sizeof(buf));
			ssize_t put;

			if (n < 0) {
				reply(0, EINVAL, NULL, 0, 0, 0);
				continue;
			}
			put = write(fd, buf, n);
			reply(put >= 0, errno, NULL, 0, put, now_ms() - start);
		} else if (!strcmp(line, "ioctl") && arg) {
			unsigned long cmd = 0, iarg = 0;
			long rc;

			sscanf(arg, "%lu %lu", &cmd, &iarg);
			rc = ioctl(fd, cmd, iarg);
			reply(rc >= 0, errno, NULL, 0, rc, now_ms() - start);
		} else if (!strcmp(line, "ioctl-buf") && arg) {
			/* ioctl-buf CMD SIZE [HEX]: a zeroed buffer of SIZE bytes
			 * starting as HEX; the reply carries it afterwards, as hex. */
			unsigned long cmd = 0;
			long size = 0, rc;
			char in[4096] = "";

			sscanf(arg, "%lu %ld %4095s", &cmd, &size, in);
			if (size <= 0 || size > (long)sizeof(buf)) {
				reply(0, EINVAL, NULL, 0, 0, 0);
				continue;
			}
			memset(buf, 0, size);
			if (unhex(in, buf, size) < 0) {
				reply(0, EINVAL, NULL, 0, 0, 0);
				continue;
			}
			rc = ioctl(fd, cmd, buf);
			if (rc < 0)
				reply(0, errno, NULL, 0, 0, now_ms() - start);
			else
				reply(1, 0, tohex(buf, size), 2 * size, rc, now_ms() - start);
		} else if (!strcmp(line, "mmap") && arg) {
			/* mmap LEN OFFSET AT COUNT [HEX]: map LEN bytes of the file
			 * from OFFSET (shared; writable when HEX is given), store HEX
			 * at AT, then read COUNT bytes from AT. */
			long len = 0, at = 0, count = 0, n = 0;
			long long off = 0;
			char in[4096] = "", data[2048];
			char *p;

			sscanf(arg, "%ld %lld %ld %ld %4095s", &len, &off, &at, &count, in);
			if (len <= 0 || at < 0 || count < 0 || at + count > len || (n = unhex(in, data, sizeof(data))) < 0 || at + n > len || count > (long)sizeof(buf)) {
				reply(0, EINVAL, NULL, 0, 0, 0);
				continue;
			}
			p = mmap(NULL, len, PROT_READ | (n ? PROT_WRITE : 0), MAP_SHARED, fd, off);
			if (p == MAP_FAILED) {
				reply(0, errno, NULL, 0, 0, now_ms() - start);
				continue;
			}
			if (map)
				munmap(map, map_len);
			map = p;
			map_len = len;
			/* These touches are the point: a fault here is the driver's. */
			memcpy(p + at, data, n);
			memcpy(buf, p + at, count);
			reply(1, 0, buf, count, len, now_ms() - start);
		} else if (!strcmp(line, "read") && arg) {
			long n = atol(arg);
			ssize_t got;

			if (n <= 0 || n > (long)sizeof(buf))
				n = sizeof(buf);
			got = read(fd, buf, n);
			if (got < 0)
				reply(0, errno, NULL, 0, 0, now_ms() - start);
			else
				reply(1, 0, buf, got, got, now_ms() - start);
		} else if (!strcmp(line, "seek") && arg) {
			off_t off = lseek(fd, atoll(arg), SEEK_SET);
			reply(off >= 0, errno, NULL, 0, off, now_ms() - start);
		} else if (!strcmp(line, "close")) {
			int rc = close(fd);
			fd = -1;
			reply(rc == 0, errno, NULL, 0, 0, now_ms() - start);
		} else {
			reply(0, EINVAL, NULL, 0, 0, 0);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	char role[256];

	if (argc == 3 && !strcmp(argv[1], "--unload"))
		return unload(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--spare")) {
		/* Started ahead of need (the agent keeps a few in a snapshot, so
		 * that a restored run does not wait for a process to start): the
		 * first line says what it becomes, "hold NAME" or "unload MODULE". */
		if (!fgets(role, sizeof(role), stdin))
			return 0;
		role[strcspn(role, "\n")] = 0;
		if (!strncmp(role, "unload ", 7))
			return unload(role + 7);
		if (strncmp(role, "hold ", 5))
			return 2;
		return hold(role + 5);
	}
	return hold(argc > 1 ? argv[1] : "");
}
