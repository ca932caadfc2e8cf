// Generated asset files served by the emulator: real files a 3D viewer or an
// image viewer opens, not placeholders.
#ifndef TRIVERSE_EMULATOR_ASSETS_H_
#define TRIVERSE_EMULATOR_ASSETS_H_

#include <cstdint>
#include <string>

namespace triverse::emulator {

// MakeGlb returns a valid glTF 2.0 binary (.glb) file holding one mesh (a
// sphere-like shape whose proportions and colour derive from `seed`) with
// POSITION, NORMAL and indices. When `textured` is true the mesh also has
// TEXCOORD_0 and a material whose baseColorTexture is an embedded PNG.
// The same seed always gives the same bytes.
std::string MakeGlb(uint64_t seed, bool textured);

// MakePng returns a valid 8-bit RGB PNG of `width` x `height` pixels: a shaded
// preview of the same shape on a plain background, tinted by `seed`.
// Dimensions are clamped to [1, 4096].
std::string MakePng(uint64_t seed, int width, int height);

// MakeObj returns the same mesh as MakeGlb(seed, false) as Wavefront OBJ text.
std::string MakeObj(uint64_t seed);

// MakeStl returns the same mesh as a binary STL file.
std::string MakeStl(uint64_t seed);

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_ASSETS_H_
