/* cmd.h - subcommand entry points of the dynvol and dynvolctl binaries. */
#ifndef DYNVOL_CMD_H
#define DYNVOL_CMD_H

#define EXIT_USAGE 64

int cmd_driver(int argc, char **argv);
int cmd_apiserver(int argc, char **argv);
int cmd_controller(int argc, char **argv);
int cmd_server(int argc, char **argv);

/*
 * A role run inside `dynvol server`, on a thread of its own: set the
 * role's embedding before calling its cmd_*() on that thread. The role
 * then installs no signal handlers (the server owns SIGTERM), calls
 * ready() once it serves (after its option parsing, so the next role may
 * use getopt), and returns when the server calls its stop function.
 */
typedef struct {
	void (*ready)(void *payload);
	void *payload;
} cmd_embedding;

extern const cmd_embedding *cmd_driver_embedding;
extern const cmd_embedding *cmd_controller_embedding;
/* Async-signal-safe; callable from any thread. */
void cmd_driver_stop(void);
void cmd_controller_stop(void);

#endif
