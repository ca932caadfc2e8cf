#include "server/service/validation.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/upstream/triverse_connection.h"

namespace triverse::service {
namespace {

using errors::FieldViolation;

// Checker collects violations under a field-path prefix such as
// "text_to_model.".
class Checker {
 public:
  Checker(std::vector<FieldViolation>* out, std::string prefix,
          bool execution_fields_required, upstream::ProviderKind provider)
      : out_(out),
        prefix_(std::move(prefix)),
        required_(execution_fields_required),
        provider_(provider) {}

  void Add(absl::string_view field, std::string rule) {
    out_->push_back({absl::StrCat(prefix_, field), std::move(rule)});
  }

  // Range of an optional integer field.
  template <typename T>
  void Range(absl::string_view field, bool has, T value, int64_t min,
             int64_t max) {
    if (has && (value < min || value > max)) {
      Add(field, absl::StrCat("must be between ", min, " and ", max, " (got ",
                              value, ")"));
    }
  }

  // Prompt: required (for execution) and at least 3 characters.
  void Prompt(absl::string_view field, const std::string& value) {
    if (value.empty()) {
      if (required_) Add(field, "is required");
      return;
    }
    const auto chars = std::count_if(value.begin(), value.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    });
    if (chars < 3) Add(field, "must be at least 3 characters long");
  }

  // File: required (for execution), a file_key from UploadFile or a URL.
  void File(absl::string_view field, const std::string& value) {
    if (value.empty()) {
      if (required_) Add(field, "is required");
      return;
    }
    const bool url = absl::StartsWith(value, "https://") ||
                     absl::StartsWith(value, "http://");
    switch (provider_) {
      case upstream::ProviderKind::kTriverse:
        if (!url && !absl::StartsWith(value, "tasks/")) {
          Add(field,
              "must be a file_key from UploadFile (tasks/...) or an http(s) "
              "URL");
        }
        break;
      case upstream::ProviderKind::kTripo:
        // An image_token from UploadFile, or the id of an earlier task
        // (Tripo's chained tasks take the model by task id).
        if (!url && !upstream::IsUuid(value)) {
          Add(field,
              "must be a file_key from UploadFile, a Tripo task id (a UUID) "
              "or an http(s) URL");
        }
        break;
      case upstream::ProviderKind::kSiray:
        // Siray has no upload: the image comes by URL or inline.
        if (!url && !absl::StartsWith(value, "data:")) {
          Add(field, "must be an http(s) URL or a data: URL");
        }
        break;
    }
  }

  void OneOf(absl::string_view field, bool has, const std::string& value,
             std::initializer_list<absl::string_view> allowed) {
    if (!has) return;
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      Add(field,
          absl::StrCat("must be one of: ", absl::StrJoin(allowed, ", ")));
    }
  }

  bool execution_fields_required() const { return required_; }

 private:
  std::vector<FieldViolation>* out_;
  std::string prefix_;
  bool required_;
  upstream::ProviderKind provider_;
};

constexpr int64_t kMinPolygons = 1000;
constexpr int64_t kMaxPolygons = 1500000;

void Check(const v1::ImageToModelParams& p, Checker& c) {
  c.File("image_file", p.image_file());
  c.Range("polygon_limit", p.has_polygon_limit(), p.polygon_limit(),
          kMinPolygons, kMaxPolygons);
  c.Range("texture_size", p.has_texture_size(), p.texture_size(), 1024, 4096);
}

void Check(const v1::ImageToMeshParams& p, Checker& c) {
  c.File("image_file", p.image_file());
  c.Range("polygon_limit", p.has_polygon_limit(), p.polygon_limit(),
          kMinPolygons, kMaxPolygons);
}

void Check(const v1::TextToModelParams& p, Checker& c) {
  c.Prompt("prompt", p.prompt());
  c.Range("polygon_limit", p.has_polygon_limit(), p.polygon_limit(),
          kMinPolygons, kMaxPolygons);
  c.Range("texture_size", p.has_texture_size(), p.texture_size(), 1024, 4096);
  c.Range("seed", p.has_seed(), p.seed(), 0, 4294967295LL);
}

void Check(const v1::TextToMeshParams& p, Checker& c) {
  c.Prompt("prompt", p.prompt());
  c.Range("polygon_limit", p.has_polygon_limit(), p.polygon_limit(),
          kMinPolygons, kMaxPolygons);
  c.Range("seed", p.has_seed(), p.seed(), 0, 4294967295LL);
}

void Check(const v1::TextureModelParams& p, Checker& c) {
  c.File("image_file", p.image_file());
  c.File("model_file", p.model_file());
  c.Range("polygon_limit", p.has_polygon_limit(), p.polygon_limit(),
          kMinPolygons, kMaxPolygons);
  c.Range("texture_size", p.has_texture_size(), p.texture_size(), 1024, 4096);
}

void Check(const v1::TextToTextureParams& p, Checker& c) {
  c.Prompt("prompt", p.prompt());
  c.File("model_file", p.model_file());
  c.Range("polygon_limit", p.has_polygon_limit(), p.polygon_limit(),
          kMinPolygons, kMaxPolygons);
  c.Range("texture_size", p.has_texture_size(), p.texture_size(), 1024, 4096);
}

void Check(const v1::ModelPreviewRenderParams& p, Checker& c) {
  c.File("model_file", p.model_file());
  c.OneOf("render_mode", p.has_render_mode(), p.render_mode(),
          {"basic", "multi_angle", "custom", "preset"});
  c.Range("image_count", p.has_image_count(), p.image_count(), 1, 10);
  if (p.has_resolution()) {
    std::vector<std::string> parts = absl::StrSplit(p.resolution(), 'x');
    int w = 0, h = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &w) ||
        !absl::SimpleAtoi(parts[1], &h) || w < 256 || h < 256 || w > 4096 ||
        h > 4096) {
      c.Add("resolution", "must be WIDTHxHEIGHT with each side in 256-4096");
    }
  }
  for (int i = 0; i < p.camera_angles_size(); ++i) {
    c.OneOf(absl::StrCat("camera_angles[", i, "]"), true, p.camera_angles(i),
            {"front", "back", "left", "right", "top", "bottom"});
  }
}

void Check(const v1::ModelRemeshParams& p, Checker& c) {
  c.File("model_file", p.model_file());
  c.Range("target_face_count", p.has_target_face_count(), p.target_face_count(),
          100, kMaxPolygons);
  c.OneOf("face_type", p.has_face_type(), p.face_type(), {"triangle", "quad"});
  c.OneOf("export_format", p.has_export_format(), p.export_format(),
          {"glb", "obj", "stl"});
}

void Check(const v1::ConvertModelFormatParams& p, Checker& c) {
  c.File("model_file", p.model_file());
  if (p.export_format().empty()) {
    c.Add("export_format", "is required");
  } else {
    c.OneOf("export_format", true, p.export_format(), {"glb", "obj", "stl"});
  }
}

void Check(const v1::ImageGenerationParams& p, Checker& c) {
  c.Prompt("prompt", p.prompt());
  c.Range("image_count", p.has_image_count(), p.image_count(), 1, 10);
  c.OneOf("aspect_ratio", p.has_aspect_ratio(), p.aspect_ratio(),
          {"1:1", "4:3", "3:4", "16:9", "9:16"});
  c.Range("width", p.has_width(), p.width(), 256, 4096);
  c.Range("height", p.has_height(), p.height(), 256, 4096);
  c.Range("seed", p.has_seed(), p.seed(), 0, 4294967295LL);
}

// CheckParams dispatches on the chosen flow. CreateTaskRequest and
// QuotePriceRequest share the oneof's field names.
template <typename Request>
void CheckParams(const Request& r, bool execution,
                 upstream::ProviderKind provider,
                 std::vector<FieldViolation>* out) {
  using R = Request;
  auto in = [&](const char* flow) {
    return Checker(out, absl::StrCat(flow, "."), execution, provider);
  };
  switch (r.params_case()) {
    case R::kImageToModel: {
      Checker c = in("image_to_model");
      return Check(r.image_to_model(), c);
    }
    case R::kImageToMesh: {
      Checker c = in("image_to_mesh");
      return Check(r.image_to_mesh(), c);
    }
    case R::kTextToModel: {
      Checker c = in("text_to_model");
      return Check(r.text_to_model(), c);
    }
    case R::kTextToMesh: {
      Checker c = in("text_to_mesh");
      return Check(r.text_to_mesh(), c);
    }
    case R::kTextureModel: {
      Checker c = in("texture_model");
      return Check(r.texture_model(), c);
    }
    case R::kTextToTexture: {
      Checker c = in("text_to_texture");
      return Check(r.text_to_texture(), c);
    }
    case R::kModelPreviewRender: {
      Checker c = in("model_preview_render");
      return Check(r.model_preview_render(), c);
    }
    case R::kModelRemesh: {
      Checker c = in("model_remesh");
      return Check(r.model_remesh(), c);
    }
    case R::kConvertModelFormat: {
      Checker c = in("convert_model_format");
      return Check(r.convert_model_format(), c);
    }
    case R::kImageGeneration: {
      Checker c = in("image_generation");
      return Check(r.image_generation(), c);
    }
    case R::PARAMS_NOT_SET:
      out->push_back({"params", "is required: set one flow's parameters"});
      return;
  }
}

}  // namespace

std::vector<FieldViolation> ValidateCreateTask(
    const v1::CreateTaskRequest& request, upstream::ProviderKind provider) {
  std::vector<FieldViolation> out;
  CheckParams(request, /*execution=*/true, provider, &out);
  if (!request.client_order_id().empty() &&
      !upstream::IsValidClientOrderId(request.client_order_id())) {
    out.push_back(
        {"client_order_id", "must be 1-64 characters of [A-Za-z0-9_-]"});
  }
  return out;
}

std::vector<FieldViolation> ValidateQuotePrice(
    const v1::QuotePriceRequest& request) {
  std::vector<FieldViolation> out;
  CheckParams(request, /*execution=*/false, upstream::ProviderKind::kTriverse,
              &out);
  return out;
}

std::vector<FieldViolation> ValidateTaskUuid(absl::string_view uuid,
                                             upstream::ProviderKind provider) {
  if (upstream::IsValidTaskId(provider, uuid)) return {};
  if (uuid.empty()) return {{"task_uuid", "is required"}};
  if (!upstream::CapabilitiesOf(provider).uuid_task_ids) {
    return {{"task_uuid",
             absl::StrCat("must be a ", upstream::ProviderName(provider),
                          " task id: 1-128 characters of [A-Za-z0-9_-]")}};
  }
  return {{"task_uuid",
           "must be a UUID such as 92483a80-236c-4889-9a95-4c90bb64dfd8"}};
}

std::vector<FieldViolation> ValidateListOwnModels(
    const v1::ListOwnModelsRequest& request) {
  std::vector<FieldViolation> out;
  if (request.page_size() < 0 || request.page_size() > 100) {
    out.push_back({"page_size", "must be between 0 and 100"});
  }
  int64_t page = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &page) || page < 1)) {
    out.push_back({"page_token",
                   "must be a next_page_token from a previous "
                   "ListOwnModels response"});
  }
  return out;
}

int64_t MaxUploadBytes(v1::FileKind kind, const UploadLimits& limits) {
  switch (kind) {
    case v1::FILE_KIND_IMAGE:
      return limits.max_image_bytes;
    case v1::FILE_KIND_MODEL:
      return limits.max_model_bytes;
    default:
      return 0;
  }
}

std::vector<FieldViolation> ValidateUploadMetadata(
    const v1::UploadMetadata& metadata, const UploadLimits& limits) {
  std::vector<FieldViolation> out;
  Checker check(&out, "metadata.", /*execution_fields_required=*/true,
                upstream::ProviderKind::kTriverse);
  const v1::FileKind kind = metadata.kind();
  if (kind != v1::FILE_KIND_IMAGE && kind != v1::FILE_KIND_MODEL) {
    check.Add("kind", "is required: FILE_KIND_IMAGE or FILE_KIND_MODEL");
  }
  const std::string& name = metadata.file_name();
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7F && c != '"' && c != '\\' && c != '/';
  });
  const bool name_ok = !name.empty() && name.size() <= 255 && printable;
  if (!name_ok) {
    check.Add("file_name",
              "must be 1-255 printable characters without '\"', '\\' or '/'");
  }
  const std::string type = absl::AsciiStrToLower(metadata.content_type());
  if (kind == v1::FILE_KIND_IMAGE) {
    if (type != "image/jpeg" && type != "image/png" && type != "image/webp") {
      check.Add("content_type",
                "must be image/jpeg, image/png or image/webp for an image");
    }
    if (metadata.model_variant() != v1::MODEL_VARIANT_UNSPECIFIED) {
      check.Add("model_variant", "applies to models only");
    }
  }
  if (kind == v1::FILE_KIND_MODEL) {
    const size_t dot = name.rfind('.');
    const std::string ext = absl::AsciiStrToLower(
        dot == std::string::npos ? "" : absl::string_view(name).substr(dot));
    constexpr absl::string_view kModelExtensions[] = {
        ".glb", ".gltf", ".obj", ".fbx", ".stl", ".ply", ".usdz"};
    if (name_ok &&
        std::find(std::begin(kModelExtensions), std::end(kModelExtensions),
                  ext) == std::end(kModelExtensions)) {
      check.Add("file_name",
                "must end in a model extension: .glb, .gltf, .obj, .fbx, "
                ".stl, .ply or .usdz");
    }
    if (!type.empty() && type.find_first_of("\r\n") != std::string::npos) {
      check.Add("content_type", "must not contain line breaks");
    }
  }
  if (metadata.has_size_bytes()) {
    const int64_t max = MaxUploadBytes(kind, limits);
    if (metadata.size_bytes() <= 0) {
      check.Add("size_bytes", "must be positive when given");
    } else if (max > 0 && metadata.size_bytes() > max) {
      check.Add("size_bytes", absl::StrCat("must be at most ", max,
                                           " bytes for this kind (got ",
                                           metadata.size_bytes(), ")"));
    }
  }
  return out;
}

}  // namespace triverse::service
