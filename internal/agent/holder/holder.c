/*
 * lab-holder: holds one file open for lab's agent and runs open, read, seek
 * and close on it, one command a line on stdin, one JSON reply a line on
 * stdout.
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
 * Built statically by lab with the host's compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

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
	printf(",\"bytes\":%lld,\"ms\":%lld}\n", bytes, ms);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char line[4096], name[16];
	int fd = -1;

	snprintf(name, sizeof(name), "holder-%s", argc > 1 ? argv[1] : "");
	prctl(PR_SET_NAME, name, 0, 0, 0);

	while (fgets(line, sizeof(line), stdin)) {
		char *arg = strchr(line, ' ');
		long long start = now_ms();

		line[strcspn(line, "\n")] = 0;
		if (arg)
			*arg++ = 0;
		if (!strcmp(line, "open") && arg) {
			if (fd >= 0) {
				reply(0, EBUSY, NULL, 0, 0, 0);
				continue;
			}
			/* O_CLOEXEC: no other process may inherit this file. */
			fd = open(arg, O_RDONLY | O_CLOEXEC);
			reply(fd >= 0, errno, NULL, 0, 0, now_ms() - start);
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
