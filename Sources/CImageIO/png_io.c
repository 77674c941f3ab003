// PNG decode and encode over libpng 1.6 with setjmp-guarded error handling (see cimageio.h).
#include "cimageio.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Everything that must survive a longjmp lives in this struct (not in locals, which the C
// standard leaves indeterminate after longjmp when they changed since setjmp).
typedef struct {
    jmp_buf jump;
    char *err;
    size_t err_len;
    const uint8_t *data;   // decode: the input and how far it has been read
    size_t size;
    size_t offset;
    uint8_t *buffer;       // decode: pixels; encode: output bytes
    size_t buffer_len;
    size_t buffer_cap;
    png_bytep *rows;
} png_context;

static void set_message(char *err, size_t err_len, const char *message) {
    if (err && err_len > 0) snprintf(err, err_len, "%s", message ? message : "unknown libpng error");
}

static void on_error(png_structp png, png_const_charp message) {
    png_context *ctx = (png_context *)png_get_error_ptr(png);
    set_message(ctx->err, ctx->err_len, message);
    longjmp(ctx->jump, 1);
}

// Warnings (a bad ancillary chunk, an unknown sRGB profile...) do not stop decoding; libpng
// would print them, so they are dropped.
static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void read_bytes(png_structp png, png_bytep dest, size_t length) {
    png_context *ctx = (png_context *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->offset) {
        char message[160];
        snprintf(message, sizeof message, "truncated: needed %zu more bytes at byte %zu of %zu",
                 length, ctx->offset, ctx->size);
        png_error(png, message);
    }
    memcpy(dest, ctx->data + ctx->offset, length);
    ctx->offset += length;
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

// Removes the alpha sample of every pixel in place (gray+alpha → gray, RGBA → RGB) and returns
// the channels left.
static int drop_alpha(uint8_t *pixels, size_t count, int channels, int sample_bytes) {
    if (channels == 1 || channels == 3) return channels;
    size_t keep = (size_t)(channels - 1) * (size_t)sample_bytes, stride = (size_t)channels * (size_t)sample_bytes;
    for (size_t i = 0; i < count; i++) memmove(pixels + i * keep, pixels + i * stride, keep);
    return channels - 1;
}

int samdg_png_decode(const uint8_t *data, size_t size, int strip16, samdg_raster *out,
                     char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        set_message(err, err_len, "not a PNG file (no PNG signature at byte 0)");
        return 1;
    }
    png_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.err = err;
    ctx.err_len = err_len;
    ctx.data = data;
    ctx.size = size;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (!png) {
        set_message(err, err_len, "cannot create a libpng reader (out of memory?)");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(err, err_len, "cannot create libpng info (out of memory?)");
        return 1;
    }
    if (setjmp(ctx.jump)) {
        free(ctx.rows);
        free(ctx.buffer);
        png_destroy_read_struct(&png, &info, NULL);
        return 1;
    }
    png_set_user_limits(png, 65535, 65535);
    png_set_read_fn(png, &ctx, read_bytes);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if ((unsigned long long)width * height > SAMDG_MAX_PIXELS) {
        png_error(png, "image too large (more than 2^28 pixels)");
    }

    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) {
        if (strip16) png_set_strip_16(png);
        else if (host_is_little_endian()) png_set_swap(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    // Alpha is dropped below rather than with png_set_strip_alpha, so whatever libpng's
    // expansion adds (palette tRNS becomes an alpha channel) is handled the same way.
    int channels = png_get_channels(png, info);
    int out_depth = png_get_bit_depth(png, info);
    if (channels < 1 || channels > 4 || !(out_depth == 8 || out_depth == 16)) {
        png_error(png, "unexpected pixel layout after the libpng transforms");
    }
    size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(out_depth / 8);
    if (png_get_rowbytes(png, info) != row_bytes) {
        png_error(png, "unexpected row size after the libpng transforms");
    }
    ctx.buffer_len = row_bytes * height;
    ctx.buffer = (uint8_t *)malloc(ctx.buffer_len ? ctx.buffer_len : 1);
    ctx.rows = (png_bytep *)malloc(sizeof(png_bytep) * (height ? height : 1));
    if (!ctx.buffer || !ctx.rows) png_error(png, "out of memory for the pixels");
    for (png_uint_32 y = 0; y < height; y++) ctx.rows[y] = ctx.buffer + (size_t)y * row_bytes;
    png_read_image(png, ctx.rows);
    png_read_end(png, NULL);

    free(ctx.rows);
    ctx.rows = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    int color_channels = drop_alpha(ctx.buffer, (size_t)width * height, channels, out_depth / 8);
    out->width = (int)width;
    out->height = (int)height;
    out->channels = color_channels;
    out->bit_depth = out_depth;
    out->pixels = ctx.buffer;
    out->byte_count = (size_t)width * height * (size_t)color_channels * (size_t)(out_depth / 8);
    return 0;
}

static void write_bytes(png_structp png, png_bytep src, size_t length) {
    png_context *ctx = (png_context *)png_get_io_ptr(png);
    if (length > ctx->buffer_cap - ctx->buffer_len) {
        size_t cap = ctx->buffer_cap ? ctx->buffer_cap : 4096;
        while (cap - ctx->buffer_len < length) cap *= 2;
        uint8_t *grown = (uint8_t *)realloc(ctx->buffer, cap);
        if (!grown) png_error(png, "out of memory for the encoded bytes");
        ctx->buffer = grown;
        ctx->buffer_cap = cap;
    }
    memcpy(ctx->buffer + ctx->buffer_len, src, length);
    ctx->buffer_len += length;
}

static void flush_nothing(png_structp png) { (void)png; }

int samdg_png_encode(const uint8_t *pixels, int width, int height, int channels,
                     uint8_t **png_out, size_t *png_size, char *err, size_t err_len) {
    *png_out = NULL;
    *png_size = 0;
    if (width <= 0 || height <= 0 || width > 65535 || height > 65535 || !(channels == 1 || channels == 3)) {
        set_message(err, err_len, "expected 1 to 65535 rows and columns and 1 or 3 channels");
        return 1;
    }
    png_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.err = err;
    ctx.err_len = err_len;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (!png) {
        set_message(err, err_len, "cannot create a libpng writer (out of memory?)");
        return 1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_message(err, err_len, "cannot create libpng info (out of memory?)");
        return 1;
    }
    if (setjmp(ctx.jump)) {
        free(ctx.rows);
        free(ctx.buffer);
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_set_write_fn(png, &ctx, write_bytes, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    ctx.rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!ctx.rows) png_error(png, "out of memory for the row table");
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) ctx.rows[y] = (png_bytep)(pixels + (size_t)y * row_bytes);
    png_write_image(png, ctx.rows);
    png_write_end(png, NULL);

    free(ctx.rows);
    png_destroy_write_struct(&png, &info);
    *png_out = ctx.buffer;
    *png_size = ctx.buffer_len;
    return 0;
}

void samdg_image_free(void *p) { free(p); }
