// zlib (Debian zlib1g-dev, pkg-config zlib): gzopen/gzread read .gz and plain files alike.
// Named CZlibSystem because ZIPFoundation (a dependency) already defines a module CZlib.
#include <zlib.h>
