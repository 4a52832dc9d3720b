/* selector.c - see selector.h. */
#include "selector.h"
