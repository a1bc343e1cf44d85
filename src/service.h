#ifndef ZP_SERVICE_H
#define ZP_SERVICE_H
#endif
