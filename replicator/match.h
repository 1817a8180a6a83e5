/*
 * match.h: doublestar glob matching with the semantics of
 * bmatcuk/doublestar v1.3.4, the version Harbor's replication filters use.
 *
 * Pure, no I/O.  Work is bounded: hostile patterns ("*a*a*a*b", "**" repeated
 * as components) are memoized, and a step budget, a pattern of more than
 * 4096 bytes or a name of more than 4096 bytes answers -1.  Scratch memory
 * beyond about 60 KiB of stack is malloc()ed only for large expansions.
 */

#ifndef HR_MATCH_H
#define HR_MATCH_H

#include <stddef.h>

/*
 * Returns 1 when pattern matches the whole of s, 0 when it does not, -1 when
 * the pattern is malformed (unclosed '[' or '{', trailing '\', empty or bad
 * class) or a limit is hit.  doublestar reports a bad pattern only when the
 * match reaches the bad part; here it is checked first.  '^' negates a class
 * ("[!a]" is the class of '!' and 'a' in v1.3.4).  The empty pattern matches
 * only the empty string (Harbor's filters treat it as "match all" before
 * calling the matcher; so does policy.c).  '/' separates
 * components: '*' and '?' never cross it, '**' as a whole component matches
 * zero or more components, '{a,b}' alternates, '[...]' is a class.
 */
int hr_match(const char *pattern, const char *s);

/* Returns 0 when pattern is well formed, -1 otherwise. */
int hr_match_check(const char *pattern);

#endif /* HR_MATCH_H */
