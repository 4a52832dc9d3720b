/* cmd.h - subcommand entry points of the dynvol and dynvolctl binaries. */
#ifndef DYNVOL_CMD_H
#define DYNVOL_CMD_H

#define EXIT_USAGE 64

int cmd_driver(int argc, char **argv);
int cmd_apiserver(int argc, char **argv);
int cmd_controller(int argc, char **argv);

#endif
