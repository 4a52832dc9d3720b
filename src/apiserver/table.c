/* table.c - see table.h. */
#include "table.h"
