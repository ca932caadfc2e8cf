#include "emulator/assets.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "rapidjson/document.h"

namespace triverse::emulator {
namespace {

constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";
constexpr uint64_t kSeeds[] = {0, 1, 42, 0xDEADBEEFCAFEF00DULL, UINT64_MAX};

uint32_t U32Le(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(s[pos + i]);
  }
  return v;
}

uint32_t U32Be(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[pos + i]);
  return v;
}

uint16_t U16Le(const std::string& s, size_t pos) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[pos]) |
                               (static_cast<uint8_t>(s[pos + 1]) << 8));
}

float F32Le(const std::string& s, size_t pos) {
  const uint32_t bits = U32Le(s, pos);
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// ---------------------------------------------------------------------------
// PNG

struct DecodedPng {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3, unfiltered
};

uint8_t Paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  if (pb <= pc) return static_cast<uint8_t>(b);
  return static_cast<uint8_t>(c);
}

// Checks the structure of an 8-bit RGB PNG (signature, chunk CRCs, IHDR
// fields, IDAT size after inflating) and decodes its pixels.
void CheckAndDecodePng(const std::string& png, DecodedPng* out) {
  ASSERT_GE(png.size(), 8u + 25u + 12u + 12u);
  ASSERT_EQ(png.compare(0, 8, kPngSignature, 8), 0) << "bad PNG signature";

  std::vector<std::string> types;
  std::string idat;
  size_t pos = 8;
  while (pos < png.size()) {
    ASSERT_LE(pos + 12, png.size()) << "truncated chunk at " << pos;
    const uint32_t length = U32Be(png, pos);
    ASSERT_LE(pos + 12 + length, png.size()) << "chunk overruns file";
    const std::string type = png.substr(pos + 4, 4);
    const std::string data = png.substr(pos + 8, length);
    const uint32_t stored_crc = U32Be(png, pos + 8 + length);
    const uLong crc =
        crc32(crc32(0L, Z_NULL, 0),
              reinterpret_cast<const Bytef*>(png.data() + pos + 4), 4 + length);
    EXPECT_EQ(stored_crc, static_cast<uint32_t>(crc)) << "CRC of " << type;
    if (types.empty()) {
      ASSERT_EQ(type, "IHDR") << "first chunk must be IHDR";
      ASSERT_EQ(length, 13u);
      out->width = U32Be(data, 0);
      out->height = U32Be(data, 4);
      EXPECT_EQ(data[8], 8) << "bit depth";
      EXPECT_EQ(data[9], 2) << "colour type";
      EXPECT_EQ(data[10], 0) << "compression method";
      EXPECT_EQ(data[11], 0) << "filter method";
      EXPECT_EQ(data[12], 0) << "interlace method";
    }
    if (type == "IDAT") idat += data;
    types.push_back(type);
    pos += 12 + length;
  }
  ASSERT_EQ(pos, png.size());
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), "IEND");
  ASSERT_FALSE(idat.empty()) << "no IDAT chunk";
  ASSERT_GE(out->width, 1u);
  ASSERT_GE(out->height, 1u);

  const size_t stride = 1 + 3 * static_cast<size_t>(out->width);
  const size_t expected = out->height * stride;
  // One spare byte shows whether the stream holds more than expected.
  std::vector<uint8_t> raw(expected + 1);
  uLongf raw_size = raw.size();
  ASSERT_EQ(
      uncompress(raw.data(), &raw_size,
                 reinterpret_cast<const Bytef*>(idat.data()), idat.size()),
      Z_OK);
  ASSERT_EQ(raw_size, expected);

  out->rgb.assign(out->width * out->height * 3, 0);
  const size_t row_bytes = 3 * static_cast<size_t>(out->width);
  for (size_t y = 0; y < out->height; ++y) {
    const uint8_t filter = raw[y * stride];
    ASSERT_LE(filter, 4) << "row " << y;
    const uint8_t* in = &raw[y * stride + 1];
    uint8_t* row = &out->rgb[y * row_bytes];
    const uint8_t* prev = y > 0 ? row - row_bytes : nullptr;
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= 3 ? row[i - 3] : 0;
      const int b = prev ? prev[i] : 0;
      const int c = (prev && i >= 3) ? prev[i - 3] : 0;
      int predictor = 0;
      switch (filter) {
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) / 2;
          break;
        case 4:
          predictor = Paeth(a, b, c);
          break;
        default:
          break;
      }
      row[i] = static_cast<uint8_t>(in[i] + predictor);
    }
  }
}

std::array<uint8_t, 3> PixelAt(const DecodedPng& png, uint32_t x, uint32_t y) {
  const size_t i = (static_cast<size_t>(y) * png.width + x) * 3;
  return {png.rgb[i], png.rgb[i + 1], png.rgb[i + 2]};
}

TEST(MakePngTest, IsValidRgbPngOfRequestedSize) {
  for (uint64_t seed : kSeeds) {
    for (auto [w, h] : std::vector<std::pair<int, int>>{
             {256, 256}, {512, 384}, {37, 91}, {1, 1}, {3, 1000}}) {
      SCOPED_TRACE(::testing::Message()
                   << "seed " << seed << " size " << w << "x" << h);
      DecodedPng png;
      ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(MakePng(seed, w, h), &png));
      EXPECT_EQ(png.width, static_cast<uint32_t>(w));
      EXPECT_EQ(png.height, static_cast<uint32_t>(h));
    }
  }
}

TEST(MakePngTest, ClampsDimensions) {
  DecodedPng png;
  ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(MakePng(7, 0, -5), &png));
  EXPECT_EQ(png.width, 1u);
  EXPECT_EQ(png.height, 1u);
  ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(MakePng(7, 5000, 2), &png));
  EXPECT_EQ(png.width, 4096u);
  EXPECT_EQ(png.height, 2u);
}

TEST(MakePngTest, ShowsShadedShapeOnLightBackground) {
  DecodedPng png;
  ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(MakePng(42, 200, 160), &png));
  const auto corner = PixelAt(png, 0, 0);
  for (uint8_t c : corner) EXPECT_GE(c, 200) << "background should be light";
  EXPECT_EQ(PixelAt(png, 199, 159), corner);
  const auto center = PixelAt(png, 100, 80);
  EXPECT_NE(center, corner) << "no shape in the middle of the image";
  // Lambert shading lit from the upper left: the upper-left part of the shape
  // is brighter than the lower-right part.
  const auto lit = PixelAt(png, 85, 65);
  const auto shadow = PixelAt(png, 125, 105);
  EXPECT_GT(lit[0] + lit[1] + lit[2], shadow[0] + shadow[1] + shadow[2]);
}

TEST(MakePngTest, TintDependsOnSeed) {
  DecodedPng a, b;
  ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(MakePng(1, 64, 64), &a));
  ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(MakePng(2, 64, 64), &b));
  EXPECT_NE(PixelAt(a, 32, 32), PixelAt(b, 32, 32));
}

// ---------------------------------------------------------------------------
// GLB

struct Glb {
  rapidjson::Document json;
  std::string bin;
};

// Checks the GLB container (header, chunk types, lengths and alignment) and
// parses the JSON chunk.
void ParseGlb(const std::string& glb, Glb* out) {
  ASSERT_GE(glb.size(), 28u);
  EXPECT_EQ(glb.compare(0, 4, "glTF"), 0) << "magic";
  EXPECT_EQ(U32Le(glb, 4), 2u) << "version";
  ASSERT_EQ(U32Le(glb, 8), glb.size()) << "header length";
  EXPECT_EQ(glb.size() % 4, 0u);

  const uint32_t json_length = U32Le(glb, 12);
  EXPECT_EQ(glb.compare(16, 4, "JSON"), 0) << "first chunk type";
  EXPECT_EQ(json_length % 4, 0u) << "JSON chunk must be 4-byte aligned";
  ASSERT_LE(20u + json_length + 8u, glb.size());
  const std::string json = glb.substr(20, json_length);
  // JSON padding must be spaces (0x20); a NUL would end the text early for
  // many parsers.
  EXPECT_EQ(json.find('\0'), std::string::npos) << "NUL in JSON chunk";
  const size_t json_end = json.find_last_of('}');
  ASSERT_NE(json_end, std::string::npos);
  EXPECT_EQ(json.find_first_not_of(' ', json_end + 1), std::string::npos)
      << "JSON padding is not spaces";
  EXPECT_LT(json.size() - json_end - 1, 4u) << "more padding than needed";
  // Padding is spaces, which JSON allows as trailing whitespace.
  out->json.Parse(json.data(), json.size());
  ASSERT_FALSE(out->json.HasParseError())
      << "JSON parse error at " << out->json.GetErrorOffset();
  ASSERT_TRUE(out->json.IsObject());

  const size_t bin_header = 20 + json_length;
  const uint32_t bin_length = U32Le(glb, bin_header);
  EXPECT_EQ(glb.compare(bin_header + 4, 4, std::string("BIN\0", 4)), 0)
      << "second chunk type";
  EXPECT_EQ(bin_length % 4, 0u) << "BIN chunk must be 4-byte aligned";
  ASSERT_EQ(bin_header + 8 + bin_length, glb.size())
      << "chunks must fill the file exactly";
  out->bin = glb.substr(bin_header + 8, bin_length);
}

int ComponentCount(const std::string& type) {
  if (type == "SCALAR") return 1;
  if (type == "VEC2") return 2;
  if (type == "VEC3") return 3;
  if (type == "VEC4") return 4;
  return 0;
}

int ComponentSize(int component_type) {
  switch (component_type) {
    case 5120:  // BYTE
    case 5121:  // UNSIGNED_BYTE
      return 1;
    case 5122:  // SHORT
    case 5123:  // UNSIGNED_SHORT
      return 2;
    case 5125:  // UNSIGNED_INT
    case 5126:  // FLOAT
      return 4;
    default:
      return 0;
  }
}

// The bytes of one accessor, tightly packed (no byteStride is used).
struct AccessorData {
  int component_type = 0;
  int components = 0;
  size_t count = 0;
  size_t offset = 0;  // into the BIN chunk
};

void CheckAccessor(const Glb& glb, int index, AccessorData* out) {
  const auto& accessors = glb.json["accessors"];
  ASSERT_TRUE(accessors.IsArray());
  ASSERT_LT(static_cast<rapidjson::SizeType>(index), accessors.Size());
  const auto& acc = accessors[index];
  ASSERT_TRUE(acc.HasMember("bufferView"));
  ASSERT_TRUE(acc["componentType"].IsInt());
  ASSERT_TRUE(acc["count"].IsUint64());
  ASSERT_TRUE(acc["type"].IsString());
  out->component_type = acc["componentType"].GetInt();
  out->components = ComponentCount(acc["type"].GetString());
  out->count = acc["count"].GetUint64();
  const int size = ComponentSize(out->component_type);
  ASSERT_GT(size, 0) << "unknown componentType";
  ASSERT_GT(out->components, 0) << "unknown type";
  ASSERT_GT(out->count, 0u);

  const auto& views = glb.json["bufferViews"];
  const int view_index = acc["bufferView"].GetInt();
  ASSERT_GE(view_index, 0);
  ASSERT_LT(static_cast<rapidjson::SizeType>(view_index), views.Size());
  const auto& view = views[view_index];
  EXPECT_EQ(view["buffer"].GetInt(), 0);
  const size_t view_offset =
      view.HasMember("byteOffset") ? view["byteOffset"].GetUint64() : 0;
  const size_t view_length = view["byteLength"].GetUint64();
  EXPECT_EQ(view_offset % 4, 0u) << "bufferView " << view_index;
  ASSERT_LE(view_offset + view_length, glb.bin.size())
      << "bufferView " << view_index << " overruns BIN chunk";
  EXPECT_FALSE(view.HasMember("byteStride"));
  ASSERT_TRUE(view.HasMember("target")) << "vertex/index views need a target";

  const size_t acc_offset =
      acc.HasMember("byteOffset") ? acc["byteOffset"].GetUint64() : 0;
  EXPECT_EQ(acc_offset % size, 0u);
  const size_t bytes = out->count * out->components * size;
  ASSERT_LE(acc_offset + bytes, view_length)
      << "accessor " << index << " overruns its bufferView";
  out->offset = view_offset + acc_offset;
}

float FloatAt(const Glb& glb, const AccessorData& acc, size_t element,
              int component) {
  return F32Le(glb.bin,
               acc.offset + (element * acc.components + component) * 4);
}

uint32_t IndexAt(const Glb& glb, const AccessorData& acc, size_t i) {
  return acc.component_type == 5123 ? U16Le(glb.bin, acc.offset + i * 2)
                                    : U32Le(glb.bin, acc.offset + i * 4);
}

// Everything a GLB from MakeGlb must satisfy, textured or not.
void CheckMeshGlb(const std::string& bytes, bool textured, Glb* glb) {
  ASSERT_NO_FATAL_FAILURE(ParseGlb(bytes, glb));
  const auto& doc = glb->json;

  ASSERT_TRUE(doc.HasMember("asset"));
  EXPECT_STREQ(doc["asset"]["version"].GetString(), "2.0");
  EXPECT_STREQ(doc["asset"]["generator"].GetString(), "triverse-emulator");

  ASSERT_TRUE(doc.HasMember("buffers"));
  ASSERT_EQ(doc["buffers"].Size(), 1u);
  EXPECT_FALSE(doc["buffers"][0].HasMember("uri"));
  const uint64_t buffer_length = doc["buffers"][0]["byteLength"].GetUint64();
  EXPECT_LE(buffer_length, glb->bin.size());
  EXPECT_GE(buffer_length + 3, glb->bin.size());

  // The default scene shows the mesh.
  const int scene = doc["scene"].GetInt();
  const auto& node_index = doc["scenes"][scene]["nodes"][0];
  EXPECT_EQ(doc["nodes"][node_index.GetInt()]["mesh"].GetInt(), 0);

  ASSERT_EQ(doc["meshes"].Size(), 1u);
  const auto& prim = doc["meshes"][0]["primitives"][0];
  const auto& attrs = prim["attributes"];
  ASSERT_TRUE(attrs.HasMember("POSITION"));
  ASSERT_TRUE(attrs.HasMember("NORMAL"));
  ASSERT_TRUE(prim.HasMember("indices"));
  EXPECT_EQ(attrs.HasMember("TEXCOORD_0"), textured);
  if (prim.HasMember("mode")) {
    EXPECT_EQ(prim["mode"].GetInt(), 4);
  }

  AccessorData pos, nrm, idx;
  ASSERT_NO_FATAL_FAILURE(
      CheckAccessor(*glb, attrs["POSITION"].GetInt(), &pos));
  ASSERT_NO_FATAL_FAILURE(CheckAccessor(*glb, attrs["NORMAL"].GetInt(), &nrm));
  ASSERT_NO_FATAL_FAILURE(CheckAccessor(*glb, prim["indices"].GetInt(), &idx));
  EXPECT_EQ(pos.component_type, 5126);
  EXPECT_EQ(pos.components, 3);
  EXPECT_EQ(nrm.component_type, 5126);
  EXPECT_EQ(nrm.components, 3);
  EXPECT_EQ(nrm.count, pos.count);
  EXPECT_TRUE(idx.component_type == 5123 || idx.component_type == 5125);
  EXPECT_EQ(idx.components, 1);
  EXPECT_EQ(idx.count % 3, 0u);
  EXPECT_GE(pos.count, 500u);
  EXPECT_LE(pos.count, 2000u);

  const auto& views = doc["bufferViews"];
  const auto& acc_json = doc["accessors"];
  EXPECT_EQ(views[acc_json[attrs["POSITION"].GetInt()]["bufferView"].GetInt()]
                 ["target"]
                     .GetInt(),
            34962);
  EXPECT_EQ(
      views[acc_json[prim["indices"].GetInt()]["bufferView"].GetInt()]["target"]
          .GetInt(),
      34963);

  // POSITION min/max are required and must be the exact bounds of the data.
  const auto& pos_json = acc_json[attrs["POSITION"].GetInt()];
  ASSERT_TRUE(pos_json.HasMember("min"));
  ASSERT_TRUE(pos_json.HasMember("max"));
  ASSERT_EQ(pos_json["min"].Size(), 3u);
  ASSERT_EQ(pos_json["max"].Size(), 3u);
  for (int k = 0; k < 3; ++k) {
    float lo = FloatAt(*glb, pos, 0, k);
    float hi = lo;
    for (size_t v = 0; v < pos.count; ++v) {
      const float f = FloatAt(*glb, pos, v, k);
      ASSERT_TRUE(std::isfinite(f));
      lo = std::min(lo, f);
      hi = std::max(hi, f);
    }
    EXPECT_EQ(static_cast<float>(pos_json["min"][k].GetDouble()), lo) << k;
    EXPECT_EQ(static_cast<float>(pos_json["max"][k].GetDouble()), hi) << k;
    // A slightly squashed or stretched unit sphere.
    EXPECT_GT(hi, 0.5f);
    EXPECT_LT(hi, 1.5f);
    EXPECT_LT(lo, -0.5f);
    EXPECT_GT(lo, -1.5f);
  }

  for (size_t v = 0; v < nrm.count; ++v) {
    const float x = FloatAt(*glb, nrm, v, 0);
    const float y = FloatAt(*glb, nrm, v, 1);
    const float z = FloatAt(*glb, nrm, v, 2);
    ASSERT_NEAR(std::sqrt(x * x + y * y + z * z), 1.0f, 1e-4f)
        << "normal " << v;
  }

  // Every index is in range and every triangle faces outwards (the shape is
  // convex around the origin) and has non-zero area.
  for (size_t t = 0; t < idx.count / 3; ++t) {
    std::array<std::array<float, 3>, 3> p;
    for (int k = 0; k < 3; ++k) {
      const uint32_t i = IndexAt(*glb, idx, t * 3 + k);
      ASSERT_LT(i, pos.count) << "triangle " << t;
      for (int c = 0; c < 3; ++c) p[k][c] = FloatAt(*glb, pos, i, c);
    }
    const float e1[3] = {p[1][0] - p[0][0], p[1][1] - p[0][1],
                         p[1][2] - p[0][2]};
    const float e2[3] = {p[2][0] - p[0][0], p[2][1] - p[0][1],
                         p[2][2] - p[0][2]};
    const float n[3] = {e1[1] * e2[2] - e1[2] * e2[1],
                        e1[2] * e2[0] - e1[0] * e2[2],
                        e1[0] * e2[1] - e1[1] * e2[0]};
    float dot = 0;
    for (int c = 0; c < 3; ++c) dot += n[c] * (p[0][c] + p[1][c] + p[2][c]);
    ASSERT_GT(dot, 0.0f) << "triangle " << t
                         << " faces inwards or is degenerate";
  }

  // Material with a base colour.
  const int material = prim["material"].GetInt();
  const auto& pbr = doc["materials"][material]["pbrMetallicRoughness"];
  ASSERT_TRUE(pbr.HasMember("baseColorFactor"));
  ASSERT_EQ(pbr["baseColorFactor"].Size(), 4u);
  for (const auto& c : pbr["baseColorFactor"].GetArray()) {
    EXPECT_GE(c.GetDouble(), 0.0);
    EXPECT_LE(c.GetDouble(), 1.0);
  }
  EXPECT_EQ(pbr.HasMember("baseColorTexture"), textured);
}

TEST(MakeGlbTest, UntexturedIsValid) {
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Glb glb;
    ASSERT_NO_FATAL_FAILURE(CheckMeshGlb(MakeGlb(seed, false), false, &glb));
    EXPECT_FALSE(glb.json.HasMember("images"));
    EXPECT_FALSE(glb.json.HasMember("textures"));
  }
}

TEST(MakeGlbTest, TexturedHasUvsAndEmbeddedPng) {
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Glb glb;
    ASSERT_NO_FATAL_FAILURE(CheckMeshGlb(MakeGlb(seed, true), true, &glb));
    const auto& doc = glb.json;
    const auto& prim = doc["meshes"][0]["primitives"][0];

    AccessorData uv, pos;
    ASSERT_NO_FATAL_FAILURE(
        CheckAccessor(glb, prim["attributes"]["TEXCOORD_0"].GetInt(), &uv));
    ASSERT_NO_FATAL_FAILURE(
        CheckAccessor(glb, prim["attributes"]["POSITION"].GetInt(), &pos));
    EXPECT_EQ(uv.component_type, 5126);
    EXPECT_EQ(uv.components, 2);
    EXPECT_EQ(uv.count, pos.count);
    for (size_t v = 0; v < uv.count; ++v) {
      for (int c = 0; c < 2; ++c) {
        const float f = FloatAt(glb, uv, v, c);
        ASSERT_GE(f, 0.0f);
        ASSERT_LE(f, 1.0f);
      }
    }

    // material -> texture -> sampler + image -> bufferView -> PNG bytes.
    const auto& pbr =
        doc["materials"][prim["material"].GetInt()]["pbrMetallicRoughness"];
    const int texture = pbr["baseColorTexture"]["index"].GetInt();
    ASSERT_TRUE(doc.HasMember("textures"));
    ASSERT_LT(static_cast<rapidjson::SizeType>(texture),
              doc["textures"].Size());
    const auto& tex = doc["textures"][texture];
    ASSERT_TRUE(tex.HasMember("sampler"));
    ASSERT_LT(static_cast<rapidjson::SizeType>(tex["sampler"].GetInt()),
              doc["samplers"].Size());
    const int image = tex["source"].GetInt();
    ASSERT_LT(static_cast<rapidjson::SizeType>(image), doc["images"].Size());
    const auto& img = doc["images"][image];
    EXPECT_STREQ(img["mimeType"].GetString(), "image/png");
    EXPECT_FALSE(img.HasMember("uri"));
    const auto& view = doc["bufferViews"][img["bufferView"].GetInt()];
    const size_t offset =
        view.HasMember("byteOffset") ? view["byteOffset"].GetUint64() : 0;
    const size_t length = view["byteLength"].GetUint64();
    EXPECT_EQ(offset % 4, 0u);
    EXPECT_FALSE(view.HasMember("target")) << "image views have no target";
    ASSERT_LE(offset + length, glb.bin.size());
    const std::string png = glb.bin.substr(offset, length);
    ASSERT_EQ(png.compare(0, 8, kPngSignature, 8), 0);
    DecodedPng decoded;
    ASSERT_NO_FATAL_FAILURE(CheckAndDecodePng(png, &decoded));
    EXPECT_GE(decoded.width, 16u);
    EXPECT_GE(decoded.height, 16u);
  }
}

TEST(MakeGlbTest, ShapeAndColourDependOnSeed) {
  Glb a, b;
  ASSERT_NO_FATAL_FAILURE(ParseGlb(MakeGlb(1, false), &a));
  ASSERT_NO_FATAL_FAILURE(ParseGlb(MakeGlb(2, false), &b));
  auto max_of = [](const Glb& g) {
    const auto& prim = g.json["meshes"][0]["primitives"][0];
    const auto& acc =
        g.json["accessors"][prim["attributes"]["POSITION"].GetInt()];
    return std::array<double, 3>{acc["max"][0].GetDouble(),
                                 acc["max"][1].GetDouble(),
                                 acc["max"][2].GetDouble()};
  };
  auto colour_of = [](const Glb& g) {
    const auto& f =
        g.json["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"];
    return std::array<double, 3>{f[0].GetDouble(), f[1].GetDouble(),
                                 f[2].GetDouble()};
  };
  EXPECT_NE(max_of(a), max_of(b));
  EXPECT_NE(colour_of(a), colour_of(b));
}

TEST(AssetsTest, Deterministic) {
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    EXPECT_EQ(MakeGlb(seed, false), MakeGlb(seed, false));
    EXPECT_EQ(MakeGlb(seed, true), MakeGlb(seed, true));
    EXPECT_EQ(MakePng(seed, 128, 96), MakePng(seed, 128, 96));
    EXPECT_EQ(MakeObj(seed), MakeObj(seed));
    EXPECT_EQ(MakeStl(seed), MakeStl(seed));
  }
  EXPECT_NE(MakeGlb(1, false), MakeGlb(2, false));
  EXPECT_NE(MakeGlb(1, true), MakeGlb(2, true));
  EXPECT_NE(MakePng(1, 64, 64), MakePng(2, 64, 64));
  EXPECT_NE(MakeObj(1), MakeObj(2));
  EXPECT_NE(MakeStl(1), MakeStl(2));
}

// ---------------------------------------------------------------------------
// STL and OBJ

// The mesh in MakeGlb(seed, false), which MakeObj and MakeStl must match.
struct GlbMesh {
  std::vector<std::array<float, 3>> positions;
  std::vector<uint32_t> indices;
};

void LoadGlbMesh(uint64_t seed, GlbMesh* mesh) {
  Glb glb;
  ASSERT_NO_FATAL_FAILURE(ParseGlb(MakeGlb(seed, false), &glb));
  const auto& prim = glb.json["meshes"][0]["primitives"][0];
  AccessorData pos, idx;
  ASSERT_NO_FATAL_FAILURE(
      CheckAccessor(glb, prim["attributes"]["POSITION"].GetInt(), &pos));
  ASSERT_NO_FATAL_FAILURE(CheckAccessor(glb, prim["indices"].GetInt(), &idx));
  for (size_t v = 0; v < pos.count; ++v) {
    mesh->positions.push_back({FloatAt(glb, pos, v, 0), FloatAt(glb, pos, v, 1),
                               FloatAt(glb, pos, v, 2)});
  }
  for (size_t i = 0; i < idx.count; ++i) {
    mesh->indices.push_back(IndexAt(glb, idx, i));
  }
}

TEST(MakeStlTest, IsBinaryStlOfTheSameMesh) {
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    GlbMesh mesh;
    ASSERT_NO_FATAL_FAILURE(LoadGlbMesh(seed, &mesh));
    const std::string stl = MakeStl(seed);
    ASSERT_GE(stl.size(), 84u);
    EXPECT_NE(stl.compare(0, 5, "solid"), 0) << "looks like ASCII STL";
    const uint32_t n = U32Le(stl, 80);
    ASSERT_EQ(n, mesh.indices.size() / 3);
    ASSERT_EQ(stl.size(), 84u + 50u * n);
    for (uint32_t t = 0; t < n; ++t) {
      const size_t base = 84 + 50 * static_cast<size_t>(t);
      float nrm[3];
      std::array<std::array<float, 3>, 3> p;
      for (int c = 0; c < 3; ++c) nrm[c] = F32Le(stl, base + 4 * c);
      for (int k = 0; k < 3; ++k) {
        for (int c = 0; c < 3; ++c) {
          p[k][c] = F32Le(stl, base + 12 + 12 * k + 4 * c);
        }
        ASSERT_EQ(p[k], mesh.positions[mesh.indices[3 * t + k]])
            << "triangle " << t << " vertex " << k;
      }
      ASSERT_NEAR(
          std::sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]), 1.0f,
          1e-4f)
          << "triangle " << t;
      // The facet normal points outwards, like the vertex order.
      float dot = 0;
      for (int c = 0; c < 3; ++c) dot += nrm[c] * (p[0][c] + p[1][c] + p[2][c]);
      ASSERT_GT(dot, 0.0f) << "triangle " << t;
      EXPECT_EQ(U16Le(stl, base + 48), 0u);
    }
  }
}

TEST(MakeObjTest, IsObjOfTheSameMesh) {
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    GlbMesh mesh;
    ASSERT_NO_FATAL_FAILURE(LoadGlbMesh(seed, &mesh));
    std::istringstream in(MakeObj(seed));
    std::string line;
    size_t v_count = 0, vn_count = 0;
    std::vector<std::array<long, 6>> faces;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#' || line.rfind("o ", 0) == 0) continue;
      std::istringstream ls(line);
      std::string tag;
      ls >> tag;
      if (tag == "v" || tag == "vn") {
        double x, y, z;
        ASSERT_TRUE(static_cast<bool>(ls >> x >> y >> z)) << line;
        std::string rest;
        EXPECT_FALSE(static_cast<bool>(ls >> rest)) << line;
        if (tag == "v") {
          ASSERT_LT(v_count, mesh.positions.size()) << "too many vertices";
          const auto& expected = mesh.positions[v_count];
          EXPECT_NEAR(x, expected[0], 1e-6) << line;
          EXPECT_NEAR(y, expected[1], 1e-6) << line;
          EXPECT_NEAR(z, expected[2], 1e-6) << line;
          ++v_count;
        } else {
          ++vn_count;
          EXPECT_NEAR(std::sqrt(x * x + y * y + z * z), 1.0, 1e-4) << line;
        }
      } else if (tag == "f") {
        std::array<long, 6> f;
        char s1, s2;
        for (int k = 0; k < 3; ++k) {
          ASSERT_TRUE(
              static_cast<bool>(ls >> f[2 * k] >> s1 >> s2 >> f[2 * k + 1]))
              << line;
          ASSERT_EQ(s1, '/') << line;
          ASSERT_EQ(s2, '/') << line;
        }
        faces.push_back(f);
      } else {
        ADD_FAILURE() << "unexpected line: " << line;
      }
    }
    EXPECT_EQ(v_count, mesh.positions.size());
    EXPECT_EQ(vn_count, mesh.positions.size());
    ASSERT_EQ(faces.size(), mesh.indices.size() / 3);
    for (size_t t = 0; t < faces.size(); ++t) {
      const auto& f = faces[t];
      // Same triangles in the same order and winding as the GLB.
      EXPECT_EQ(f[0], mesh.indices[3 * t] + 1);
      EXPECT_EQ(f[2], mesh.indices[3 * t + 1] + 1);
      EXPECT_EQ(f[4], mesh.indices[3 * t + 2] + 1);
      for (long i : f) {
        ASSERT_GE(i, 1);
        ASSERT_LE(static_cast<size_t>(i), v_count);
      }
      EXPECT_EQ(f[0], f[1]);
      EXPECT_EQ(f[2], f[3]);
      EXPECT_EQ(f[4], f[5]);
    }
  }
}

}  // namespace
}  // namespace triverse::emulator
