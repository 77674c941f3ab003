// libpng 1.6 (Debian libpng-dev, pkg-config libpng). Swift code reaches it through CImageIO,
// whose C functions own every libpng call (libpng reports errors by longjmp, which must not
// cross Swift frames).
#include <png.h>
