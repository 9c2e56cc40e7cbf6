/*
 * nsenter: the part of `berth init` (and later `berth exec`) that must run
 * before the Go runtime starts threads. setns(2) into a user or mount
 * namespace, and unshare(2) of a user namespace, are refused to a
 * multi-threaded process; a new PID or time namespace only applies to
 * children, so it needs a fork. Everything else is done in Go.
 *
 * It runs as a constructor in every berth process and returns at once unless
 * _BERTH_NSENTER names the init socket. The protocol on that socket is the
 * one in libcontainer/sync.go; this file sends (one JSON datagram each):
 *
 *   {"type":"idmap"}                 after unshare(CLONE_NEWUSER): the parent
 *                                    writes uid_map/gid_map, then replies with
 *                                    any datagram
 *   {"type":"pid","pid":N}           after the fork: N is the host PID of the
 *                                    process that becomes init; the sender exits
 *   {"type":"error","error":"..."}   on failure, then exit(1)
 *
 * Inputs (environment, removed before Go starts):
 *   _BERTH_NSENTER   the init socket's fd number
 *   _BERTH_NS_JOIN   lines "<clone-flag-in-decimal> <path>": namespaces to join
 *                    (join_all orders them)
 *   _BERTH_NS_NEW    clone flags to unshare after joining (decimal)
 *   _BERTH_NS_FORK   "1": fork after unshare (new or joined PID/time namespace)
 *   _BERTH_TIMENS    contents for /proc/self/timens_offsets
 *   _BERTH_OOM_SCORE_ADJ  written to /proc/self/oom_score_adj before the
 *                    unshare (a rootless caller's init, non-dumpable once in
 *                    Go, could not open it in its new user namespace)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_JOIN 16

static int sock = -1;

static void send_msg(const char *msg)
{
	if (send(sock, msg, strlen(msg), 0) < 0)
		_exit(1);
}

/* bail reports "nsenter: <what>: <strerror>" to the parent and exits. */
static void bail(const char *fmt, ...)
{
	char what[512], msg[1024];
	int err = errno;
	va_list ap;
	size_t i, j = 0;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "nsenter: %s: %s", what, strerror(err));
	/* JSON-escape the message (paths may hold quotes or backslashes). */
	char json[2200] = "{\"type\":\"error\",\"error\":\"";
	j = strlen(json);
	for (i = 0; msg[i] && j < sizeof(json) - 8; i++) {
		unsigned char c = msg[i];
		if (c == '"' || c == '\\')
			json[j++] = '\\';
		if (c < 0x20)
			c = ' ';
		json[j++] = c;
	}
	json[j] = 0;
	strcat(json, "\"}");
	send_msg(json);
	_exit(1);
}

static long env_long(const char *name)
{
	const char *v = getenv(name);
	return v ? strtol(v, NULL, 10) : 0;
}

/* later_allowed says whether a refused join may wait for the user namespace. */
static int later_allowed(const int *types, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (types[i] == CLONE_NEWUSER)
			return 1;
	return 0;
}

static void write_timens(const char *offsets)
{
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		bail("open /proc/self/timens_offsets");
	if (write(fd, offsets, strlen(offsets)) < 0)
		bail("write linux.timeOffsets");
	close(fd);
}

/*
 * join_all joins the namespaces in runc's order: first each one that the
 * caller's own credentials may join, then the user namespace, then those
 * that were refused before it (EPERM: they need the rights the user
 * namespace grants). As root, a network namespace that the joined user
 * namespace does not own can be joined only before it; as a rootless
 * caller, the container's namespaces only after it.
 */
static void join_all(int *fds, int *types, char paths[][256], int n)
{
	int i, user = -1, later[MAX_JOIN] = { 0 };

	for (i = 0; i < n; i++) {
		if (types[i] == CLONE_NEWUSER) {
			user = i;
			continue;
		}
		if (setns(fds[i], types[i]) == 0) {
			close(fds[i]);
			continue;
		}
		if (errno != EPERM || later_allowed(types, n) == 0)
			bail("join namespace %s", paths[i]);
		later[i] = 1;
	}
	if (user >= 0) {
		if (setns(fds[user], CLONE_NEWUSER) < 0)
			bail("join namespace %s", paths[user]);
		close(fds[user]);
	}
	for (i = 0; i < n; i++) {
		if (!later[i])
			continue;
		if (setns(fds[i], types[i]) < 0)
			bail("join namespace %s", paths[i]);
		close(fds[i]);
	}
}

__attribute__((constructor)) static void nsenter(void)
{
	const char *s = getenv("_BERTH_NSENTER");
	int fds[MAX_JOIN], types[MAX_JOIN], n = 0;
	char paths[MAX_JOIN][256];

	if (!s)
		return;
	sock = atoi(s);

	/* Open every namespace first: joining the mount namespace changes
	 * what the later paths would resolve to. */
	const char *join = getenv("_BERTH_NS_JOIN");
	while (join && *join && n < MAX_JOIN) {
		char *end;
		types[n] = strtol(join, &end, 10);
		if (*end != ' ')
			break;
		const char *path = end + 1, *nl = strchr(path, '\n');
		size_t len = nl ? (size_t)(nl - path) : strlen(path);
		if (len >= sizeof(paths[n]))
			len = sizeof(paths[n]) - 1;
		memcpy(paths[n], path, len);
		paths[n][len] = 0;
		fds[n] = open(paths[n], O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			bail("open namespace %s", paths[n]);
		n++;
		join = nl ? nl + 1 : NULL;
	}
	/* Still in the host's mount namespace: its /proc shows this process. */
	const char *oom = getenv("_BERTH_OOM_SCORE_ADJ");
	if (oom) {
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, oom, strlen(oom)) < 0)
			bail("process.oomScoreAdj %s", oom);
		close(fd);
	}
	join_all(fds, types, paths, n);

	long flags = env_long("_BERTH_NS_NEW");
	if (flags) {
		if (unshare((int)flags) < 0)
			bail("unshare namespaces %#lx", flags);
		if (flags & CLONE_NEWUSER) {
			char reply[64];
			send_msg("{\"type\":\"idmap\"}");
			if (recv(sock, reply, sizeof(reply), 0) <= 0)
				bail("wait for uid/gid maps");
		}
		if ((flags & CLONE_NEWTIME) && getenv("_BERTH_TIMENS"))
			write_timens(getenv("_BERTH_TIMENS"));
	}

	if (env_long("_BERTH_NS_FORK")) {
		pid_t child = fork();
		if (child < 0)
			bail("fork into the new PID namespace");
		if (child > 0) {
			char msg[64];
			snprintf(msg, sizeof(msg), "{\"type\":\"pid\",\"pid\":%d}", (int)child);
			send_msg(msg);
			_exit(0);
		}
	}
	unsetenv("_BERTH_NSENTER");
	unsetenv("_BERTH_NS_JOIN");
	unsetenv("_BERTH_NS_NEW");
	unsetenv("_BERTH_NS_FORK");
	unsetenv("_BERTH_TIMENS");
	unsetenv("_BERTH_OOM_SCORE_ADJ");
}
