// libjpeg-turbo (Debian libjpeg62-turbo-dev, pkg-config libjpeg). jpeglib.h needs size_t and
// FILE declared first. Swift code reaches it through CImageIO (errors longjmp, see CPNG/shim.h).
#include <stdio.h>
#include <stddef.h>
#include <jpeglib.h>
