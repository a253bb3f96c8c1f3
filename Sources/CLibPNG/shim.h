#include <png.h>
// Macros Swift cannot import, re-exported as constants and functions.
static const png_uint_32 VQ_PNG_FORMAT_RGB = PNG_FORMAT_RGB;
static const png_uint_32 VQ_PNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
static const png_uint_32 VQ_PNG_FORMAT_FLAG_ALPHA = PNG_FORMAT_FLAG_ALPHA;
static const png_uint_32 VQ_PNG_IMAGE_FLAG_16BIT_sRGB = PNG_IMAGE_FLAG_16BIT_sRGB;
static const png_uint_32 VQ_PNG_IMAGE_FLAG_FAST = PNG_IMAGE_FLAG_FAST;
static const png_uint_32 VQ_PNG_IMAGE_VERSION = PNG_IMAGE_VERSION;
static inline size_t vq_png_image_size(const png_image *image) { return PNG_IMAGE_SIZE(*image); }
/// An upper bound on the size of the PNG file png_image_write_to_memory produces.
static inline size_t vq_png_image_png_size_max(const png_image *image) {
    return PNG_IMAGE_PNG_SIZE_MAX(*image);
}
