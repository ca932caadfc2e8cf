#include "emulator/assets.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Tessellation of the UV sphere: (kStacks + 1) * (kSlices + 1) = 825 vertices
// (the seam column is duplicated for texture coordinates) and
// kSlices * (2 * kStacks - 2) = 1472 triangles.
constexpr int kStacks = 24;
constexpr int kSlices = 32;

constexpr int kTextureSize = 256;
constexpr int kMaxImageDim = 4096;
// zlib's fastest level: PNGs here are made per request, and the images are
// simple enough that it only costs some size (about 1.7x level 6's).
constexpr int kPngCompressionLevel = 1;

// glTF enums.
constexpr int kGlFloat = 5126;
constexpr int kGlUnsignedShort = 5123;
constexpr int kGlArrayBuffer = 34962;
constexpr int kGlElementArrayBuffer = 34963;
constexpr int kGlLinear = 9729;
constexpr int kGlLinearMipmapLinear = 9987;
constexpr int kGlRepeat = 10497;

constexpr uint32_t kGlbMagic = 0x46546C67;   // "glTF"
constexpr uint32_t kChunkJson = 0x4E4F534A;  // "JSON"
constexpr uint32_t kChunkBin = 0x004E4942;   // "BIN\0"
constexpr char kGenerator[] = "triverse-emulator";

// SplitMix64: small, fast and fully deterministic across platforms.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  double Range(double lo, double hi) { return lo + (hi - lo) * Unit(); }

 private:
  uint64_t state_;
};

struct Rgb {
  double r, g, b;  // each in [0, 1]
};

// Everything about the generated shape that depends on the seed.
struct ShapeParams {
  double sx, sy, sz;  // ellipsoid semi-axes
  Rgb color;          // sRGB
};

Rgb HsvToRgb(double h, double s, double v) {
  h = h - std::floor(h);
  const double hh = h * 6.0;
  const int sector = static_cast<int>(hh) % 6;
  const double f = hh - std::floor(hh);
  const double p = v * (1.0 - s);
  const double q = v * (1.0 - s * f);
  const double t = v * (1.0 - s * (1.0 - f));
  switch (sector) {
    case 0:
      return {v, t, p};
    case 1:
      return {q, v, p};
    case 2:
      return {p, v, t};
    case 3:
      return {p, q, v};
    case 4:
      return {t, p, v};
    default:
      return {v, p, q};
  }
}

double SrgbToLinear(double c) {
  return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}

ShapeParams ParamsFromSeed(uint64_t seed) {
  Rng rng(seed ^ 0x7472697665727365ULL);  // "triverse"
  ShapeParams p;
  p.sx = rng.Range(0.8, 1.2);
  p.sy = rng.Range(0.75, 1.25);
  p.sz = rng.Range(0.8, 1.2);
  const double hue = rng.Unit();
  const double sat = rng.Range(0.45, 0.75);
  const double val = rng.Range(0.7, 0.95);
  p.color = HsvToRgb(hue, sat, val);
  return p;
}

struct Mesh {
  std::vector<float> positions;   // xyz per vertex
  std::vector<float> normals;     // xyz per vertex, unit length
  std::vector<float> uvs;         // uv per vertex
  std::vector<uint16_t> indices;  // three per triangle, counter-clockwise
                                  // when seen from outside

  size_t VertexCount() const { return positions.size() / 3; }
  size_t TriangleCount() const { return indices.size() / 3; }
};

// Builds an ellipsoid with semi-axes (sx, sy, sz) as a UV sphere. Vertex (i, j)
// lies on stack i (0 = north pole, +Y) and slice j.
Mesh BuildMesh(const ShapeParams& p) {
  Mesh mesh;
  const int vertex_count = (kStacks + 1) * (kSlices + 1);
  mesh.positions.reserve(vertex_count * 3);
  mesh.normals.reserve(vertex_count * 3);
  mesh.uvs.reserve(vertex_count * 2);
  for (int i = 0; i <= kStacks; ++i) {
    const double theta = kPi * i / kStacks;
    const double sin_t = std::sin(theta);
    const double cos_t = std::cos(theta);
    for (int j = 0; j <= kSlices; ++j) {
      const double phi = 2.0 * kPi * j / kSlices;
      // Exact values at the seam keep the duplicated column identical.
      const double sin_p = (j == kSlices) ? 0.0 : std::sin(phi);
      const double cos_p = (j == kSlices) ? 1.0 : std::cos(phi);
      const double ux = sin_t * cos_p;
      const double uy = cos_t;
      const double uz = sin_t * sin_p;
      mesh.positions.push_back(static_cast<float>(p.sx * ux));
      mesh.positions.push_back(static_cast<float>(p.sy * uy));
      mesh.positions.push_back(static_cast<float>(p.sz * uz));
      // The normal of the ellipsoid x²/a² + y²/b² + z²/c² = 1 is the gradient
      // (x/a², y/b², z/c²) = (ux/a, uy/b, uz/c).
      double nx = ux / p.sx;
      double ny = uy / p.sy;
      double nz = uz / p.sz;
      const double len = std::sqrt(nx * nx + ny * ny + nz * nz);
      nx /= len;
      ny /= len;
      nz /= len;
      mesh.normals.push_back(static_cast<float>(nx));
      mesh.normals.push_back(static_cast<float>(ny));
      mesh.normals.push_back(static_cast<float>(nz));
      mesh.uvs.push_back(static_cast<float>(static_cast<double>(j) / kSlices));
      mesh.uvs.push_back(static_cast<float>(static_cast<double>(i) / kStacks));
    }
  }
  mesh.indices.reserve(kSlices * (2 * kStacks - 2) * 3);
  const int row = kSlices + 1;
  for (int i = 0; i < kStacks; ++i) {
    for (int j = 0; j < kSlices; ++j) {
      const auto a = static_cast<uint16_t>(i * row + j);
      const auto b = static_cast<uint16_t>((i + 1) * row + j);
      const auto c = static_cast<uint16_t>((i + 1) * row + j + 1);
      const auto d = static_cast<uint16_t>(i * row + j + 1);
      // Skip the triangles that collapse to a line at the poles.
      if (i != kStacks - 1) mesh.indices.insert(mesh.indices.end(), {a, c, b});
      if (i != 0) mesh.indices.insert(mesh.indices.end(), {a, d, c});
    }
  }
  return mesh;
}

// Little-endian writers (glTF and STL are little-endian on every host).
void AppendU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

void AppendF32(std::string& out, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  AppendU32(out, bits);
}

void AppendU32BigEndian(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

void PadTo4(std::string& out, char pad) {
  while (out.size() % 4 != 0) out.push_back(pad);
}

uint8_t ToByte(double v) {
  return static_cast<uint8_t>(std::clamp(v, 0.0, 1.0) * 255.0 + 0.5);
}

void AppendPngChunk(std::string& out, const char type[4], const uint8_t* data,
                    size_t size) {
  AppendU32BigEndian(out, static_cast<uint32_t>(size));
  const size_t type_pos = out.size();
  out.append(type, 4);
  if (size > 0) out.append(reinterpret_cast<const char*>(data), size);
  const auto* crc_start = reinterpret_cast<const Bytef*>(out.data() + type_pos);
  const uLong crc =
      crc32(crc32(0L, Z_NULL, 0), crc_start, static_cast<uInt>(4 + size));
  AppendU32BigEndian(out, static_cast<uint32_t>(crc));
}

// Streams an 8-bit RGB PNG: the caller fills Row() and calls EndRow() once
// per row, top to bottom, then Finish(). Rows are compressed as they come,
// so memory use stays small even for 4096 x 4096 images.
class PngEncoder {
 public:
  PngEncoder(int width, int height)
      : width_(width),
        height_(height),
        row_(1 + 3 * static_cast<size_t>(width)) {
    row_[0] = 0;  // filter type: none
    // A guess at the compressed size that avoids most regrowth.
    idat_.reserve(row_.size() * static_cast<size_t>(height) / 16 + 1024);
    stream_.zalloc = Z_NULL;
    stream_.zfree = Z_NULL;
    stream_.opaque = Z_NULL;
    ok_ = deflateInit(&stream_, kPngCompressionLevel) == Z_OK;
  }
  ~PngEncoder() {
    if (ok_) deflateEnd(&stream_);
  }
  PngEncoder(const PngEncoder&) = delete;
  PngEncoder& operator=(const PngEncoder&) = delete;

  // The 3 * width bytes of the current row.
  uint8_t* Row() { return row_.data() + 1; }

  void EndRow() {
    if (rows_done_ < height_) Deflate(row_.data(), row_.size(), Z_NO_FLUSH);
    ++rows_done_;
  }

  // Returns the PNG file, or an empty string if zlib failed (out of memory)
  // or not every row was written.
  std::string Finish() {
    Deflate(nullptr, 0, Z_FINISH);
    if (!ok_ || rows_done_ != height_) return std::string();
    std::string png("\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13];
    for (int i = 0; i < 4; ++i) {
      const int shift = 24 - 8 * i;
      ihdr[i] = static_cast<uint8_t>(static_cast<uint32_t>(width_) >> shift);
      ihdr[4 + i] =
          static_cast<uint8_t>(static_cast<uint32_t>(height_) >> shift);
    }
    ihdr[8] = 8;   // bit depth
    ihdr[9] = 2;   // colour type: truecolour (RGB)
    ihdr[10] = 0;  // compression method: deflate
    ihdr[11] = 0;  // filter method: adaptive
    ihdr[12] = 0;  // interlace: none
    png.reserve(8 + 25 + 12 + idat_.size() + 12);
    AppendPngChunk(png, "IHDR", ihdr, sizeof(ihdr));
    AppendPngChunk(png, "IDAT", reinterpret_cast<const uint8_t*>(idat_.data()),
                   idat_.size());
    AppendPngChunk(png, "IEND", nullptr, 0);
    return png;
  }

 private:
  void Deflate(uint8_t* data, size_t size, int flush) {
    if (!ok_) return;
    stream_.next_in = data;
    stream_.avail_in = static_cast<uInt>(size);
    int rc;
    do {
      uint8_t out[16384];
      stream_.next_out = out;
      stream_.avail_out = sizeof(out);
      rc = deflate(&stream_, flush);
      if (rc == Z_STREAM_ERROR) {
        ok_ = false;
        return;
      }
      idat_.append(reinterpret_cast<const char*>(out),
                   sizeof(out) - stream_.avail_out);
    } while (stream_.avail_out == 0 ||
             (flush == Z_FINISH && rc != Z_STREAM_END));
  }

  int width_;
  int height_;
  int rows_done_ = 0;
  std::vector<uint8_t> row_;
  std::string idat_;
  z_stream stream_;
  bool ok_ = false;
};

// A light checker texture with thin grid lines; the material's
// baseColorFactor tints it.
std::string MakeCheckerPng() {
  PngEncoder png(kTextureSize, kTextureSize);
  for (int y = 0; y < kTextureSize; ++y) {
    uint8_t* out = png.Row();
    for (int x = 0; x < kTextureSize; ++x) {
      const bool dark = ((x / 32) + (y / 32)) % 2 == 1;
      const bool line = (x % 32 == 0) || (y % 32 == 0);
      const uint8_t v = line ? 150 : (dark ? 205 : 255);
      *out++ = v;
      *out++ = v;
      *out++ = v;
    }
    png.EndRow();
  }
  return png.Finish();
}

// The texture is the same for every seed, so it is made once.
const std::string& TexturePng() {
  static const std::string* const kPng = new std::string(MakeCheckerPng());
  return *kPng;
}

// Starts an accessor object in the glTF JSON and writes its common fields.
// The caller may add more (min, max) and must end the object.
void WriteAccessor(rapidjson::Writer<rapidjson::StringBuffer>& w,
                   int buffer_view, int component_type, size_t count,
                   const char* type) {
  w.StartObject();
  w.Key("bufferView");
  w.Int(buffer_view);
  w.Key("componentType");
  w.Int(component_type);
  w.Key("count");
  w.Uint64(count);
  w.Key("type");
  w.String(type);
}

// Accessor indices in the glTF JSON. TEXCOORD_0 exists only when textured.
constexpr int kPositionAccessor = 0;
constexpr int kNormalAccessor = 1;
constexpr int kIndexAccessor = 2;
constexpr int kTexcoordAccessor = 3;

struct BufferView {
  size_t offset;
  size_t length;
  int target;  // 0 when the view has no target (images)
};

}  // namespace

std::string MakeGlb(uint64_t seed, bool textured) {
  const ShapeParams params = ParamsFromSeed(seed);
  const Mesh mesh = BuildMesh(params);
  const size_t vertex_count = mesh.VertexCount();

  // Binary chunk: every section starts at a multiple of 4 bytes.
  std::string bin;
  bin.reserve(vertex_count * 32 + mesh.indices.size() * 2 +
              (textured ? TexturePng().size() + 16 : 0));
  std::vector<BufferView> views;
  auto begin_view = [&](int target) {
    PadTo4(bin, '\0');
    views.push_back({bin.size(), 0, target});
  };
  auto end_view = [&]() {
    views.back().length = bin.size() - views.back().offset;
  };

  begin_view(kGlArrayBuffer);
  for (float f : mesh.positions) AppendF32(bin, f);
  end_view();
  const int position_view = 0;

  begin_view(kGlArrayBuffer);
  for (float f : mesh.normals) AppendF32(bin, f);
  end_view();
  const int normal_view = 1;

  begin_view(kGlElementArrayBuffer);
  for (uint16_t i : mesh.indices) AppendU16(bin, i);
  end_view();
  const int index_view = static_cast<int>(views.size()) - 1;

  int uv_view = -1;
  int image_view = -1;
  if (textured) {
    begin_view(kGlArrayBuffer);
    for (float f : mesh.uvs) AppendF32(bin, f);
    end_view();
    uv_view = static_cast<int>(views.size()) - 1;

    begin_view(0);  // images take no target
    bin.append(TexturePng());
    end_view();
    image_view = static_cast<int>(views.size()) - 1;
  }
  PadTo4(bin, '\0');

  std::array<float, 3> min_pos = {mesh.positions[0], mesh.positions[1],
                                  mesh.positions[2]};
  std::array<float, 3> max_pos = min_pos;
  for (size_t v = 0; v < vertex_count; ++v) {
    for (int k = 0; k < 3; ++k) {
      const float f = mesh.positions[v * 3 + k];
      min_pos[k] = std::min(min_pos[k], f);
      max_pos[k] = std::max(max_pos[k], f);
    }
  }

  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();

  w.Key("asset");
  w.StartObject();
  w.Key("version");
  w.String("2.0");
  w.Key("generator");
  w.String(kGenerator);
  w.EndObject();

  w.Key("scene");
  w.Int(0);
  w.Key("scenes");
  w.StartArray();
  w.StartObject();
  w.Key("nodes");
  w.StartArray();
  w.Int(0);
  w.EndArray();
  w.EndObject();
  w.EndArray();

  w.Key("nodes");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  w.String("triverse");
  w.Key("mesh");
  w.Int(0);
  w.EndObject();
  w.EndArray();

  w.Key("meshes");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  w.String("triverse");
  w.Key("primitives");
  w.StartArray();
  w.StartObject();
  w.Key("attributes");
  w.StartObject();
  w.Key("POSITION");
  w.Int(kPositionAccessor);
  w.Key("NORMAL");
  w.Int(kNormalAccessor);
  if (textured) {
    w.Key("TEXCOORD_0");
    w.Int(kTexcoordAccessor);
  }
  w.EndObject();
  w.Key("indices");
  w.Int(kIndexAccessor);
  w.Key("material");
  w.Int(0);
  w.Key("mode");
  w.Int(4);  // TRIANGLES
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndArray();

  w.Key("materials");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  w.String("triverse");
  w.Key("pbrMetallicRoughness");
  w.StartObject();
  // glTF colour factors are linear; the seed colour is sRGB as in MakePng.
  w.Key("baseColorFactor");
  w.StartArray();
  w.Double(SrgbToLinear(params.color.r));
  w.Double(SrgbToLinear(params.color.g));
  w.Double(SrgbToLinear(params.color.b));
  w.Double(1.0);
  w.EndArray();
  if (textured) {
    w.Key("baseColorTexture");
    w.StartObject();
    w.Key("index");
    w.Int(0);
    w.Key("texCoord");
    w.Int(0);
    w.EndObject();
  }
  w.Key("metallicFactor");
  w.Double(0.0);
  w.Key("roughnessFactor");
  w.Double(0.6);
  w.EndObject();
  w.EndObject();
  w.EndArray();

  if (textured) {
    w.Key("samplers");
    w.StartArray();
    w.StartObject();
    w.Key("magFilter");
    w.Int(kGlLinear);
    w.Key("minFilter");
    w.Int(kGlLinearMipmapLinear);
    w.Key("wrapS");
    w.Int(kGlRepeat);
    w.Key("wrapT");
    w.Int(kGlRepeat);
    w.EndObject();
    w.EndArray();

    w.Key("images");
    w.StartArray();
    w.StartObject();
    w.Key("bufferView");
    w.Int(image_view);
    w.Key("mimeType");
    w.String("image/png");
    w.EndObject();
    w.EndArray();

    w.Key("textures");
    w.StartArray();
    w.StartObject();
    w.Key("sampler");
    w.Int(0);
    w.Key("source");
    w.Int(0);
    w.EndObject();
    w.EndArray();
  }

  // In the order of the k*Accessor constants.
  w.Key("accessors");
  w.StartArray();
  WriteAccessor(w, position_view, kGlFloat, vertex_count, "VEC3");
  w.Key("min");
  w.StartArray();
  for (float f : min_pos) w.Double(f);
  w.EndArray();
  w.Key("max");
  w.StartArray();
  for (float f : max_pos) w.Double(f);
  w.EndArray();
  w.EndObject();
  WriteAccessor(w, normal_view, kGlFloat, vertex_count, "VEC3");
  w.EndObject();
  WriteAccessor(w, index_view, kGlUnsignedShort, mesh.indices.size(), "SCALAR");
  w.EndObject();
  if (textured) {
    WriteAccessor(w, uv_view, kGlFloat, vertex_count, "VEC2");
    w.EndObject();
  }
  w.EndArray();

  w.Key("bufferViews");
  w.StartArray();
  for (const BufferView& view : views) {
    w.StartObject();
    w.Key("buffer");
    w.Int(0);
    w.Key("byteOffset");
    w.Uint64(view.offset);
    w.Key("byteLength");
    w.Uint64(view.length);
    if (view.target != 0) {
      w.Key("target");
      w.Int(view.target);
    }
    w.EndObject();
  }
  w.EndArray();

  w.Key("buffers");
  w.StartArray();
  w.StartObject();
  w.Key("byteLength");
  w.Uint64(bin.size());
  w.EndObject();
  w.EndArray();

  w.EndObject();

  std::string json(sb.GetString(), sb.GetSize());
  PadTo4(json, ' ');

  const size_t total = 12 + 8 + json.size() + 8 + bin.size();
  std::string glb;
  glb.reserve(total);
  AppendU32(glb, kGlbMagic);
  AppendU32(glb, 2);
  AppendU32(glb, static_cast<uint32_t>(total));
  AppendU32(glb, static_cast<uint32_t>(json.size()));
  AppendU32(glb, kChunkJson);
  glb.append(json);
  AppendU32(glb, static_cast<uint32_t>(bin.size()));
  AppendU32(glb, kChunkBin);
  glb.append(bin);
  return glb;
}

std::string MakePng(uint64_t seed, int width, int height) {
  width = std::clamp(width, 1, kMaxImageDim);
  height = std::clamp(height, 1, kMaxImageDim);
  const ShapeParams params = ParamsFromSeed(seed);
  const Rgb& base = params.color;
  // Background: very light, with a faint hint of the shape's hue.
  const Rgb bg = {0.92 + 0.06 * base.r, 0.92 + 0.06 * base.g,
                  0.92 + 0.06 * base.b};
  const std::array<uint8_t, 3> bg_px = {ToByte(bg.r), ToByte(bg.g),
                                        ToByte(bg.b)};

  // Orthographic view along -Z of the ellipsoid, which fills ~80% of the
  // shorter image side.
  const double half_extent = 1.25 * std::max(params.sx, params.sy);
  const double pixel = 2.0 * half_extent / std::min(width, height);
  // Light from the upper left, in front of the viewer (unit vector).
  const double l_len = std::sqrt(0.45 * 0.45 + 0.6 * 0.6 + 0.66 * 0.66);
  const float lx = static_cast<float>(-0.45 / l_len);
  const float ly = static_cast<float>(0.6 / l_len);
  const float lz = static_cast<float>(0.66 / l_len);
  const auto inv_a2 = static_cast<float>(1.0 / (params.sx * params.sx));
  const auto inv_b2 = static_cast<float>(1.0 / (params.sy * params.sy));
  const auto inv_c = static_cast<float>(1.0 / params.sz);
  // Shape colour scaled to bytes (shade <= 1; the clamps below only catch
  // rounding).
  const auto base_r = static_cast<float>(base.r * 255.0);
  const auto base_g = static_cast<float>(base.g * 255.0);
  const auto base_b = static_cast<float>(base.b * 255.0);

  std::vector<uint8_t> bg_row(3 * static_cast<size_t>(width));
  for (size_t i = 0; i < bg_row.size(); ++i) bg_row[i] = bg_px[i % 3];

  PngEncoder png(width, height);
  for (int py = 0; py < height; ++py) {
    uint8_t* row = png.Row();
    std::memcpy(row, bg_row.data(), bg_row.size());
    const auto y = static_cast<float>((0.5 * height - (py + 0.5)) * pixel);
    const float y_term = 1.0f - y * y * inv_b2;
    if (y_term > 0.0f) {
      // Columns that may cover the shape, with a pixel of slack each side;
      // the test on q below decides.
      const double half_px = params.sx * std::sqrt(y_term) / pixel;
      const int lo = std::max(0, static_cast<int>(0.5 * width - half_px) - 1);
      const int hi =
          std::min(width, static_cast<int>(0.5 * width + half_px) + 2);
      const float ny = y * inv_b2;
      const float ny_light = ny * ly;
      const float ny2 = ny * ny;
      for (int px = lo; px < hi; ++px) {
        const auto x = static_cast<float>(((px + 0.5) - 0.5 * width) * pixel);
        const float q = y_term - x * x * inv_a2;
        if (q <= 0.0f) continue;
        const float nx = x * inv_a2;
        const float nz = std::sqrt(q) * inv_c;
        const float n_len = std::sqrt(nx * nx + ny2 + nz * nz);
        const float lambert =
            std::max(0.0f, (nx * lx + ny_light + nz * lz) / n_len);
        const float shade = 0.22f + 0.78f * lambert;
        uint8_t* out = row + 3 * static_cast<size_t>(px);
        out[0] = static_cast<uint8_t>(std::min(255.0f, base_r * shade + 0.5f));
        out[1] = static_cast<uint8_t>(std::min(255.0f, base_g * shade + 0.5f));
        out[2] = static_cast<uint8_t>(std::min(255.0f, base_b * shade + 0.5f));
      }
    }
    png.EndRow();
  }
  return png.Finish();
}

std::string MakeObj(uint64_t seed) {
  const Mesh mesh = BuildMesh(ParamsFromSeed(seed));
  std::string out;
  out.reserve(mesh.VertexCount() * 64 + mesh.TriangleCount() * 40);
  char line[128];
  std::snprintf(line, sizeof(line), "# %s seed %llu\no triverse\n", kGenerator,
                static_cast<unsigned long long>(seed));
  out.append(line);
  for (size_t v = 0; v < mesh.VertexCount(); ++v) {
    const float* p = &mesh.positions[v * 3];
    const int n = std::snprintf(line, sizeof(line), "v %.6f %.6f %.6f\n", p[0],
                                p[1], p[2]);
    out.append(line, static_cast<size_t>(n));
  }
  for (size_t v = 0; v < mesh.VertexCount(); ++v) {
    const float* p = &mesh.normals[v * 3];
    const int n = std::snprintf(line, sizeof(line), "vn %.6f %.6f %.6f\n", p[0],
                                p[1], p[2]);
    out.append(line, static_cast<size_t>(n));
  }
  for (size_t t = 0; t < mesh.TriangleCount(); ++t) {
    const unsigned a = mesh.indices[t * 3] + 1u;
    const unsigned b = mesh.indices[t * 3 + 1] + 1u;
    const unsigned c = mesh.indices[t * 3 + 2] + 1u;
    const int n = std::snprintf(line, sizeof(line), "f %u//%u %u//%u %u//%u\n",
                                a, a, b, b, c, c);
    out.append(line, static_cast<size_t>(n));
  }
  return out;
}

std::string MakeStl(uint64_t seed) {
  const Mesh mesh = BuildMesh(ParamsFromSeed(seed));
  std::string out;
  out.reserve(84 + 50 * mesh.TriangleCount());
  // The header must not begin with "solid", which marks ASCII STL.
  std::string header = std::string(kGenerator) + " binary STL";
  header.resize(80, ' ');
  out.append(header);
  AppendU32(out, static_cast<uint32_t>(mesh.TriangleCount()));
  for (size_t t = 0; t < mesh.TriangleCount(); ++t) {
    const float* v[3];
    for (int k = 0; k < 3; ++k) {
      v[k] = &mesh.positions[static_cast<size_t>(mesh.indices[t * 3 + k]) * 3];
    }
    const double e1[3] = {v[1][0] - v[0][0], v[1][1] - v[0][1],
                          v[1][2] - v[0][2]};
    const double e2[3] = {v[2][0] - v[0][0], v[2][1] - v[0][1],
                          v[2][2] - v[0][2]};
    double n[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                   e1[0] * e2[1] - e1[1] * e2[0]};
    const double len = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    for (double& c : n) c = len > 0.0 ? c / len : 0.0;
    for (double c : n) AppendF32(out, static_cast<float>(c));
    for (const float* p : v) {
      for (int k = 0; k < 3; ++k) AppendF32(out, p[k]);
    }
    AppendU16(out, 0);  // attribute byte count
  }
  return out;
}

}  // namespace triverse::emulator
