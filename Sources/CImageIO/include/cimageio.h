#ifndef SAMDG_CIMAGEIO_H
#define SAMDG_CIMAGEIO_H

// The project's C boundary to libpng and libjpeg. Both libraries report a fatal error by calling
// an error handler that must not return; the handlers here longjmp back to a setjmp taken in the
// same C function, so no longjmp ever crosses a Swift frame. Every function returns 0 on
// success, or non-zero with a NUL-terminated reason in `err` (and nothing left allocated).

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Decoded pixels: row-major, channels interleaved, `channels` 1 (gray) or 3 (RGB), samples of
/// `bit_depth` 8 (uint8) or 16 (uint16 in the host's byte order). `pixels` is malloc'd
/// (`samdg_image_free`), `byte_count` = height · width · channels · bit_depth / 8.
typedef struct {
    int width;
    int height;
    int channels;
    int bit_depth;
    void *pixels;
    size_t byte_count;
} samdg_raster;

/// What a decoder may allocate: images with more pixels (or a side above 65535) are refused
/// before any pixel memory is taken, so a corrupt header cannot ask for gigabytes.
#define SAMDG_MAX_PIXELS (1u << 28)

/// Decodes a whole PNG held in memory. Palette images become RGB, gray below 8 bits becomes
/// 8-bit gray, alpha (and tRNS transparency) is dropped, gray+alpha gives gray and RGBA gives
/// RGB. 16-bit samples are kept unless `strip16` (then the high byte is kept, as libpng's
/// png_set_strip_16 does). Interlaced images are de-interlaced.
int samdg_png_decode(const uint8_t *data, size_t size, int strip16, samdg_raster *out,
                     char *err, size_t err_len);

/// Encodes 8-bit pixels (`channels` 1 = gray or 3 = RGB, rows of width · channels bytes) as a
/// non-interlaced PNG with no time chunk, so equal pixels give equal bytes. `*png` is malloc'd
/// (`samdg_image_free`).
int samdg_png_encode(const uint8_t *pixels, int width, int height, int channels,
                     uint8_t **png, size_t *png_size, char *err, size_t err_len);

/// Decodes a whole baseline or progressive JPEG held in memory (libjpeg's default islow IDCT
/// and fancy upsampling). One-component images stay gray; YCbCr and RGB images become RGB;
/// CMYK/YCCK are refused. libjpeg's warnings (corrupt or truncated data, which it would patch
/// over with gray) are counted in `*warnings`, the first one's text in `warn`.
int samdg_jpeg_decode(const uint8_t *data, size_t size, samdg_raster *out, int *warnings,
                      char *warn, size_t warn_len, char *err, size_t err_len);

/// Frees memory returned by the functions above (NULL is fine).
void samdg_image_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
