/* version.h: the one place the moonbeam version is written. */
#ifndef MB_VERSION_H
#define MB_VERSION_H

#define MB_VERSION "0.1.0"

#endif
