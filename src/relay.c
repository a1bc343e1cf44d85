/* relay — placeholder until the engine lands. */
#include "config.h"
