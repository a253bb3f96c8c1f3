// The libjpeg shim; see include/jpeg_shim.h. Every libjpeg call happens between a setjmp here and
// the longjmp in vq_error_exit, and no Swift frame lies between them.
#include "jpeg_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

// Progressive files may hold any number of scans, each a full pass over the coefficients: a small
// hostile file can cost minutes of CPU. libjpeg-turbo recommends a scan limit (djpeg -maxscans).
#define VQ_MAX_SCANS 500

typedef struct {
    struct jpeg_error_mgr base;  // first, so a j_common_ptr's err can be cast to this
    jmp_buf jump;
    int unsupported;             // the fatal error was a feature libjpeg lacks, not damage
    char message[VQ_JPEG_MESSAGE_SIZE];
} vq_error_mgr;

typedef struct {
    struct jpeg_progress_mgr base;
    vq_error_mgr *errors;
} vq_progress_mgr;

static void vq_error_exit(j_common_ptr cinfo) {
    vq_error_mgr *err = (vq_error_mgr *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(err->message, sizeof err->message, "%s", buffer);
    switch (cinfo->err->msg_code) {
    case JERR_SOF_UNSUPPORTED:      // lossless (SOF3), hierarchical, ...
    case JERR_BAD_PRECISION:        // 12- or 16-bit samples
    case JERR_ARITH_NOTIMPL:
    case JERR_NOT_COMPILED:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_CCIR601_NOTIMPL:
        err->unsupported = 1;
        break;
    default:
        break;
    }
    longjmp(err->jump, 1);
}

// Warnings (level -1) are counted, not printed; trace messages (level >= 0) are dropped.
// Running out of data is fatal here (PIL refuses such files too), and it ends the decode at once
// rather than after libjpeg has padded every remaining row with gray.
static void vq_emit_message(j_common_ptr cinfo, int level) {
    vq_error_mgr *err = (vq_error_mgr *)cinfo->err;
    if (level < 0) {
        err->base.num_warnings++;
        if (err->base.msg_code == JWRN_JPEG_EOF) {
            snprintf(err->message, sizeof err->message,
                     "JPEG file is truncated (premature end of data)");
            longjmp(err->jump, 1);
        }
    }
}

static void vq_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void vq_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->input_scan_number > VQ_MAX_SCANS) {
        vq_error_mgr *err = ((vq_progress_mgr *)cinfo->progress)->errors;
        snprintf(err->message, sizeof err->message,
                 "progressive JPEG has more than %d scans", VQ_MAX_SCANS);
        longjmp(err->jump, 1);
    }
}

static void vq_install_errors(vq_error_mgr *err) {
    memset(err, 0, sizeof *err);
    jpeg_std_error(&err->base);
    err->base.error_exit = vq_error_exit;
    err->base.emit_message = vq_emit_message;
    err->base.output_message = vq_output_message;
}

// Pillow's CMYK->RGB for Adobe-inverted CMYK: with c, k the stored (inverted) values,
// R = k - round(255 - c) * k / 255, the same integer arithmetic as Pillow's cmyk2rgb.
static unsigned char vq_cmyk_channel(unsigned int c, unsigned int k) {
    unsigned int t = (255u - c) * k + 128u;
    unsigned int scaled = ((t >> 8) + t) >> 8;
    return (unsigned char)(k - scaled);
}

int vq_jpeg_decode(const unsigned char *data, size_t size, unsigned long long max_pixels,
                   vq_jpeg_decoded *out) {
    memset(out, 0, sizeof *out);
    if (data == NULL || size == 0) {
        snprintf(out->message, sizeof out->message, "empty input");
        return VQ_JPEG_CORRUPT;
    }
    struct jpeg_decompress_struct cinfo;
    vq_error_mgr err;
    vq_progress_mgr progress;
    // Volatile: assigned after setjmp and read after a longjmp back to it.
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile row = NULL;
    volatile int code = VQ_JPEG_OK;

    // Zeroed first: jpeg_create_decompress may fail before it initializes the struct itself.
    memset(&cinfo, 0, sizeof cinfo);
    vq_install_errors(&err);
    cinfo.err = &err.base;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row);
        memcpy(out->message, err.message, sizeof out->message);
        out->pixels = NULL;
        if (code == VQ_JPEG_OK) code = err.unsupported ? VQ_JPEG_UNSUPPORTED : VQ_JPEG_CORRUPT;
        return code;
    }
    jpeg_create_decompress(&cinfo);
    memset(&progress, 0, sizeof progress);
    progress.base.progress_monitor = vq_progress;
    progress.errors = &err;
    cinfo.progress = &progress.base;
    // jpeg_mem_src takes an unsigned long size; a size beyond it cannot be a sane JPEG here.
    if ((unsigned long long)size > (unsigned long long)(unsigned long)-1) {
        snprintf(err.message, sizeof err.message, "input too large");
        longjmp(err.jump, 1);
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    out->width = cinfo.image_width;
    out->height = cinfo.image_height;
    out->source_components = cinfo.num_components;
    unsigned long long count = (unsigned long long)cinfo.image_width * cinfo.image_height;
    if (max_pixels != 0 && count > max_pixels) {
        code = VQ_JPEG_TOO_LARGE;
        snprintf(err.message, sizeof err.message, "%u x %u pixels exceeds the limit of %llu",
                 cinfo.image_width, cinfo.image_height, max_pixels);
        longjmp(err.jump, 1);
    }

    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default:
        code = VQ_JPEG_UNSUPPORTED;
        snprintf(err.message, sizeof err.message, "unsupported JPEG color space %d",
                 (int)cinfo.jpeg_color_space);
        longjmp(err.jump, 1);
    }
    jpeg_start_decompress(&cinfo);

    size_t width = cinfo.output_width;
    size_t pixel_count = width * (size_t)cinfo.output_height;
    pixels = malloc(pixel_count * 3 > 0 ? pixel_count * 3 : 1);
    row = malloc(width * (size_t)cinfo.output_components);
    if (pixels == NULL || row == NULL) {
        code = VQ_JPEG_NO_MEMORY;
        snprintf(err.message, sizeof err.message, "out of memory for %zu pixels", pixel_count);
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        unsigned char *target = pixels + y * width * 3;
        JSAMPROW rows[1] = { cmyk ? row : target };
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
            snprintf(err.message, sizeof err.message, "JPEG data ended at row %zu", y);
            longjmp(err.jump, 1);
        }
        if (cmyk) {
            for (size_t x = 0; x < width; x++) {
                const unsigned char *p = row + 4 * x;
                target[3 * x + 0] = vq_cmyk_channel(p[0], p[3]);
                target[3 * x + 1] = vq_cmyk_channel(p[1], p[3]);
                target[3 * x + 2] = vq_cmyk_channel(p[2], p[3]);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->pixels = pixels;
    return VQ_JPEG_OK;
}

int vq_jpeg_encode(const unsigned char *rgb, unsigned int width, unsigned int height, int quality,
                   vq_jpeg_encoded *out) {
    memset(out, 0, sizeof *out);
    if (rgb == NULL || width == 0 || height == 0 || width > JPEG_MAX_DIMENSION
        || height > JPEG_MAX_DIMENSION || quality < 1 || quality > 100) {
        snprintf(out->message, sizeof out->message,
                 "cannot encode %u x %u at quality %d as JPEG", width, height, quality);
        return VQ_JPEG_BAD_ARGUMENT;
    }
    struct jpeg_compress_struct cinfo;
    vq_error_mgr err;
    unsigned char *volatile buffer = NULL;
    unsigned long buffer_size = 0;

    memset(&cinfo, 0, sizeof cinfo);
    vq_install_errors(&err);
    cinfo.err = &err.base;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        memcpy(out->message, err.message, sizeof out->message);
        return VQ_JPEG_CORRUPT;
    }
    jpeg_create_compress(&cinfo);
    // libjpeg-turbo's memory destination mallocs and grows *outbuffer itself, keeping it current.
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &buffer_size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[1] = { (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * stride) };
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    out->bytes = buffer;
    out->size = buffer_size;
    return VQ_JPEG_OK;
}

void vq_jpeg_free(void *pointer) { free(pointer); }
