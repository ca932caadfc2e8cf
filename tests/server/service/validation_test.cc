#include "server/service/validation.h"

#include <functional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/testing_util/flow_requests.h"

namespace triverse::service {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::OneRequestPerFlow;

MATCHER_P2(Violation, field, rule, "") {
  return arg.field == field &&
         ::testing::Matches(HasSubstr(rule))(arg.description);
}

TEST(ValidateCreateTaskTest, EveryFlowsExampleIsValid) {
  for (const v1::CreateTaskRequest& r : OneRequestPerFlow()) {
    EXPECT_THAT(ValidateCreateTask(r), IsEmpty()) << r.ShortDebugString();
  }
}

TEST(ValidateCreateTaskTest, NoFlowIsAViolationOfParams) {
  EXPECT_THAT(ValidateCreateTask(v1::CreateTaskRequest()),
              ElementsAre(Violation("params", "is required")));
}

struct Case {
  std::string name;
  std::function<void(v1::CreateTaskRequest&)> mutate;
  std::string field;
  std::string rule;
};

class CreateTaskRuleTest : public ::testing::TestWithParam<Case> {};

TEST_P(CreateTaskRuleTest, ReportsTheFieldAndTheRule) {
  v1::CreateTaskRequest r;
  GetParam().mutate(r);
  EXPECT_THAT(ValidateCreateTask(r),
              ElementsAre(Violation(GetParam().field, GetParam().rule)));
}

v1::CreateTaskRequest Flow(int i) { return OneRequestPerFlow()[i]; }

INSTANTIATE_TEST_SUITE_P(
    Rules, CreateTaskRuleTest,
    ::testing::Values(
        Case{"PolygonLow",
             [](auto& r) {
               r = Flow(0);
               r.mutable_image_to_model()->set_polygon_limit(999);
             },
             "image_to_model.polygon_limit", "between 1000 and 1500000"},
        Case{"PolygonHigh",
             [](auto& r) {
               r = Flow(2);
               r.mutable_text_to_model()->set_polygon_limit(1500001);
             },
             "text_to_model.polygon_limit", "between 1000 and 1500000"},
        Case{"TextureLow",
             [](auto& r) {
               r = Flow(0);
               r.mutable_image_to_model()->set_texture_size(512);
             },
             "image_to_model.texture_size", "between 1024 and 4096"},
        Case{"TextureHigh",
             [](auto& r) {
               r = Flow(5);
               r.mutable_text_to_texture()->set_texture_size(8192);
             },
             "text_to_texture.texture_size", "between 1024 and 4096"},
        Case{"PromptShort",
             [](auto& r) {
               r = Flow(3);
               r.mutable_text_to_mesh()->set_prompt("ab");
             },
             "text_to_mesh.prompt", "at least 3 characters"},
        Case{"PromptShortInCharactersNotBytes",
             [](auto& r) {
               r = Flow(2);
               r.mutable_text_to_model()->set_prompt(
                   "\xE7\x8C\xAB\xE7\x8C\xAB");
             },
             "text_to_model.prompt", "at least 3 characters"},
        Case{"PromptMissing",
             [](auto& r) {
               r = Flow(9);
               r.mutable_image_generation()->clear_prompt();
             },
             "image_generation.prompt", "is required"},
        Case{"ImageCountHigh",
             [](auto& r) {
               r = Flow(6);
               r.mutable_model_preview_render()->set_image_count(11);
             },
             "model_preview_render.image_count", "between 1 and 10"},
        Case{"ImageCountZero",
             [](auto& r) {
               r = Flow(9);
               r.mutable_image_generation()->set_image_count(0);
             },
             "image_generation.image_count", "between 1 and 10"},
        Case{"FileMissing",
             [](auto& r) {
               r = Flow(4);
               r.mutable_texture_model()->clear_model_file();
             },
             "texture_model.model_file", "is required"},
        Case{"FileNotAKeyOrUrl",
             [](auto& r) {
               r = Flow(1);
               r.mutable_image_to_mesh()->set_image_file("/etc/passwd");
             },
             "image_to_mesh.image_file", "file_key"},
        Case{"RenderMode",
             [](auto& r) {
               r = Flow(6);
               r.mutable_model_preview_render()->set_render_mode("fancy");
             },
             "model_preview_render.render_mode", "basic"},
        Case{"Resolution",
             [](auto& r) {
               r = Flow(6);
               r.mutable_model_preview_render()->set_resolution("big");
             },
             "model_preview_render.resolution", "WIDTHxHEIGHT"},
        Case{"CameraAngle",
             [](auto& r) {
               r = Flow(6);
               r.mutable_model_preview_render()->add_camera_angles("under");
             },
             "model_preview_render.camera_angles[2]", "front"},
        Case{"ExportFormatMissing",
             [](auto& r) {
               r = Flow(8);
               r.mutable_convert_model_format()->clear_export_format();
             },
             "convert_model_format.export_format", "is required"},
        Case{"ExportFormatUnknown",
             [](auto& r) {
               r = Flow(7);
               r.mutable_model_remesh()->set_export_format("fbx");
             },
             "model_remesh.export_format", "glb, obj, stl"},
        Case{"AspectRatio",
             [](auto& r) {
               r = Flow(9);
               r.mutable_image_generation()->set_aspect_ratio("2:1");
             },
             "image_generation.aspect_ratio", "16:9"},
        Case{"ClientOrderIdCharset",
             [](auto& r) {
               r = Flow(0);
               r.set_client_order_id("order#1");
             },
             "client_order_id", "[A-Za-z0-9_-]"},
        Case{"ClientOrderIdLength",
             [](auto& r) {
               r = Flow(0);
               r.set_client_order_id(std::string(65, 'a'));
             },
             "client_order_id", "1-64"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(ValidateCreateTaskTest, ReportsEveryViolationAtOnce) {
  v1::CreateTaskRequest r;
  auto* p = r.mutable_text_to_model();
  p->set_prompt("x");
  p->set_polygon_limit(1);
  p->set_texture_size(1);
  r.set_client_order_id("bad id");
  EXPECT_EQ(ValidateCreateTask(r).size(), 4u);
}

TEST(ValidateQuotePriceTest, ExecutionOnlyFieldsMayBeEmptyButRangesHold) {
  v1::QuotePriceRequest q;
  q.mutable_image_to_model()->set_texture_size(2048);
  EXPECT_THAT(ValidateQuotePrice(q), IsEmpty());
  q.mutable_image_to_model()->set_texture_size(100);
  EXPECT_THAT(ValidateQuotePrice(q),
              ElementsAre(Violation("image_to_model.texture_size", "1024")));
  EXPECT_THAT(ValidateQuotePrice(v1::QuotePriceRequest()),
              ElementsAre(Violation("params", "is required")));
}

TEST(ValidateTaskUuidTest, AcceptsUuidsOnly) {
  EXPECT_THAT(ValidateTaskUuid("92483a80-236c-4889-9a95-4c90bb64dfd8"),
              IsEmpty());
  EXPECT_THAT(ValidateTaskUuid(""),
              ElementsAre(Violation("task_uuid", "is required")));
  for (const char* bad :
       {"../users/me", "92483a80-236c-4889-9a95-4c90bb64dfd8/x",
        "92483a80-236c-4889-9a95-4c90bb64dfdg",
        "92483a80236c48899a954c90bb64dfd8",
        "92483a80-236c-4889-9a95-4c90bb64dfd8?x=1", "%00"}) {
    EXPECT_THAT(ValidateTaskUuid(bad),
                ElementsAre(Violation("task_uuid", "must be a UUID")))
        << bad;
  }
}

TEST(ValidateTaskUuidTest, EachProvidersOwnIds) {
  using upstream::ProviderKind;
  const std::string uuid = "92483a80-236c-4889-9a95-4c90bb64dfd8";
  const std::string siray =
      "3d_69196fafcc9c8190acccf32e9b560c3f0da8a6d1948cfaa5";
  EXPECT_THAT(ValidateTaskUuid(uuid, ProviderKind::kTripo), IsEmpty());
  EXPECT_THAT(ValidateTaskUuid(siray, ProviderKind::kTripo),
              ElementsAre(Violation("task_uuid", "must be a UUID")));
  EXPECT_THAT(ValidateTaskUuid(siray, ProviderKind::kSiray), IsEmpty());
  EXPECT_THAT(ValidateTaskUuid(uuid, ProviderKind::kSiray), IsEmpty());
  for (const char* bad : {"3d_x/../users", "3d_x?y=1", "3d x", "%00"}) {
    EXPECT_THAT(ValidateTaskUuid(bad, ProviderKind::kSiray),
                ElementsAre(Violation("task_uuid", "must be a siray task id")))
        << bad;
  }
  EXPECT_THAT(ValidateTaskUuid(std::string(129, 'a'), ProviderKind::kSiray),
              ElementsAre(Violation("task_uuid", "1-128 characters")));
}

TEST(ValidateCreateTaskTest, FileReferencesFollowTheProvider) {
  using upstream::ProviderKind;
  auto image = [](const std::string& file) {
    v1::CreateTaskRequest r;
    r.mutable_image_to_model()->set_image_file(file);
    return r;
  };
  const std::string token = "5a4b2c1d-0000-4000-8000-00000000abcd";
  // Triverse: upload keys are tasks/...; Tripo: image tokens (UUIDs);
  // Siray: no upload, but data: URLs.
  EXPECT_THAT(ValidateCreateTask(image("tasks/a.png")), IsEmpty());
  EXPECT_THAT(ValidateCreateTask(image(token)),
              ElementsAre(Violation("image_to_model.image_file", "tasks/")));
  EXPECT_THAT(ValidateCreateTask(image(token), ProviderKind::kTripo),
              IsEmpty());
  EXPECT_THAT(
      ValidateCreateTask(image("tasks/a.png"), ProviderKind::kTripo),
      ElementsAre(Violation("image_to_model.image_file", "a Tripo task id")));
  EXPECT_THAT(ValidateCreateTask(image("data:image/png;base64,AAAA"),
                                 ProviderKind::kSiray),
              IsEmpty());
  EXPECT_THAT(ValidateCreateTask(image(token), ProviderKind::kSiray),
              ElementsAre(Violation("image_to_model.image_file",
                                    "an http(s) URL or a data: URL")));
  for (ProviderKind p :
       {ProviderKind::kTriverse, ProviderKind::kTripo, ProviderKind::kSiray}) {
    EXPECT_THAT(ValidateCreateTask(image("https://x.test/a.png"), p),
                IsEmpty());
  }
}

TEST(ValidateListOwnModelsTest, PageSizeAndToken) {
  v1::ListOwnModelsRequest r;
  EXPECT_THAT(ValidateListOwnModels(r), IsEmpty());
  r.set_page_size(101);
  r.set_page_token("abc");
  EXPECT_THAT(ValidateListOwnModels(r),
              ElementsAre(Field(&errors::FieldViolation::field, "page_size"),
                          Field(&errors::FieldViolation::field, "page_token")));
  r.set_page_size(100);
  r.set_page_token("3");
  EXPECT_THAT(ValidateListOwnModels(r), IsEmpty());
}

std::vector<std::string> UploadFields(const v1::UploadMetadata& m,
                                      UploadLimits limits = {}) {
  std::vector<std::string> out;
  for (const auto& v : ValidateUploadMetadata(m, limits)) {
    out.push_back(v.field);
  }
  return out;
}

TEST(ValidateUploadMetadataTest, ImagesAndModels) {
  v1::UploadMetadata image;
  image.set_kind(v1::FILE_KIND_IMAGE);
  image.set_file_name("cat.PNG");
  image.set_content_type("image/png");
  EXPECT_THAT(UploadFields(image), IsEmpty());
  image.set_content_type("image/gif");
  EXPECT_THAT(UploadFields(image), ElementsAre("metadata.content_type"));
  image.set_content_type("image/webp");
  image.set_model_variant(v1::MODEL_VARIANT_TEXTURED);
  EXPECT_THAT(UploadFields(image), ElementsAre("metadata.model_variant"));

  v1::UploadMetadata model;
  model.set_kind(v1::FILE_KIND_MODEL);
  model.set_file_name("chair.glb");
  model.set_model_variant(v1::MODEL_VARIANT_GEOMETRY);
  EXPECT_THAT(UploadFields(model), IsEmpty());
  for (const char* bad :
       {"chair", "chair.exe", "../chair.glb", "a\"b.glb", ""}) {
    model.set_file_name(bad);
    EXPECT_THAT(UploadFields(model), ElementsAre("metadata.file_name")) << bad;
  }
  model.set_file_name(std::string(252, 'a') + ".glb");  // 256 characters
  EXPECT_THAT(UploadFields(model), ElementsAre("metadata.file_name"));

  v1::UploadMetadata none;
  none.set_file_name("x.png");
  EXPECT_THAT(UploadFields(none), ElementsAre("metadata.kind"));
}

TEST(ValidateUploadMetadataTest, AnnouncedSizeWithinTheKindsLimit) {
  v1::UploadMetadata m;
  m.set_kind(v1::FILE_KIND_IMAGE);
  m.set_file_name("cat.jpg");
  m.set_content_type("image/jpeg");
  m.set_size_bytes(50'000'000);
  EXPECT_THAT(UploadFields(m), IsEmpty());
  m.set_size_bytes(50'000'001);
  EXPECT_THAT(UploadFields(m), ElementsAre("metadata.size_bytes"));
  m.set_size_bytes(0);
  EXPECT_THAT(UploadFields(m), ElementsAre("metadata.size_bytes"));
  m.set_kind(v1::FILE_KIND_MODEL);
  m.set_file_name("big.obj");
  m.set_size_bytes(200'000'000);
  EXPECT_THAT(UploadFields(m), IsEmpty());
  m.set_size_bytes(200'000'001);
  EXPECT_THAT(UploadFields(m), ElementsAre("metadata.size_bytes"));
  EXPECT_EQ(MaxUploadBytes(v1::FILE_KIND_UNSPECIFIED, {}), 0);
}

}  // namespace
}  // namespace triverse::service
