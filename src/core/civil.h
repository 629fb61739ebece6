/* Proleptic Gregorian calendar arithmetic on days since 1970-01-01, in integers (Howard Hinnant's
 * algorithms, https://howardhinnant.github.io/date_algorithms.html): no locale, time zone or
 * timegm() (not in C11) involved. Used to read HTTP and ISO 8601 dates and to find calendar
 * periods. Pure functions, any thread. */
#ifndef LX_CORE_CIVIL_H
#define LX_CORE_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1..12), day d (1..31); negative before 1970. */
int64_t lx_days_from_civil(int64_t y, int64_t m, int64_t d);
/* The year and month (1..12) of day z (days since 1970-01-01). */
void lx_civil_from_days(int64_t z, int64_t *y, int64_t *m);

#endif
