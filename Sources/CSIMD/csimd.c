/* Header-only helpers (include/csimd.h); SwiftPM needs one source file per C target. */
#include "csimd.h"
