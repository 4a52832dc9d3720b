/* Fuzz target: bytes on the socket. Each input is what a client sends after
 * the HTTP/2 preface, which the target sends first so the input reaches
 * the frame and gRPC layers. */
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = harness_socket();
	char buf[65536];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return 0;
	}
	if (send(fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL) > 0 && size)
		send(fd, data, size, MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	/* read the answer until the server closes or goes quiet */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 200) <= 0)
			break;
		if (recv(fd, buf, sizeof(buf), 0) <= 0)
			break;
	}
	close(fd);
	return 0;
}
