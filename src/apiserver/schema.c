/* schema.c - see schema.h. */
#include "schema.h"
