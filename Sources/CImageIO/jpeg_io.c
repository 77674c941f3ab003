// JPEG decode over libjpeg(-turbo) with a setjmp-guarded error_exit (see cimageio.h).
#include "cimageio.h"

#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

// libjpeg's error manager extended with the jump target and what the handlers saw. Everything
// that must survive the longjmp lives here, not in locals.
typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *err;
    size_t err_len;
    char *warn;
    size_t warn_len;
    int warnings;
    uint8_t *pixels;
} jpeg_context;

static void error_exit(j_common_ptr cinfo) {
    jpeg_context *ctx = (jpeg_context *)cinfo->err;
    char message[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, message);
    if (ctx->err && ctx->err_len > 0) snprintf(ctx->err, ctx->err_len, "%s", message);
    longjmp(ctx->jump, 1);
}

// Level -1 is a warning (corrupt data libjpeg patches over); levels ≥ 0 are trace messages.
// Nothing is printed: warnings are counted and the first one is kept for the caller.
static void emit_message(j_common_ptr cinfo, int level) {
    jpeg_context *ctx = (jpeg_context *)cinfo->err;
    if (level >= 0) return;
    if (ctx->warnings == 0 && ctx->warn && ctx->warn_len > 0) {
        char message[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, message);
        snprintf(ctx->warn, ctx->warn_len, "%s", message);
    }
    ctx->warnings++;
    cinfo->err->num_warnings++;
}

int samdg_jpeg_decode(const uint8_t *data, size_t size, samdg_raster *out, int *warnings,
                      char *warn, size_t warn_len, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    *warnings = 0;
    if (warn && warn_len > 0) warn[0] = 0;
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        snprintf(err, err_len, "not a JPEG file (no FF D8 FF start-of-image marker at byte 0)");
        return 1;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_context ctx;
    memset(&ctx, 0, sizeof ctx);
    cinfo.err = jpeg_std_error(&ctx.base);
    ctx.base.error_exit = error_exit;
    ctx.base.emit_message = emit_message;
    ctx.err = err;
    ctx.err_len = err_len;
    ctx.warn = warn;
    ctx.warn_len = warn_len;
    if (setjmp(ctx.jump)) {
        free(ctx.pixels);
        jpeg_destroy_decompress(&cinfo);
        *warnings = ctx.warnings;
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    default:
        snprintf(err, err_len, "unsupported JPEG color space %d (CMYK or YCCK; expected gray or YCbCr/RGB)",
                 (int)cinfo.jpeg_color_space);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    if ((unsigned long long)cinfo.image_width * cinfo.image_height > SAMDG_MAX_PIXELS) {
        snprintf(err, err_len, "image too large (%u x %u, more than 2^28 pixels)",
                 cinfo.image_width, cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_start_decompress(&cinfo);
    int channels = cinfo.output_components;
    if (!(channels == 1 || channels == 3)) {
        snprintf(err, err_len, "unexpected %d output components (expected 1 or 3)", channels);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    size_t row_bytes = (size_t)cinfo.output_width * (size_t)channels;
    size_t byte_count = row_bytes * cinfo.output_height;
    ctx.pixels = (uint8_t *)malloc(byte_count ? byte_count : 1);
    if (!ctx.pixels) {
        snprintf(err, err_len, "out of memory for %zu bytes of pixels", byte_count);
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = ctx.pixels + (size_t)cinfo.output_scanline * row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);

    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = channels;
    out->bit_depth = 8;
    out->pixels = ctx.pixels;
    out->byte_count = byte_count;
    *warnings = ctx.warnings;
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
