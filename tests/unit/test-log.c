/*
 * test-log — where log lines go: the JOURNAL_STREAM decision (systemd.exec(5):
 * "DEVICE:INODE" of stderr in decimal) and the stderr format with its "<N>"
 * prefix, which log_event() keeps whatever fields it carries. The journal
 * fields themselves are proven under a real systemd (t95).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
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
	int rd = stderr_to_pipe(&st);
	if (!ok(rd >= 0, "stderr onto a pipe"))
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
}

int main(void)
{
	test_stream_parse();
	test_detect();
	return done_testing();
}
