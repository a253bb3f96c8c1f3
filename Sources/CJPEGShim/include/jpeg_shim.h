// The libjpeg shim: whole JPEG decodes and encodes in single C calls.
//
// libjpeg reports fatal errors through `error_exit`, whose default calls exit(). Swift has no
// setjmp and a longjmp across Swift frames is undefined, so each call here owns a setjmp and an
// error handler that longjmps back to it; the Swift side only ever sees a return code and a
// message. Memory returned in a result is malloc'd; release it with vq_jpeg_free.
#ifndef VQ_JPEG_SHIM_H
#define VQ_JPEG_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Return codes of the shim's calls.
enum {
    VQ_JPEG_OK = 0,
    VQ_JPEG_CORRUPT = 1,       ///< libjpeg failed; `message` says why
    VQ_JPEG_TOO_LARGE = 2,     ///< width * height exceeds the caller's limit (width, height are set)
    VQ_JPEG_UNSUPPORTED = 3,   ///< a color space the shim does not convert to RGB
    VQ_JPEG_NO_MEMORY = 4,     ///< malloc failed
    VQ_JPEG_BAD_ARGUMENT = 5,  ///< invalid size or quality passed to encode
};

#define VQ_JPEG_MESSAGE_SIZE 200

typedef struct {
    unsigned char *pixels;     ///< RGB interleaved, width * height * 3 bytes, rows top-down
    unsigned int width;
    unsigned int height;
    int source_components;     ///< components in the file: 1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK
    char message[VQ_JPEG_MESSAGE_SIZE];
} vq_jpeg_decoded;

typedef struct {
    unsigned char *bytes;      ///< the JPEG file
    size_t size;
    char message[VQ_JPEG_MESSAGE_SIZE];
} vq_jpeg_encoded;

/// Decodes a whole JPEG file to RGB8. Grayscale is expanded to RGB; CMYK and YCCK (Adobe,
/// inverted as Photoshop writes them) are converted as PIL's CMYK->RGB does. A file that ends
/// before its EOI marker is an error, as in PIL (libjpeg itself would only warn and pad the
/// missing rows with gray); the decode stops as soon as the data runs out.
/// `max_pixels` of 0 means no limit.
int vq_jpeg_decode(const unsigned char *data, size_t size, unsigned long long max_pixels,
                   vq_jpeg_decoded *out);

/// Encodes RGB8 pixels (rows top-down, width * 3 bytes each) as a baseline JPEG with 4:2:0
/// chroma subsampling and the standard tables scaled to `quality` (1...100).
int vq_jpeg_encode(const unsigned char *rgb, unsigned int width, unsigned int height, int quality,
                   vq_jpeg_encoded *out);

/// Releases memory handed out by the calls above (NULL is fine).
void vq_jpeg_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
