// Table tests of the proto → upstream JSON request bodies.
#include "server/translate/request_json.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace triverse::translate {
namespace {

using ::testing::HasSubstr;

struct CreateCase {
  std::string name;
  v1::CreateTaskRequest request;
  std::string client_order_id;
  std::string want_flow;
  std::string want_body;
};

std::vector<CreateCase> CreateCases() {
  std::vector<CreateCase> cases;
  {
    CreateCase c{"ImageToModelAllFields", {}, "order-1", "image-to-model", ""};
    auto* p = c.request.mutable_image_to_model();
    p->set_image_file("tasks/uid_1/20250805/reference.png");
    p->set_model_version("v2");
    p->set_polygon_limit(1000000);
    p->set_texture_size(2048);
    p->set_turbo(true);
    c.request.set_allow_duplicate(true);
    c.want_body =
        R"({"image_file":"tasks/uid_1/20250805/reference.png",)"
        R"("model_version":"v2","polygon_limit":1000000,"texture_size":2048,)"
        R"("turbo":true,"client_order_id":"order-1","allow_duplicate":true})";
    cases.push_back(c);
  }
  {
    CreateCase c{"ImageToModelOnlyRequired", {}, "", "image-to-model", ""};
    c.request.mutable_image_to_model()->set_image_file("https://x/i.png");
    c.want_body = R"({"image_file":"https://x/i.png"})";
    cases.push_back(c);
  }
  {
    // Presence, not value: explicit zero / false are sent.
    CreateCase c{"ExplicitZeroAndFalseAreSent", {}, "k", "image-to-mesh", ""};
    auto* p = c.request.mutable_image_to_mesh();
    p->set_image_file("https://x/i.png");
    p->set_polygon_limit(0);
    p->set_turbo(false);
    p->set_model_version("");
    c.want_body = R"({"image_file":"https://x/i.png","model_version":"",)"
                  R"("polygon_limit":0,"turbo":false,"client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"TextToModel", {}, "k", "text-to-model", ""};
    auto* p = c.request.mutable_text_to_model();
    p->set_prompt("a \"red\" chair\n\\ \xc3\xa9");
    p->set_negative_prompt("blurry");
    p->set_texture_size(1024);
    p->set_seed(4294967295LL);
    c.want_body = R"({"prompt":"a \"red\" chair\n\\ )"
                  "\xc3\xa9"
                  R"(","negative_prompt":"blurry","texture_size":1024,)"
                  R"("seed":4294967295,"client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"TextToMesh", {}, "k", "text-to-mesh", ""};
    auto* p = c.request.mutable_text_to_mesh();
    p->set_prompt("a chair");
    p->set_polygon_limit(5000);
    p->set_turbo(true);
    p->set_seed(7);
    c.want_body =
        R"({"prompt":"a chair","polygon_limit":5000,"turbo":true,"seed":7,)"
        R"("client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"TextureModel", {}, "k", "texture-model", ""};
    auto* p = c.request.mutable_texture_model();
    p->set_image_file("https://x/i.png");
    p->set_model_file("https://x/m.glb");
    p->set_model_version("v2");
    p->set_polygon_limit(2000);
    p->set_texture_size(4096);
    c.want_body =
        R"({"image_file":"https://x/i.png","model_file":"https://x/m.glb",)"
        R"("model_version":"v2","polygon_limit":2000,"texture_size":4096,)"
        R"("client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"TextToTexture", {}, "k", "text-to-texture", ""};
    auto* p = c.request.mutable_text_to_texture();
    p->set_prompt("wood");
    p->set_model_file("tasks/uid_1/20250805/m.glb");
    p->set_texture_size(2048);
    c.want_body =
        R"({"prompt":"wood","model_file":"tasks/uid_1/20250805/m.glb",)"
        R"("texture_size":2048,"client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"ModelPreviewRender", {}, "k", "model-preview-render", ""};
    auto* p = c.request.mutable_model_preview_render();
    p->set_model_file("https://x/m.glb");
    p->set_render_mode("multi_angle");
    p->set_image_count(4);
    p->set_resolution("1024x1024");
    p->set_render_format("PNG");
    p->set_enable_rgb_render(false);
    p->set_enable_white_render(true);
    p->add_camera_angles("front");
    p->add_camera_angles("back");
    p->set_preset_name("studio-soft");
    c.want_body =
        R"({"model_file":"https://x/m.glb","render_mode":"multi_angle",)"
        R"("image_count":4,"resolution":"1024x1024","render_format":"PNG",)"
        R"("enable_rgb_render":false,"enable_white_render":true,)"
        R"("camera_angles":["front","back"],"preset_name":"studio-soft",)"
        R"("client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"ModelRemesh", {}, "k", "model-remesh", ""};
    auto* p = c.request.mutable_model_remesh();
    p->set_model_file("https://x/m.glb");
    p->set_target_face_count(20000);
    p->set_face_type("quad");
    p->set_export_format("obj");
    c.want_body =
        R"({"model_file":"https://x/m.glb","target_face_count":20000,)"
        R"("face_type":"quad","export_format":"obj","client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"ConvertModelFormat", {}, "k", "convert-model-format", ""};
    auto* p = c.request.mutable_convert_model_format();
    p->set_model_file("https://x/m.glb");
    p->set_export_format("stl");
    c.want_body = R"({"model_file":"https://x/m.glb","export_format":"stl",)"
                  R"("client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    CreateCase c{"ImageGeneration", {}, "k", "image-generation", ""};
    auto* p = c.request.mutable_image_generation();
    p->set_prompt("a cat");
    p->set_negative_prompt("dog");
    p->set_ai_model("seedream_4_5");
    p->set_image_count(2);
    p->set_aspect_ratio("16:9");
    p->set_width(1024);
    p->set_height(576);
    p->set_seed(0);
    c.want_body =
        R"({"prompt":"a cat","negative_prompt":"dog","ai_model":"seedream_4_5",)"
        R"("image_count":2,"aspect_ratio":"16:9","width":1024,"height":576,)"
        R"("seed":0,"client_order_id":"k"})";
    cases.push_back(c);
  }
  {
    // Empty required strings are omitted; the upstream reports them.
    CreateCase c{
        "EmptyRequiredStringsOmitted", {}, "", "convert-model-format", "{}"};
    c.request.mutable_convert_model_format();
    cases.push_back(c);
  }
  {
    // The request's own client_order_id is not read: the caller decides.
    CreateCase c{"ArgumentOrderIdWins", {}, "generated", "text-to-mesh", ""};
    c.request.mutable_text_to_mesh()->set_prompt("abc");
    c.request.set_client_order_id("callers");
    c.request.set_allow_duplicate(false);
    c.want_body = R"({"prompt":"abc","client_order_id":"generated"})";
    cases.push_back(c);
  }
  return cases;
}

TEST(BuildCreateTaskBodyTest, Table) {
  for (const CreateCase& c : CreateCases()) {
    SCOPED_TRACE(c.name);
    auto built = BuildCreateTaskBody(c.request, c.client_order_id);
    ASSERT_TRUE(built.ok()) << built.status();
    EXPECT_EQ(built->first, c.want_flow);
    EXPECT_EQ(built->second, c.want_body);
    rapidjson::Document doc;
    doc.Parse(built->second.c_str(), built->second.size());
    EXPECT_FALSE(doc.HasParseError());
    EXPECT_TRUE(doc.IsObject());
    EXPECT_EQ(FlowName(c.request), c.want_flow);
  }
}

TEST(BuildCreateTaskBodyTest, NoParamsIsInvalidArgument) {
  v1::CreateTaskRequest request;
  request.set_client_order_id("k");
  auto built = BuildCreateTaskBody(request, "k");
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(built.status().message()), HasSubstr("params"));
  EXPECT_EQ(FlowName(request), "");
}

struct QuoteCase {
  std::string name;
  v1::QuotePriceRequest request;
  std::string want_body;
};

std::vector<QuoteCase> QuoteCases() {
  std::vector<QuoteCase> cases;
  {
    QuoteCase c{"ImageToModelDropsExecutionFields", {}, ""};
    auto* p = c.request.mutable_image_to_model();
    p->set_image_file("https://x/i.png");
    p->set_texture_size(2048);
    p->set_turbo(false);
    c.want_body =
        R"({"flow_name":"image-to-model","params":{"texture_size":2048,)"
        R"("turbo":false}})";
    cases.push_back(c);
  }
  {
    QuoteCase c{"TextToModelDropsPromptsAndSeed", {}, ""};
    auto* p = c.request.mutable_text_to_model();
    p->set_prompt("a chair");
    p->set_negative_prompt("x");
    p->set_seed(3);
    p->set_polygon_limit(1500000);
    c.want_body =
        R"({"flow_name":"text-to-model","params":{"polygon_limit":1500000}})";
    cases.push_back(c);
  }
  {
    QuoteCase c{"NothingPriceRelevant", {}, ""};
    c.request.mutable_texture_model()->set_model_file("https://x/m.glb");
    c.want_body = R"({"flow_name":"texture-model","params":{}})";
    cases.push_back(c);
  }
  {
    QuoteCase c{"ImageGeneration", {}, ""};
    auto* p = c.request.mutable_image_generation();
    p->set_prompt("cat");
    p->set_ai_model("seedream_4_5");
    p->set_image_count(4);
    c.want_body = R"({"flow_name":"image-generation","params":{"ai_model":)"
                  R"("seedream_4_5","image_count":4}})";
    cases.push_back(c);
  }
  {
    QuoteCase c{"ConvertKeepsExportFormat", {}, ""};
    auto* p = c.request.mutable_convert_model_format();
    p->set_model_file("https://x/m.glb");
    p->set_export_format("obj");
    c.want_body =
        R"({"flow_name":"convert-model-format","params":{"export_format":)"
        R"("obj"}})";
    cases.push_back(c);
  }
  {
    QuoteCase c{"PreviewRender", {}, ""};
    auto* p = c.request.mutable_model_preview_render();
    p->set_model_file("https://x/m.glb");
    p->set_image_count(5);
    p->set_resolution("4096x4096");
    c.want_body =
        R"({"flow_name":"model-preview-render","params":{"image_count":5,)"
        R"("resolution":"4096x4096"}})";
    cases.push_back(c);
  }
  return cases;
}

TEST(BuildQuoteBodyTest, Table) {
  for (const QuoteCase& c : QuoteCases()) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> body = BuildQuoteBody(c.request);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, c.want_body);
  }
}

TEST(BuildQuoteBodyTest, NoParamsIsInvalidArgument) {
  absl::StatusOr<std::string> body = BuildQuoteBody(v1::QuotePriceRequest());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triverse::translate
