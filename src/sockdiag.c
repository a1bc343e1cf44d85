/*
 * sockdiag — the open connections of listening sockets; see sockdiag.h.
 */
#include "sockdiag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <linux/unix_diag.h>

/* Not in every linux/tcp.h as an enum we can use in a mask. */
#define ST_ESTABLISHED 1
#define ST_SYN_RECV    3
#define ST_CLOSE_WAIT  8

/* What one poll may track at most; beyond it the dump is cut short. */
#define SOCKDIAG_MAX (1U << 20)

/* The kernel sizes each part of a dump to the reader's buffer. */
static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));

/* What a listener is. */
struct lsock {
	int family;
	struct sockaddr_storage ss;
	socklen_t len;
};

struct dump {
	const struct lsock *l;
	struct sockdiag_conn **out;
	size_t *n_out;
};

static int add(struct dump *d, const struct sockdiag_conn *c)
{
	if (*d->n_out >= SOCKDIAG_MAX)
		return -E2BIG;
	if ((*d->n_out & (*d->n_out - 1)) == 0) { /* 0, 1, 2, 4...: grow */
		size_t cap = *d->n_out ? *d->n_out * 2 : 16;
		struct sockdiag_conn *p = realloc(*d->out, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		*d->out = p;
	}
	(*d->out)[(*d->n_out)++] = *c;
	return 0;
}

static uint64_t cookie(const uint32_t c[2])
{
	return (uint64_t)c[0] | (uint64_t)c[1] << 32;
}

/* A TCP socket of the listener's port (the kernel filtered): on its
 * address too? */
static bool tcp_ours(const struct lsock *l, const struct inet_diag_msg *m)
{
	if (l->family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&l->ss;
		return in->sin_addr.s_addr == htonl(INADDR_ANY) ||
		       memcmp(&in->sin_addr, m->id.idiag_src, 4) == 0;
	}
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->ss;
	return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ||
	       memcmp(&in6->sin6_addr, m->id.idiag_src, 16) == 0;
}

static int on_tcp(struct dump *d, const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || !tcp_ours(d->l, m))
		return 0;
	struct sockdiag_conn c = {.cookie = cookie(m->id.idiag_cookie)};
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (const struct rtattr *a = (const void *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != INET_DIAG_INFO)
			continue;
		struct tcp_info ti;
		size_t n = RTA_PAYLOAD(a);
		memset(&ti, 0, sizeof(ti));
		memcpy(&ti, RTA_DATA(a), n < sizeof(ti) ? n : sizeof(ti));
		if (n >= offsetof(struct tcp_info, tcpi_bytes_received) +
			     sizeof(ti.tcpi_bytes_received)) {
			c.has_bytes = true;
			c.bytes_in = ti.tcpi_bytes_received;
			c.bytes_out = ti.tcpi_bytes_acked;
		}
	}
	return add(d, &c);
}

/* A connected unix socket: one of the listener's when it has its name
 * (accepted sockets share their listener's address). */
static int on_unix(struct dump *d, const struct nlmsghdr *h)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&d->l->ss;
	size_t want = d->l->len - offsetof(struct sockaddr_un, sun_path);
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (const struct rtattr *a = (const void *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != UNIX_DIAG_NAME)
			continue;
		/* A path may come with or without its NUL; compare up to it. */
		size_t n = RTA_PAYLOAD(a);
		const char *name = RTA_DATA(a);
		while (n && sun->sun_path[0] && name[n - 1] == '\0')
			n--;
		size_t w = want;
		while (w && sun->sun_path[0] && sun->sun_path[w - 1] == '\0')
			w--;
		if (n == w && memcmp(name, sun->sun_path, n) == 0) {
			struct sockdiag_conn c = {.cookie = cookie(m->udiag_cookie)};
			return add(d, &c);
		}
	}
	return 0;
}

/* Send a dump request and read the answer to its end. */
static int dump(int nl, const void *req, size_t req_len, struct dump *d,
		int (*each)(struct dump *, const struct nlmsghdr *))
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (sendto(nl, req, req_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno; /* EAGAIN: the kernel had nothing ready: skip this poll */
		if (n == 0)
			return -EPIPE;
		int left = (int)n;
		for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : -EIO;
			}
			int r = each(d, h);
			if (r < 0)
				return r;
		}
	}
}

static int dump_tcp(int nl, struct dump *d)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
		struct nlattr bc;
		struct inet_diag_bc_op op[2];
	} req;
	memset(&req, 0, sizeof(req));
	uint16_t port = d->l->family == AF_INET
			    ? ntohs(((const struct sockaddr_in *)&d->l->ss)->sin_port)
			    : ntohs(((const struct sockaddr_in6 *)&d->l->ss)->sin6_port);
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)d->l->family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1U << ST_ESTABLISHED | 1U << ST_SYN_RECV | 1U << ST_CLOSE_WAIT;
	req.r.idiag_ext = 1U << (INET_DIAG_INFO - 1);
	/* Kernels that look at it skip other ports before anything else. */
	req.r.id.idiag_sport = htons(port);
	/* The kernel's filter: source port == port; yes goes on to the end
	 * (accept), no jumps past it (reject). */
	req.bc.nla_type = INET_DIAG_REQ_BYTECODE;
	req.bc.nla_len = (uint16_t)(NLA_HDRLEN + sizeof(req.op));
	req.op[0] = (struct inet_diag_bc_op){
	    .code = INET_DIAG_BC_S_EQ, .yes = sizeof(req.op), .no = sizeof(req.op) + 4};
	req.op[1] = (struct inet_diag_bc_op){.no = port};
	return dump(nl, &req, sizeof(req), d, on_tcp);
}

static int dump_unix(int nl, struct dump *d)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = 1U << ST_ESTABLISHED;
	req.r.udiag_show = UDIAG_SHOW_NAME;
	return dump(nl, &req, sizeof(req), d, on_unix);
}

int sockdiag_list(const int *fds, size_t n, struct sockdiag_conn **out, size_t *n_out)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct lsock l = {.len = sizeof(l.ss)};
		if (getsockname(fds[i], (struct sockaddr *)&l.ss, &l.len) < 0) {
			r = -errno;
			break;
		}
		l.family = l.ss.ss_family;
		struct dump d = {.l = &l, .out = out, .n_out = n_out};
		if (l.family == AF_INET || l.family == AF_INET6)
			r = dump_tcp(nl, &d);
		else if (l.family == AF_UNIX)
			r = dump_unix(nl, &d);
	}
	close(nl);
	return r;
}
