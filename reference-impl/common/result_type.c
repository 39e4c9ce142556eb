/*
 * result_type.c -- the RFC 8460 result types by name (result_types.def,
 * common.h).
 */
#include <stddef.h>
#include <string.h>

#include "common.h"

static const char *const result_type_names[RESULT_TYPE_COUNT] = {
#define RESULT_TYPE(id, name)	[RESULT_TYPE_##id] = name,
#include "result_types.def"
#undef RESULT_TYPE
};

const char *
result_type_name(enum result_type t)
{
	if ((int)t < 0 || t >= RESULT_TYPE_COUNT)
		return NULL;
	return result_type_names[t];
}

enum result_type
result_type_from_name(const char *s)
{
	int	t;

	if (s == NULL)
		return RESULT_TYPE_NONE;
	for (t = 0; t < RESULT_TYPE_COUNT; t++)
		if (strcmp(s, result_type_names[t]) == 0)
			return (enum result_type)t;
	return RESULT_TYPE_NONE;
}
