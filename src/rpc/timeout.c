#include "timeout.h"

#include <errno.h>
#include <stdio.h>

static const struct {
	char unit;
	int64_t ns;
} units[] = {
	{ 'n', 1LL }, { 'u', 1000LL }, { 'm', 1000000LL },
	{ 'S', 1000000000LL }, { 'M', 60000000000LL }, { 'H', 3600000000000LL },
};

int rpc_timeout_parse(const char *s, size_t len, int64_t *ret_ns)
{
	int64_t v = 0;

	if (len < 2 || len > 9)
		return -EINVAL;
	for (size_t i = 0; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (units[i].unit != s[len - 1])
			continue;
		/* 99999999 hours overflows int64 ns: clamp, it means "forever". */
		if (v > INT64_MAX / units[i].ns)
			*ret_ns = INT64_MAX;
		else
			*ret_ns = v * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

size_t rpc_timeout_format(int64_t ns, char out[16])
{
	if (ns < 1)
		ns = 1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t v = ns / units[i].ns + (ns % units[i].ns ? 1 : 0);
		if (v <= 99999999)
			return (size_t)snprintf(out, 16, "%lld%c", (long long)v, units[i].unit);
	}
	return (size_t)snprintf(out, 16, "99999999H");
}
