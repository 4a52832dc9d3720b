/* patch.c - see patch.h. */
#include "patch.h"
