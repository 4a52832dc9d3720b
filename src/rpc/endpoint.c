#include "endpoint.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_unix(const char *path, rpc_endpoint *ret, const char **ret_why)
{
	size_t n = strlen(path);

	if (path[0] != '/') {
		*ret_why = "unix socket path must be absolute";
		return -EINVAL;
	}
	if (n >= sizeof(ret->path)) {
		*ret_why = "unix socket path is longer than 107 bytes";
		return -EINVAL;
	}
	ret->kind = RPC_ENDPOINT_UNIX;
	memcpy(ret->path, path, n + 1);
	return 0;
}

static int parse_tcp(const char *hostport, rpc_endpoint *ret, const char **ret_why)
{
	const char *colon = strrchr(hostport, ':');
	const char *host = hostport;
	size_t hlen;

	if (!colon || colon[1] == 0) {
		*ret_why = "tcp endpoint needs host:port";
		return -EINVAL;
	}
	hlen = (size_t)(colon - hostport);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(ret->host) || strlen(colon + 1) >= sizeof(ret->port)) {
		*ret_why = "tcp endpoint host or port is malformed";
		return -EINVAL;
	}
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9') {
			*ret_why = "tcp port must be numeric";
			return -EINVAL;
		}
	}
	ret->kind = RPC_ENDPOINT_TCP;
	memcpy(ret->host, host, hlen);
	ret->host[hlen] = 0;
	snprintf(ret->port, sizeof(ret->port), "%s", colon + 1);
	return 0;
}

int rpc_endpoint_parse(const char *s, rpc_endpoint *ret, const char **ret_why)
{
	*ret_why = NULL;
	memset(ret, 0, sizeof(*ret));
	if (!s || !*s) {
		*ret_why = "endpoint is empty";
		return -EINVAL;
	}
	if (strncmp(s, "unix://", 7) == 0)
		return parse_unix(s + 7, ret, ret_why);
	if (strncmp(s, "unix:", 5) == 0)
		return parse_unix(s + 5, ret, ret_why);
	if (strncmp(s, "tcp://", 6) == 0)
		return parse_tcp(s + 6, ret, ret_why);
	if (s[0] == '/')
		return parse_unix(s, ret, ret_why);
	*ret_why = "endpoint must be unix:///path or tcp://host:port";
	return -EINVAL;
}

int rpc_endpoint_connect(const rpc_endpoint *ep)
{
	if (ep->kind == RPC_ENDPOINT_UNIX) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		memcpy(sa.sun_path, ep->path, strlen(ep->path) + 1);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
		return fd;
	}

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int err = -ECONNREFUSED;

	if (getaddrinfo(ep->host, ep->port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int one = 1;
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(res);
			return fd;
		}
		err = -errno;
		close(fd);
	}
	freeaddrinfo(res);
	return err;
}
