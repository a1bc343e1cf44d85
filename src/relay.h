#ifndef ZP_RELAY_H
#define ZP_RELAY_H
#endif
