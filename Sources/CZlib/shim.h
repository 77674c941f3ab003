// zlib (Debian zlib1g-dev, pkg-config zlib): gzopen/gzread read .gz and plain files alike.
#include <zlib.h>
