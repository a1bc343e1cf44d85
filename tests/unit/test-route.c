/*
 * test-route — host routing's lookup (src/route.c): exact names, wildcards
 * (the names under them, not themselves; the longest wins), the default,
 * and nobody.
 */
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tap.h"

static const char *who(const struct route_table *t, const char *host)
{
	const char *got = route_lookup(t, host);
	return got ? got : "(nobody)";
}

int main(void)
{
	struct route_table t = {.id = 1};
	static char a[] = "a", b[] = "b", c[] = "c", d[] = "default";
	route_add(&t, "www.example.com", a);
	route_add(&t, "*.example.com", b);
	route_add(&t, "*.deep.example.com", c);
	route_add(&t, "deep.example.com", a);

	is_str(who(&t, "www.example.com"), "a", "an exact name");
	is_str(who(&t, "www.example.com."), "a", "a fully qualified name");
	is_str(who(&t, "x.example.com"), "b", "a wildcard");
	is_str(who(&t, "x.y.example.com"), "b", "a wildcard, two labels under it");
	is_str(who(&t, "example.com"), "(nobody)", "a wildcard does not take its own name");
	is_str(who(&t, "x.deep.example.com"), "c", "the longer wildcard wins");
	is_str(who(&t, "deep.example.com"), "a", "an exact name wins over a wildcard");
	is_str(who(&t, "wwwexample.com"), "(nobody)", "a suffix is no wildcard match");
	is_str(who(&t, "xexample.com"), "(nobody)", "nor is a name ending in it without a dot");
	is_str(who(&t, "www.example.co"), "(nobody)", "another name");
	is_str(who(&t, ""), "(nobody)", "no Host, no default");
	is_str(who(&t, "."), "(nobody)", "a lone dot");
	t.dflt = d;
	is_str(who(&t, "other.org"), "default", "the default takes the rest");
	is_str(who(&t, ""), "default", "and a request without Host");
	is_str(who(&t, "x.example.com"), "b", "the default does not take what a wildcard does");
	route_table_free(&t);
	ok(t.n == 0 && !t.e, "freed");
	return done_testing();
}
