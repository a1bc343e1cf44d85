#ifndef ZP_LISTENER_H
#define ZP_LISTENER_H
#endif
