/* jmespath.h: JMESPath (jmespath.org/specification.html) for --query, as the AWS CLI runs it
 * (jmespath.py): the whole grammar (sub-expressions, index and slice, list, object, filter and
 * flatten projections, pipes, multiselect lists and hashes, comparisons, && || !, literals,
 * exprefs) and the built-in functions. An expression is compiled once, when the command line is
 * read, so that a bad one stops the command before any request is sent; it is then evaluated on
 * the response.
 *
 * Pure: no I/O, no global state; safe from any thread. */
#ifndef BARGE_JMESPATH_H
#define BARGE_JMESPATH_H
#include <jansson.h>
#include <stddef.h>

#include "util.h"

struct jmes;

/* Compiles expr. Returns 0 and a new expression in *out (free with jmes_free), or -1 with
 * *out NULL and a one-line message in err naming the column, e.g.
 *   Expecting: an identifier, '[' or '{', got: end of expression (column 6)
 * Besides syntax errors, unknown function names and wrong argument counts are refused here
 * (jmespath.py finds them only when it evaluates). */
int jmes_compile(const char *expr, struct jmes **out, char *err, size_t errlen) BARGE_WUR;

/* Evaluates e on data (borrowed). Returns 0 and a new reference in *out (json_null() for
 * JMESPath's null), or -1 with *out NULL and a message in err on a run-time error: a function
 * given an argument of the wrong type, as jmespath.py's JMESPathTypeError. */
int jmes_search(const struct jmes *e, const json_t *data, json_t **out, char *err,
                size_t errlen) BARGE_WUR;

/* jmes_free(NULL) is a no-op. */
void jmes_free(struct jmes *e);

/* A JSON number as Python writes it (to_string here, the AWS CLI's output forms): an integer as
 * it is, a real in the shortest form that reads back the same (0.1, not jansson's
 * 0.10000000000000001), with ".0" when that form would read as an integer. */
void jmes_py_number(const json_t *v, char *b, size_t bn);

#endif
