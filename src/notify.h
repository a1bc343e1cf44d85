#ifndef ZP_NOTIFY_H
#define ZP_NOTIFY_H
#endif
