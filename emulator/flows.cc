#include "emulator/flows.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {
namespace {

constexpr int64_t kNoMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();

enum class PType { kString, kInt, kBool, kStringList };

// Param describes one documented request field of a flow.
struct Param {
  std::string name;
  PType type = PType::kString;
  bool required = false;
  std::string default_json;  // JSON literal used when absent; empty = none
  int64_t min = kNoMin;      // ints: value; strings: length
  int64_t max = kNoMax;
  std::vector<std::string> allowed;  // accepted string values
  std::string alias;                 // accepted alternative request name
  std::string input_name;            // name in the public input, if renamed
  bool price = false;                // affects the price
  bool moderated = false;            // user text checked by moderation
  bool file_ref = false;             // a file_key or public URL
  bool polygon = false;              // range depends on the API generation
  bool resolution = false;           // "WxH"
};

using Values = std::map<std::string, const rapidjson::Value*>;
using PriceFn = std::function<int64_t(const rapidjson::Value& normalised)>;
using AssetsFn = std::function<std::vector<AssetSpec>(
    const rapidjson::Value& normalised, int* primary)>;

struct Flow {
  std::string name;
  std::vector<Param> params;
  PriceFn price;
  AssetsFn assets;
};

int64_t IntOr(const rapidjson::Value& v, const char* key, int64_t fallback) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsInt64()) return fallback;
  return it->value.GetInt64();
}

bool BoolOr(const rapidjson::Value& v, const char* key, bool fallback) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsBool()) return fallback;
  return it->value.GetBool();
}

std::string StringOr(const rapidjson::Value& v, const char* key,
                     std::string fallback) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsString()) return fallback;
  return it->value.GetString();
}

// Texture resolution surcharge: the 120-credit image-to-model sample price is
// 100 for geometry plus 20 for a 1024 texture.
int64_t TextureCost(int64_t texture_size) {
  if (texture_size <= 1024) return 20;
  if (texture_size <= 2048) return 40;
  return 60;
}

int64_t PolygonCost(int64_t polygon_limit) {
  return polygon_limit > 1000000 ? 10 : 0;
}

AssetSpec Asset(std::string field, bool list, std::string file, AssetType type,
                int w = 0, int h = 0) {
  AssetSpec a;
  a.field = std::move(field);
  a.list = list;
  a.file_name = std::move(file);
  a.type = type;
  a.kind =
      (type == AssetType::kPng) ? std::string("image") : std::string("model");
  a.width = w;
  a.height = h;
  return a;
}

std::pair<int, int> ParseResolution(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, 'x');
  int w = 1024, h = 1024;
  if (parts.size() == 2) {
    (void)absl::SimpleAtoi(parts[0], &w);
    (void)absl::SimpleAtoi(parts[1], &h);
  }
  return {w, h};
}

AssetType ModelType(const std::string& format) {
  if (format == "obj") return AssetType::kObj;
  if (format == "stl") return AssetType::kStl;
  return AssetType::kGlbMesh;
}

Param P(std::string name, PType type) {
  Param p;
  p.name = std::move(name);
  p.type = type;
  return p;
}

// Builders for the fields several flows share.
Param ImageFile() {
  Param p = P("image_file", PType::kString);
  p.required = true;
  p.file_ref = true;
  p.input_name = "image_url";
  return p;
}
Param ModelFile() {
  Param p = P("model_file", PType::kString);
  p.required = true;
  p.file_ref = true;
  p.alias = "model_url";
  return p;
}
Param ModelVersion() {
  Param p = P("model_version", PType::kString);
  p.default_json = "\"v2\"";
  p.allowed = {"v2"};
  p.price = true;
  return p;
}
Param PolygonLimit() {
  Param p = P("polygon_limit", PType::kInt);
  p.default_json = "1000000";
  p.polygon = true;
  p.price = true;
  return p;
}
Param TextureSize() {
  Param p = P("texture_size", PType::kInt);
  p.default_json = "1024";
  p.min = 1024;
  p.max = 4096;
  p.price = true;
  return p;
}
Param Turbo() {
  Param p = P("turbo", PType::kBool);
  p.default_json = "false";
  p.price = true;
  return p;
}
Param Prompt(bool required) {
  Param p = P("prompt", PType::kString);
  p.required = required;
  p.min = 3;
  p.moderated = true;
  return p;
}
Param NegativePrompt() {
  Param p = P("negative_prompt", PType::kString);
  p.moderated = true;
  return p;
}
Param ExportFormat(bool required) {
  Param p = P("export_format", PType::kString);
  p.required = required;
  if (!required) p.default_json = "\"glb\"";
  p.allowed = {"glb", "obj", "stl"};
  p.price = true;
  return p;
}
Param ImageCount(const char* def) {
  Param p = P("image_count", PType::kInt);
  p.default_json = def;
  p.min = 1;
  p.max = 10;
  p.price = true;
  return p;
}

std::vector<AssetSpec> ModelAssets(bool preprocessed, bool geometry,
                                   bool textured, int* primary) {
  std::vector<AssetSpec> out;
  if (preprocessed) {
    out.push_back(Asset("preprocessed_image_url", true,
                        "preprocessed_input_image_0.png", AssetType::kPng, 512,
                        512));
  }
  if (geometry) {
    out.push_back(Asset("geometry_model_url", true, "textureless_model_0.glb",
                        AssetType::kGlbMesh));
    *primary = static_cast<int>(out.size()) - 1;
  }
  if (textured) {
    out.push_back(Asset("textured_model_url", true, "textured_model_0.glb",
                        AssetType::kGlbTextured));
    *primary = static_cast<int>(out.size()) - 1;
  }
  out.push_back(
      Asset("preview_url", false, "preview.png", AssetType::kPng, 512, 512));
  return out;
}

std::vector<Flow> BuildFlows() {
  std::vector<Flow> flows;
  auto textured_price = [](const rapidjson::Value& v) {
    int64_t cost = 100 + TextureCost(IntOr(v, "texture_size", 1024)) +
                   PolygonCost(IntOr(v, "polygon_limit", 1000000));
    if (BoolOr(v, "turbo", false)) cost -= 20;
    return cost;
  };
  auto mesh_price = [](const rapidjson::Value& v) {
    int64_t cost = 60 + PolygonCost(IntOr(v, "polygon_limit", 1000000));
    if (BoolOr(v, "turbo", false)) cost -= 10;
    return cost;
  };
  auto texture_price = [](const rapidjson::Value& v) {
    return 60 + TextureCost(IntOr(v, "texture_size", 1024));
  };

  flows.push_back(
      {"image-to-model",
       {ImageFile(), ModelVersion(), PolygonLimit(), TextureSize(), Turbo()},
       textured_price,
       [](const rapidjson::Value&, int* primary) {
         return ModelAssets(true, true, true, primary);
       }});
  flows.push_back({"image-to-mesh",
                   {ImageFile(), ModelVersion(), PolygonLimit(), Turbo()},
                   mesh_price,
                   [](const rapidjson::Value&, int* primary) {
                     return ModelAssets(true, true, false, primary);
                   }});
  {
    Param seed = P("seed", PType::kInt);
    seed.min = 0;
    seed.max = 4294967295LL;
    flows.push_back({"text-to-model",
                     {Prompt(true), NegativePrompt(), PolygonLimit(),
                      TextureSize(), Turbo(), seed},
                     textured_price,
                     [](const rapidjson::Value&, int* primary) {
                       return ModelAssets(false, true, true, primary);
                     }});
    flows.push_back(
        {"text-to-mesh",
         {Prompt(true), NegativePrompt(), PolygonLimit(), Turbo(), seed},
         mesh_price,
         [](const rapidjson::Value&, int* primary) {
           return ModelAssets(false, true, false, primary);
         }});
  }
  flows.push_back({"texture-model",
                   {ImageFile(), ModelFile(), ModelVersion(), PolygonLimit(),
                    TextureSize()},
                   texture_price,
                   [](const rapidjson::Value&, int* primary) {
                     return ModelAssets(false, false, true, primary);
                   }});
  {
    Param prompt = Prompt(true);
    prompt.alias = "text_prompt";
    flows.push_back(
        {"text-to-texture",
         {prompt, ModelFile(), ModelVersion(), TextureSize(), PolygonLimit()},
         texture_price,
         [](const rapidjson::Value&, int* primary) {
           return ModelAssets(false, false, true, primary);
         }});
  }
  {
    Param mode = P("render_mode", PType::kString);
    mode.default_json = "\"basic\"";
    mode.allowed = {"basic", "multi_angle", "custom", "preset"};
    Param resolution = P("resolution", PType::kString);
    resolution.default_json = "\"2048x2048\"";
    resolution.resolution = true;
    resolution.price = true;
    Param format = P("render_format", PType::kString);
    format.default_json = "\"PNG\"";
    format.allowed = {"PNG"};
    Param rgb = P("enable_rgb_render", PType::kBool);
    rgb.default_json = "true";
    Param white = P("enable_white_render", PType::kBool);
    white.default_json = "true";
    Param angles = P("camera_angles", PType::kStringList);
    angles.allowed = {"front", "back", "left", "right", "top", "bottom"};
    Param preset = P("preset_name", PType::kString);
    flows.push_back(
        {"model-preview-render",
         {ModelFile(), mode, ImageCount("3"), resolution, format, rgb, white,
          angles, preset},
         [](const rapidjson::Value& v) {
           auto [w, h] = ParseResolution(StringOr(v, "resolution", ""));
           int64_t per_image = (int64_t{w} * h > 2048 * 2048) ? 4 : 2;
           return per_image * IntOr(v, "image_count", 3);
         },
         [](const rapidjson::Value& v, int* primary) {
           auto [w, h] = ParseResolution(StringOr(v, "resolution", ""));
           std::vector<AssetSpec> out;
           int64_t n = IntOr(v, "image_count", 3);
           for (int64_t i = 0; i < n; ++i) {
             out.push_back(Asset("rendered_image_url", true,
                                 absl::StrCat("render_", i, ".png"),
                                 AssetType::kPng, w, h));
           }
           out.push_back(Asset("preview_url", false, "preview.png",
                               AssetType::kPng, 512, 512));
           *primary = 0;
           return out;
         }});
  }
  {
    Param faces = P("target_face_count", PType::kInt);
    faces.default_json = "50000";
    faces.min = 100;
    faces.max = 1500000;
    faces.price = true;
    Param face_type = P("face_type", PType::kString);
    face_type.default_json = "\"triangle\"";
    face_type.allowed = {"triangle", "quad"};
    flows.push_back({"model-remesh",
                     {ModelFile(), faces, face_type, ExportFormat(false)},
                     [](const rapidjson::Value&) { return int64_t{20}; },
                     [](const rapidjson::Value& v, int* primary) {
                       std::string fmt = StringOr(v, "export_format", "glb");
                       *primary = 0;
                       return std::vector<AssetSpec>{
                           Asset("remeshed_model_url", true,
                                 absl::StrCat("remeshed_model_0.", fmt),
                                 ModelType(fmt)),
                           Asset("preview_url", false, "preview.png",
                                 AssetType::kPng, 512, 512)};
                     }});
    flows.push_back({"convert-model-format",
                     {ModelFile(), ExportFormat(true)},
                     [](const rapidjson::Value&) { return int64_t{5}; },
                     [](const rapidjson::Value& v, int* primary) {
                       std::string fmt = StringOr(v, "export_format", "glb");
                       *primary = 0;
                       return std::vector<AssetSpec>{
                           Asset("converted_model_url", true,
                                 absl::StrCat("converted_model_0.", fmt),
                                 ModelType(fmt))};
                     }});
  }
  {
    Param ai_model = P("ai_model", PType::kString);
    ai_model.default_json = "\"seedream_4_5\"";
    ai_model.price = true;
    Param aspect = P("aspect_ratio", PType::kString);
    aspect.default_json = "\"1:1\"";
    aspect.allowed = {"1:1", "4:3", "3:4", "16:9", "9:16"};
    Param width = P("width", PType::kInt);
    width.min = 256;
    width.max = 4096;
    Param height = P("height", PType::kInt);
    height.min = 256;
    height.max = 4096;
    Param seed = P("seed", PType::kInt);
    seed.min = 0;
    seed.max = 4294967295LL;
    flows.push_back(
        {"image-generation",
         {Prompt(true), NegativePrompt(), ai_model, ImageCount("1"), aspect,
          width, height, seed},
         [](const rapidjson::Value& v) {
           int64_t per_image =
               absl::StartsWith(StringOr(v, "ai_model", ""), "seedream") ? 4
                                                                         : 3;
           return per_image * IntOr(v, "image_count", 1);
         },
         [](const rapidjson::Value& v, int* primary) {
           int w = static_cast<int>(IntOr(v, "width", 1024));
           int h = static_cast<int>(IntOr(v, "height", 1024));
           std::vector<AssetSpec> out;
           int64_t n = IntOr(v, "image_count", 1);
           for (int64_t i = 0; i < n; ++i) {
             out.push_back(Asset("image_url", true,
                                 absl::StrCat("image_", i, ".png"),
                                 AssetType::kPng, w, h));
           }
           *primary = 0;
           return out;
         }});
  }
  return flows;
}

const std::vector<Flow>& Flows() {
  static const std::vector<Flow>* flows = new std::vector<Flow>(BuildFlows());
  return *flows;
}

const Flow* FindFlow(absl::string_view name) {
  for (const Flow& f : Flows()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

const char* TypeName(PType t) {
  switch (t) {
    case PType::kString:
      return "a string";
    case PType::kInt:
      return "an integer";
    case PType::kBool:
      return "a boolean";
    case PType::kStringList:
      return "an array of strings";
  }
  return "";
}

bool HasType(const rapidjson::Value& v, PType t) {
  switch (t) {
    case PType::kString:
      return v.IsString();
    case PType::kInt:
      return v.IsInt64();
    case PType::kBool:
      return v.IsBool();
    case PType::kStringList:
      if (!v.IsArray()) return false;
      for (const auto& e : v.GetArray()) {
        if (!e.IsString()) return false;
      }
      return true;
  }
  return false;
}

bool IsFileRef(absl::string_view s) {
  return absl::StartsWith(s, "https://") || absl::StartsWith(s, "http://") ||
         absl::StartsWith(s, "tasks/");
}

// CheckValue applies the range and format rules of `p` to a value of the
// right type. Returns an error naming the field and the rule.
std::optional<ApiError> CheckValue(const Param& p, const rapidjson::Value& v,
                                   bool legacy) {
  if (p.type == PType::kInt) {
    int64_t x = v.GetInt64();
    int64_t min = p.min, max = p.max;
    if (p.polygon) {
      min = 1000;
      max = legacy ? 10000000 : 1500000;
    }
    if (x < min || x > max) {
      return InvalidParam(p.name, absl::StrCat("must be between ", min, " and ",
                                               max, " (got ", x, ")"));
    }
  }
  if (p.type == PType::kString) {
    absl::string_view s(v.GetString(), v.GetStringLength());
    // Characters, not bytes: count UTF-8 code points (non-continuation
    // bytes).
    const int64_t chars = std::count_if(s.begin(), s.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    });
    if (p.min != kNoMin && chars < p.min) {
      return InvalidParam(
          p.name, absl::StrCat("must be at least ", p.min, " characters long"));
    }
    if (!p.allowed.empty() &&
        std::find(p.allowed.begin(), p.allowed.end(), s) == p.allowed.end()) {
      return InvalidParam(p.name, absl::StrCat("must be one of: ",
                                               absl::StrJoin(p.allowed, ", ")));
    }
    if (p.file_ref && !IsFileRef(s)) {
      return InvalidParam(p.name,
                          "must be a file_key from /upload (tasks/...) or an "
                          "http(s) URL");
    }
    if (p.resolution) {
      std::vector<std::string> parts = absl::StrSplit(s, 'x');
      int w = 0, h = 0;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &w) ||
          !absl::SimpleAtoi(parts[1], &h) || w < 256 || h < 256 || w > 4096 ||
          h > 4096) {
        return InvalidParam(p.name,
                            "must be WIDTHxHEIGHT with each side in 256-4096");
      }
    }
  }
  if (p.type == PType::kStringList && !p.allowed.empty()) {
    for (const auto& e : v.GetArray()) {
      absl::string_view s(e.GetString(), e.GetStringLength());
      if (std::find(p.allowed.begin(), p.allowed.end(), s) == p.allowed.end()) {
        return InvalidParam(p.name,
                            absl::StrCat("items must be one of: ",
                                         absl::StrJoin(p.allowed, ", ")));
      }
    }
  }
  return std::nullopt;
}

ApiResult<rapidjson::Document> ParseObject(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return MakeError(kInvalidParameters,
                     "The request body must be a JSON object.");
  }
  return doc;
}

}  // namespace

const std::vector<std::string>& FlowNames() {
  static const std::vector<std::string>* names = [] {
    auto* v = new std::vector<std::string>();
    for (const Flow& f : Flows()) v->push_back(f.name);
    return v;
  }();
  return *names;
}

bool IsKnownFlow(absl::string_view flow) { return FindFlow(flow) != nullptr; }

bool IsValidClientOrderId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '-';
  });
}

ApiResult<CreateRequest> ParseCreateRequest(absl::string_view flow_name,
                                            absl::string_view body,
                                            bool legacy) {
  const Flow* flow = FindFlow(flow_name);
  if (flow == nullptr) {
    return MakeError(kTaskTypeNotSupported,
                     absl::StrCat("Supported task types: ",
                                  absl::StrJoin(FlowNames(), ", "), "."));
  }
  auto parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  rapidjson::Document& doc = parsed.value();

  CreateRequest req;
  req.flow_name = flow->name;
  rapidjson::Document input(rapidjson::kObjectType);
  auto& alloc = input.GetAllocator();
  for (const Param& p : flow->params) {
    auto it = doc.FindMember(p.name.c_str());
    if (it == doc.MemberEnd() && !p.alias.empty()) {
      it = doc.FindMember(p.alias.c_str());
    }
    const bool present = it != doc.MemberEnd() && !it->value.IsNull();
    const std::string& out_name = p.input_name.empty() ? p.name : p.input_name;
    rapidjson::Value key(out_name.c_str(), alloc);
    if (!present) {
      if (p.required) {
        return InvalidParam(p.name, "is required");
      }
      if (!p.default_json.empty()) {
        rapidjson::Document def(&alloc);
        def.Parse(p.default_json.c_str());
        input.AddMember(key, rapidjson::Value(def, alloc), alloc);
      }
      continue;
    }
    const rapidjson::Value& v = it->value;
    if (!HasType(v, p.type)) {
      return InvalidParam(p.name, absl::StrCat("must be ", TypeName(p.type)));
    }
    if (auto err = CheckValue(p, v, legacy)) return *err;
    if (p.moderated) req.texts.emplace_back(v.GetString(), v.GetStringLength());
    if (p.file_ref) {
      req.file_refs.emplace_back(
          p.name, std::string(v.GetString(), v.GetStringLength()));
    }
    input.AddMember(key, rapidjson::Value(v, alloc), alloc);
  }

  if (!legacy) {
    auto coid = doc.FindMember("client_order_id");
    if (coid != doc.MemberEnd() && !coid->value.IsNull()) {
      if (!coid->value.IsString() ||
          !IsValidClientOrderId(absl::string_view(
              coid->value.GetString(), coid->value.GetStringLength()))) {
        return InvalidParam("client_order_id",
                            "must be 1-64 characters from [A-Za-z0-9_-]");
      }
      req.client_order_id =
          std::string(coid->value.GetString(), coid->value.GetStringLength());
    }
    auto dup = doc.FindMember("allow_duplicate");
    if (dup != doc.MemberEnd() && !dup->value.IsNull()) {
      if (!dup->value.IsBool()) {
        return InvalidParam("allow_duplicate", "must be a boolean");
      }
      req.allow_duplicate = dup->value.GetBool();
    }
  }

  req.public_input_json = Serialize(input);
  req.fingerprint = absl::StrCat(flow->name, " ", req.public_input_json);
  req.cost_credits = flow->price(input);
  req.assets = flow->assets(input, &req.primary_asset);
  return req;
}

ApiResult<PriceQuote> ParseQuoteRequest(absl::string_view body) {
  auto parsed = ParseObject(body);
  if (!parsed.ok()) return parsed.error();
  rapidjson::Document& doc = parsed.value();
  auto name_it = doc.FindMember("flow_name");
  if (name_it == doc.MemberEnd()) name_it = doc.FindMember("flowName");
  if (name_it == doc.MemberEnd() || !name_it->value.IsString()) {
    return InvalidParam("flow_name", "is required and must be a string");
  }
  const Flow* flow = FindFlow(name_it->value.GetString());
  if (flow == nullptr) {
    return MakeError(kTaskTypeNotSupported,
                     absl::StrCat("Supported flow names: ",
                                  absl::StrJoin(FlowNames(), ", "), "."));
  }
  const rapidjson::Value* given = nullptr;
  auto params_it = doc.FindMember("params");
  if (params_it != doc.MemberEnd() && !params_it->value.IsNull()) {
    if (!params_it->value.IsObject()) {
      return InvalidParam("params", "must be an object");
    }
    given = &params_it->value;
  }
  rapidjson::Document params(rapidjson::kObjectType);
  auto& alloc = params.GetAllocator();
  for (const Param& p : flow->params) {
    if (!p.price) continue;
    rapidjson::Value key(p.name.c_str(), alloc);
    const rapidjson::Value* v = nullptr;
    if (given != nullptr) {
      auto it = given->FindMember(p.name.c_str());
      if (it != given->MemberEnd() && !it->value.IsNull()) v = &it->value;
    }
    if (v != nullptr) {
      if (!HasType(*v, p.type)) {
        return InvalidParam(absl::StrCat("params.", p.name),
                            absl::StrCat("must be ", TypeName(p.type)));
      }
      params.AddMember(key, rapidjson::Value(*v, alloc), alloc);
    } else if (!p.default_json.empty()) {
      rapidjson::Document def(&alloc);
      def.Parse(p.default_json.c_str());
      params.AddMember(key, rapidjson::Value(def, alloc), alloc);
    }
  }
  PriceQuote quote;
  quote.flow_name = flow->name;
  quote.cost_credits = flow->price(params);
  quote.params_json = Serialize(params);
  return quote;
}

}  // namespace triverse::emulator
