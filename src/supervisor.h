#ifndef ZP_SUPERVISOR_H
#define ZP_SUPERVISOR_H
#endif
