/* SPDX-License-Identifier: MIT */
/*
 * util.h - small macros every subsystem may use, so that each is defined once.
 */
#ifndef TGH_CORE_UTIL_H
#define TGH_CORE_UTIL_H

/* Number of elements of an array (not of a pointer). */
#define TGH_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
