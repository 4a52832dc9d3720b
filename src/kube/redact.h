/*
 * redact.h - a process-wide list of secret values (bearer tokens, CSI
 * secrets resolved from Secrets) that must never appear in an Event or a
 * log line built from API text. The client registers its token; the
 * controllers register the secret values they resolve. Event messages go
 * through kube_redact before they leave (events.h).
 *
 * Values shorter than 4 bytes are not registered: replacing every "a"
 * would wreck messages and protect nothing.
 */
#ifndef DYNVOL_KUBE_REDACT_H
#define DYNVOL_KUBE_REDACT_H

#include <stddef.h>

/* Remembers value (copied). 0, or -ENOMEM / -ENOSPC (list full). */
int kube_redact_add(const char *value);
/* Replaces each registered value in s (NUL-terminated) by "***", in
 * place: the text only shrinks. */
void kube_redact(char *s);
/* Forgets every value (tests). */
void kube_redact_reset(void);

#endif
