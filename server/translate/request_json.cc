#include "server/translate/request_json.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::translate {
namespace {

// Use says whether a parameter matters to the price (quote bodies) or only
// to the execution (creation bodies only).
enum class Use { kPrice, kExecutionOnly };

// Fields writes the parameters of one flow into an open JSON object,
// skipping unset ones and, for a quote, the execution-only ones. A null
// writer discards everything (FlowName needs only the dispatch).
class Fields {
 public:
  Fields(rapidjson::Writer<rapidjson::StringBuffer>* writer, bool quote)
      : w_(writer), quote_(quote) {}

  // String writes a plain proto3 string when non-empty.
  void String(const char* name, const std::string& value, Use use) {
    if (value.empty() || !Wanted(use)) return;
    w_->Key(name);
    w_->String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  // The Opt* methods write a proto3 `optional` field when `has` is true.
  void OptString(const char* name, bool has, const std::string& value,
                 Use use) {
    if (!has || !Wanted(use)) return;
    w_->Key(name);
    w_->String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  void OptInt(const char* name, bool has, int64_t value, Use use) {
    if (!has || !Wanted(use)) return;
    w_->Key(name);
    w_->Int64(value);
  }
  void OptBool(const char* name, bool has, bool value, Use use) {
    if (!has || !Wanted(use)) return;
    w_->Key(name);
    w_->Bool(value);
  }
  // StringList writes a repeated string when non-empty.
  void StringList(const char* name,
                  const google::protobuf::RepeatedPtrField<std::string>& values,
                  Use use) {
    if (values.empty() || !Wanted(use)) return;
    w_->Key(name);
    w_->StartArray();
    for (const std::string& v : values) {
      w_->String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    }
    w_->EndArray();
  }

 private:
  bool Wanted(Use use) const {
    return w_ != nullptr && (!quote_ || use == Use::kPrice);
  }

  rapidjson::Writer<rapidjson::StringBuffer>* w_;
  bool quote_;
};

constexpr Use kPrice = Use::kPrice;
constexpr Use kExec = Use::kExecutionOnly;

void Write(const v1::ImageToModelParams& p, Fields& f) {
  f.String("image_file", p.image_file(), kExec);
  f.OptString("model_version", p.has_model_version(), p.model_version(),
              kPrice);
  f.OptInt("polygon_limit", p.has_polygon_limit(), p.polygon_limit(), kPrice);
  f.OptInt("texture_size", p.has_texture_size(), p.texture_size(), kPrice);
  f.OptBool("turbo", p.has_turbo(), p.turbo(), kPrice);
}

void Write(const v1::ImageToMeshParams& p, Fields& f) {
  f.String("image_file", p.image_file(), kExec);
  f.OptString("model_version", p.has_model_version(), p.model_version(),
              kPrice);
  f.OptInt("polygon_limit", p.has_polygon_limit(), p.polygon_limit(), kPrice);
  f.OptBool("turbo", p.has_turbo(), p.turbo(), kPrice);
}

void Write(const v1::TextToModelParams& p, Fields& f) {
  f.String("prompt", p.prompt(), kExec);
  f.OptString("negative_prompt", p.has_negative_prompt(), p.negative_prompt(),
              kExec);
  f.OptInt("polygon_limit", p.has_polygon_limit(), p.polygon_limit(), kPrice);
  f.OptInt("texture_size", p.has_texture_size(), p.texture_size(), kPrice);
  f.OptBool("turbo", p.has_turbo(), p.turbo(), kPrice);
  f.OptInt("seed", p.has_seed(), p.seed(), kExec);
}

void Write(const v1::TextToMeshParams& p, Fields& f) {
  f.String("prompt", p.prompt(), kExec);
  f.OptString("negative_prompt", p.has_negative_prompt(), p.negative_prompt(),
              kExec);
  f.OptInt("polygon_limit", p.has_polygon_limit(), p.polygon_limit(), kPrice);
  f.OptBool("turbo", p.has_turbo(), p.turbo(), kPrice);
  f.OptInt("seed", p.has_seed(), p.seed(), kExec);
}

void Write(const v1::TextureModelParams& p, Fields& f) {
  f.String("image_file", p.image_file(), kExec);
  f.String("model_file", p.model_file(), kExec);
  f.OptString("model_version", p.has_model_version(), p.model_version(),
              kPrice);
  f.OptInt("polygon_limit", p.has_polygon_limit(), p.polygon_limit(), kPrice);
  f.OptInt("texture_size", p.has_texture_size(), p.texture_size(), kPrice);
}

void Write(const v1::TextToTextureParams& p, Fields& f) {
  f.String("prompt", p.prompt(), kExec);
  f.String("model_file", p.model_file(), kExec);
  f.OptString("model_version", p.has_model_version(), p.model_version(),
              kPrice);
  f.OptInt("texture_size", p.has_texture_size(), p.texture_size(), kPrice);
  f.OptInt("polygon_limit", p.has_polygon_limit(), p.polygon_limit(), kPrice);
}

void Write(const v1::ModelPreviewRenderParams& p, Fields& f) {
  f.String("model_file", p.model_file(), kExec);
  f.OptString("render_mode", p.has_render_mode(), p.render_mode(), kPrice);
  f.OptInt("image_count", p.has_image_count(), p.image_count(), kPrice);
  f.OptString("resolution", p.has_resolution(), p.resolution(), kPrice);
  f.OptString("render_format", p.has_render_format(), p.render_format(),
              kPrice);
  f.OptBool("enable_rgb_render", p.has_enable_rgb_render(),
            p.enable_rgb_render(), kPrice);
  f.OptBool("enable_white_render", p.has_enable_white_render(),
            p.enable_white_render(), kPrice);
  f.StringList("camera_angles", p.camera_angles(), kPrice);
  f.OptString("preset_name", p.has_preset_name(), p.preset_name(), kPrice);
}

void Write(const v1::ModelRemeshParams& p, Fields& f) {
  f.String("model_file", p.model_file(), kExec);
  f.OptInt("target_face_count", p.has_target_face_count(),
           p.target_face_count(), kPrice);
  f.OptString("face_type", p.has_face_type(), p.face_type(), kPrice);
  f.OptString("export_format", p.has_export_format(), p.export_format(),
              kPrice);
}

void Write(const v1::ConvertModelFormatParams& p, Fields& f) {
  f.String("model_file", p.model_file(), kExec);
  f.String("export_format", p.export_format(), kPrice);
}

void Write(const v1::ImageGenerationParams& p, Fields& f) {
  f.String("prompt", p.prompt(), kExec);
  f.OptString("negative_prompt", p.has_negative_prompt(), p.negative_prompt(),
              kExec);
  f.OptString("ai_model", p.has_ai_model(), p.ai_model(), kPrice);
  f.OptInt("image_count", p.has_image_count(), p.image_count(), kPrice);
  f.OptString("aspect_ratio", p.has_aspect_ratio(), p.aspect_ratio(), kPrice);
  f.OptInt("width", p.has_width(), p.width(), kPrice);
  f.OptInt("height", p.has_height(), p.height(), kPrice);
  f.OptInt("seed", p.has_seed(), p.seed(), kExec);
}

// WriteParams writes the parameters of whichever flow `request` selects
// (CreateTaskRequest and QuotePriceRequest share the oneof) and returns the
// flow name, or an empty string when no flow is selected.
template <typename Request>
std::string WriteParams(const Request& r, Fields& f) {
  switch (r.params_case()) {
    case Request::kImageToModel:
      Write(r.image_to_model(), f);
      return "image-to-model";
    case Request::kImageToMesh:
      Write(r.image_to_mesh(), f);
      return "image-to-mesh";
    case Request::kTextToModel:
      Write(r.text_to_model(), f);
      return "text-to-model";
    case Request::kTextToMesh:
      Write(r.text_to_mesh(), f);
      return "text-to-mesh";
    case Request::kTextureModel:
      Write(r.texture_model(), f);
      return "texture-model";
    case Request::kTextToTexture:
      Write(r.text_to_texture(), f);
      return "text-to-texture";
    case Request::kModelPreviewRender:
      Write(r.model_preview_render(), f);
      return "model-preview-render";
    case Request::kModelRemesh:
      Write(r.model_remesh(), f);
      return "model-remesh";
    case Request::kConvertModelFormat:
      Write(r.convert_model_format(), f);
      return "convert-model-format";
    case Request::kImageGeneration:
      Write(r.image_generation(), f);
      return "image-generation";
    case Request::PARAMS_NOT_SET:
      break;
  }
  return "";
}

absl::Status NoParams(absl::string_view operation) {
  return absl::InvalidArgumentError(
      absl::StrCat(operation,
                   ": `params` must select a flow (image_to_model, "
                   "text_to_model, ...)"));
}

}  // namespace

std::string FlowName(const v1::CreateTaskRequest& request) {
  Fields discard(nullptr, /*quote=*/false);
  return WriteParams(request, discard);
}

absl::StatusOr<std::pair<std::string, std::string>> BuildCreateTaskBody(
    const v1::CreateTaskRequest& request, absl::string_view client_order_id) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  writer.StartObject();
  Fields fields(&writer, /*quote=*/false);
  std::string flow = WriteParams(request, fields);
  if (flow.empty()) return NoParams("CreateTask");
  if (!client_order_id.empty()) {
    writer.Key("client_order_id");
    writer.String(client_order_id.data(),
                  static_cast<rapidjson::SizeType>(client_order_id.size()));
  }
  if (request.allow_duplicate()) {
    writer.Key("allow_duplicate");
    writer.Bool(true);
  }
  writer.EndObject();
  return std::make_pair(std::move(flow),
                        std::string(buf.GetString(), buf.GetSize()));
}

absl::StatusOr<std::string> BuildQuoteBody(
    const v1::QuotePriceRequest& request) {
  // The flow name precedes params in the body, so write params first into
  // their own buffer.
  rapidjson::StringBuffer params_buf;
  rapidjson::Writer<rapidjson::StringBuffer> params_writer(params_buf);
  params_writer.StartObject();
  Fields fields(&params_writer, /*quote=*/true);
  const std::string flow = WriteParams(request, fields);
  if (flow.empty()) return NoParams("QuotePrice");
  params_writer.EndObject();

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  writer.StartObject();
  writer.Key("flow_name");
  writer.String(flow.data(), static_cast<rapidjson::SizeType>(flow.size()));
  writer.Key("params");
  writer.RawValue(params_buf.GetString(), params_buf.GetSize(),
                  rapidjson::kObjectType);
  writer.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace triverse::translate
