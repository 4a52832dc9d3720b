#include "crashpoint.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *armed;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	const char *env = getenv("DYNVOL_CRASHPOINT");

	armed = env && *env ? env : NULL;
}

static void die(void)
{
	static const char msg[] = "dynvol: crash point reached: ";
	ssize_t n = write(2, msg, sizeof(msg) - 1);

	n = write(2, armed, strlen(armed));
	n = write(2, "\n", 1);
	(void)n;
	kill(getpid(), SIGKILL);
	_exit(137); /* not reached */
}

void dv_crashpoint(const char *name)
{
	pthread_once(&once, load);
	if (armed && strcmp(armed, name) == 0)
		die();
}

void dv_crashpoint_at(const char *name, const char *detail)
{
	size_t n;

	pthread_once(&once, load);
	if (!armed || !detail)
		return;
	n = strlen(name);
	if (strncmp(armed, name, n) == 0 && armed[n] == ':' && strcmp(armed + n + 1, detail) == 0)
		die();
}
