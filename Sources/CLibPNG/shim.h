#include <png.h>
// Macros Swift cannot import, re-exported as constants and functions.
static const png_uint_32 VQ_PNG_FORMAT_RGB = PNG_FORMAT_RGB;
static const png_uint_32 VQ_PNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
static inline size_t vq_png_image_size(const png_image *image) { return PNG_IMAGE_SIZE(*image); }
