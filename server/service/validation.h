// Request validation of the TaskService RPCs: every documented rule, checked
// before any upstream call, reported as google.rpc.BadRequest violations.
#ifndef TRIVERSE_SERVER_SERVICE_VALIDATION_H_
#define TRIVERSE_SERVER_SERVICE_VALIDATION_H_

#include <cstdint>
#include <vector>

#include "server/errors/upstream_status.h"
#include "server/upstream/provider_stub.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::service {

// ValidateCreateTask lists every violation of a CreateTaskRequest: a flow is
// chosen; required fields are set; polygon_limit 1,000-1,500,000;
// texture_size 1024-4096; prompt at least 3 characters; image_count 1-10;
// enums (render_mode, face_type, export_format, aspect_ratio) and formats
// (resolution WIDTHxHEIGHT); *_file fields a file_key (tasks/...) or an
// http(s) URL (Tripo: an UploadFile key, a task id or an http(s) URL;
// Siray: an http(s) or data: URL); client_order_id empty or 1-64 characters
// of [A-Za-z0-9_-]. Field paths are the proto paths, e.g.
// "text_to_model.prompt". What a provider cannot do at all is the adapter's
// to refuse (UNIMPLEMENTED, or INVALID_ARGUMENT naming the field).
std::vector<errors::FieldViolation> ValidateCreateTask(
    const v1::CreateTaskRequest& request,
    upstream::ProviderKind provider = upstream::ProviderKind::kTriverse);

// ValidateQuotePrice applies the same rules to the price-affecting fields;
// the execution-only fields (prompt, *_file) may be left empty.
std::vector<errors::FieldViolation> ValidateQuotePrice(
    const v1::QuotePriceRequest& request);

// ValidateTaskUuid checks a task_uuid: an id `provider` issues (a UUID,
// 8-4-4-4-12 hex digits, for Triverse and Tripo).
std::vector<errors::FieldViolation> ValidateTaskUuid(
    absl::string_view task_uuid,
    upstream::ProviderKind provider = upstream::ProviderKind::kTriverse);

// ValidateListOwnModels checks page_size (0-100) and page_token (empty or a
// token this gateway issued: a positive page number).
std::vector<errors::FieldViolation> ValidateListOwnModels(
    const v1::ListOwnModelsRequest& request);

// UploadLimits are the upstream's documented upload limits.
struct UploadLimits {
  int64_t max_image_bytes = int64_t{50} * 1000 * 1000;
  int64_t max_model_bytes = int64_t{200} * 1000 * 1000;
};

// ValidateUploadMetadata checks the first message of UploadFile: kind set;
// file_name 1-255 printable characters without `"`, `\` or `/`; images:
// content_type image/jpeg, image/png or image/webp; models: a known 3D
// extension (.glb .gltf .obj .fbx .stl .ply .usdz); model_variant only for
// models; size_bytes, when given, within the kind's limit. Field paths are
// "metadata.<field>".
std::vector<errors::FieldViolation> ValidateUploadMetadata(
    const v1::UploadMetadata& metadata, const UploadLimits& limits);

// MaxUploadBytes is the limit of `kind` (0 for FILE_KIND_UNSPECIFIED).
int64_t MaxUploadBytes(v1::FileKind kind, const UploadLimits& limits);

}  // namespace triverse::service

#endif  // TRIVERSE_SERVER_SERVICE_VALIDATION_H_
