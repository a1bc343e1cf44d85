/*
 * test-log — where log lines go: the JOURNAL_STREAM decision (systemd.exec(5):
 * "DEVICE:INODE" of stderr in decimal), the stderr format with its "<N>"
 * prefix, which log_event() keeps whatever fields it carries, and the native
 * entries: in a private mount namespace (where the test may make one) a
 * socket of the test's own sits where sd_journal_send() sends, and the
 * datagrams it receives are parsed field by field. t183 does the same with
 * the running daemon, t95 under a real systemd and journald.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static void test_stream_parse(void)
{
	ok(log_stream_is_journal("12:34", 12, 34), "12:34 names dev 12 inode 34");
	ok(log_stream_is_journal("0:1", 0, 1), "dev 0 is a device like any other");
	ok(log_stream_is_journal("18446744073709551615:18446744073709551615", (dev_t)UINT64_MAX,
				 (ino_t)UINT64_MAX),
	   "the largest 64-bit values");
	ok(!log_stream_is_journal("12:35", 12, 34), "another inode is not stderr");
	ok(!log_stream_is_journal("13:34", 12, 34), "another device is not stderr");
	ok(!log_stream_is_journal(NULL, 12, 34), "unset: not the journal");
	ok(!log_stream_is_journal("", 0, 0), "empty: not the journal");
	ok(!log_stream_is_journal("12", 12, 34), "no colon");
	ok(!log_stream_is_journal(":34", 0, 34), "no device");
	ok(!log_stream_is_journal("12:", 12, 0), "no inode");
	ok(!log_stream_is_journal("12:34x", 12, 34), "trailing junk");
	ok(!log_stream_is_journal("12:34:56", 12, 34), "a second colon");
	ok(!log_stream_is_journal("-12:34", (dev_t)-12, 34), "a sign");
	ok(!log_stream_is_journal(" 12:34", 12, 34), "a blank");
	ok(!log_stream_is_journal("0x0c:34", 12, 34), "hex");
	ok(!log_stream_is_journal("18446744073709551616:1", 0, 1), "an overflowing device");
}

/* stderr onto a pipe for the rest of the test; returns the read end. */
static int stderr_to_pipe(struct stat *st)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 || dup2(p[1], STDERR_FILENO) < 0)
		return -1;
	close(p[1]);
	if (fstat(STDERR_FILENO, st) < 0)
		return -1;
	return p[0];
}

static void set_stream(unsigned long long dev, unsigned long long ino)
{
	char v[64];
	snprintf(v, sizeof(v), "%llu:%llu", dev, ino);
	setenv("JOURNAL_STREAM", v, 1);
}

static void read_is(int fd, const char *want, const char *what)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	is_str(buf, want, "%s", what);
}

static void test_detect(void)
{
	struct stat st;
	int saved = dup(STDERR_FILENO);
	int rd = stderr_to_pipe(&st);
	if (!ok(rd >= 0 && saved >= 0, "stderr onto a pipe"))
		return;

	unsetenv("JOURNAL_STREAM");
	ok(!log_detect_journal(), "no JOURNAL_STREAM: stderr");
	set_stream((unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
	ok(!log_detect_journal(), "JOURNAL_STREAM of another file (stderr redirected): stderr");
	set_stream((unsigned long long)st.st_dev + 1, (unsigned long long)st.st_ino);
	ok(!log_detect_journal(), "JOURNAL_STREAM on another device: stderr");
	setenv("JOURNAL_STREAM", "garbage", 1);
	ok(!log_detect_journal(), "a malformed JOURNAL_STREAM: stderr");

	/* Not the journal: the same "<N>" line whatever the fields. */
	log_set_level(LOG_INFO);
	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
	log_event(LOG_INFO, "web", LOG_EV_STATE, "running", "web: %s -> %s (%s)", "starting",
		  "running", "ready");
	read_is(rd, "<6>web: starting -> running (ready)\n", "log_event on stderr: a <6> line");
	log_event(LOG_ERR, NULL, NULL, NULL, "plain %d", 3);
	read_is(rd, "<3>plain 3\n", "log_event without fields");
	log_write(LOG_DEBUG, "below the threshold");
	log_warning("after %s", "it");
	read_is(rd, "<4>after it\n", "a line below the threshold is dropped");

	/* JOURNAL_STREAM names stderr: the journal, where journald's socket is
	 * there to take the entries (sd_journal_send() would drop them silently
	 * without it); else the lines still reach stderr. */
	set_stream((unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	struct stat js;
	bool journald = stat("/run/systemd/journal/socket", &js) == 0 && S_ISSOCK(js.st_mode);
	is_int(log_detect_journal(), journald, "JOURNAL_STREAM names stderr: %s",
	       journald ? "the journal" : "no journald here, so stderr");
	if (!journald) {
		log_event(LOG_NOTICE, "web", LOG_EV_REFUSED, NULL, "web: refused");
		read_is(rd, "<5>web: refused\n", "journal unreachable: the line goes to stderr");
	}
	unsetenv("JOURNAL_STREAM");
	ok(!log_detect_journal(), "back to stderr");
	close(rd);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* A mount namespace of the test's own with a tmpfs on /run, so that a socket
 * can sit at journald's path without touching the host's /run. */
static bool private_run(void)
{
	if (unshare(CLONE_NEWNS) < 0 &&
	    (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0))
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	if (mount("zp-test-log", "/run", "tmpfs", 0, "size=1m,mode=0755") < 0)
		return false;
	return mkdir("/run/systemd", 0755) == 0 && mkdir("/run/systemd/journal", 0755) == 0;
}

/* The value of FIELD in a native journal datagram ("FIELD=value\n" lines;
 * values with a newline in the binary form, which these tests never send),
 * into out; false if absent. */
static bool field(const char *dgram, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = dgram, *end = dgram + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			snprintf(out, outlen, "%.*s", (int)(eol - p - (ptrdiff_t)nl - 1),
				 p + nl + 1);
			return true;
		}
		p = eol + 1;
	}
	return false;
}

static ssize_t receive(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);
	buf[n < 0 ? 0 : n] = '\0';
	return n;
}

static void test_native(void)
{
	if (!private_run()) {
		note("no private mount namespace here (%s): native entries unchecked",
		     strerror(errno));
		return;
	}
	int j = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/run/systemd/journal/socket");
	if (!ok(j >= 0 && bind(j, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		"a socket at journald's path"))
		return;
	struct stat st;
	int saved = dup(STDERR_FILENO);
	int rd = stderr_to_pipe(&st);
	set_stream((unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	ok(log_detect_journal(), "JOURNAL_STREAM names stderr and journald is there: the journal");

	char d[4096], v[256];
	log_set_level(LOG_INFO);
	log_event(LOG_INFO, "web", LOG_EV_STATE, "running", "web: %s -> %s (%s)", "starting",
		  "running", "ready after 3 ms");
	ssize_t n = receive(j, d, sizeof(d));
	ok(n > 0, "one datagram for the entry");
	ok(field(d, (size_t)n, "MESSAGE", v, sizeof(v)) &&
	       !strcmp(v, "web: starting -> running (ready after 3 ms)"),
	   "MESSAGE= the line, without a prefix: %s", v);
	ok(field(d, (size_t)n, "PRIORITY", v, sizeof(v)) && !strcmp(v, "6"), "PRIORITY=6");
	ok(field(d, (size_t)n, "SYSLOG_IDENTIFIER", v, sizeof(v)) && !strcmp(v, "zeroproxy"),
	   "SYSLOG_IDENTIFIER=zeroproxy");
	ok(field(d, (size_t)n, "ZEROPROXY_SERVICE", v, sizeof(v)) && !strcmp(v, "web"),
	   "ZEROPROXY_SERVICE=web");
	ok(field(d, (size_t)n, "ZEROPROXY_EVENT", v, sizeof(v)) && !strcmp(v, "state-change"),
	   "ZEROPROXY_EVENT=state-change");
	ok(field(d, (size_t)n, "ZEROPROXY_STATE", v, sizeof(v)) && !strcmp(v, "running"),
	   "ZEROPROXY_STATE=running");

	log_error("reload failed; %s", "the previous configuration stays in force");
	n = receive(j, d, sizeof(d));
	ok(n > 0 && field(d, (size_t)n, "PRIORITY", v, sizeof(v)) && !strcmp(v, "3"),
	   "a plain log_error(): PRIORITY=3");
	ok(!field(d, (size_t)n, "ZEROPROXY_SERVICE", v, sizeof(v)) &&
	       !field(d, (size_t)n, "ZEROPROXY_EVENT", v, sizeof(v)) &&
	       !field(d, (size_t)n, "ZEROPROXY_STATE", v, sizeof(v)),
	   "and no zeroproxy field it was not given");
	log_debug("below the threshold");
	ok(receive(j, d, sizeof(d)) < 0, "a line below the threshold sends nothing");
	ok(receive(rd, d, sizeof(d)) <= 0, "and nothing went to stderr: %s", d);

	unsetenv("JOURNAL_STREAM");
	log_detect_journal();
	close(rd);
	close(j);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

int main(void)
{
	test_stream_parse();
	test_detect();
	test_native();
	return done_testing();
}
