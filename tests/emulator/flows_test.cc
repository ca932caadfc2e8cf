#include "emulator/flows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kImageKey[] = "tasks/uid_u/20250805/reference.png";
constexpr char kModelKey[] = "tasks/uid_u/20250805/mesh.glb";

rapidjson::Document ParseJson(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  EXPECT_FALSE(doc.HasParseError()) << json;
  return doc;
}

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// A minimal valid body per flow: every required field and nothing else.
std::string MinimalBody(absl::string_view flow) {
  if (flow == "image-to-model" || flow == "image-to-mesh") {
    return absl::StrCat(R"({"image_file":")", kImageKey, R"("})");
  }
  if (flow == "text-to-model" || flow == "text-to-mesh" ||
      flow == "image-generation") {
    return R"({"prompt":"a red chair"})";
  }
  if (flow == "texture-model") {
    return absl::StrCat(R"({"image_file":")", kImageKey, R"(","model_file":")",
                        kModelKey, R"("})");
  }
  if (flow == "text-to-texture") {
    return absl::StrCat(R"({"prompt":"rusty metal","model_file":")", kModelKey,
                        R"("})");
  }
  if (flow == "model-preview-render" || flow == "model-remesh") {
    return absl::StrCat(R"({"model_file":")", kModelKey, R"("})");
  }
  if (flow == "convert-model-format") {
    return absl::StrCat(R"({"model_file":")", kModelKey,
                        R"(","export_format":"obj"})");
  }
  ADD_FAILURE() << "no body for " << flow;
  return "{}";
}

// Required fields per flow, in documentation order.
std::vector<std::string> RequiredFields(absl::string_view flow) {
  if (flow == "image-to-model" || flow == "image-to-mesh") {
    return {"image_file"};
  }
  if (flow == "text-to-model" || flow == "text-to-mesh" ||
      flow == "image-generation") {
    return {"prompt"};
  }
  if (flow == "texture-model") return {"image_file", "model_file"};
  if (flow == "text-to-texture") return {"prompt", "model_file"};
  if (flow == "convert-model-format") return {"model_file", "export_format"};
  return {"model_file"};
}

// Parses `body` for `flow` and returns the error, failing if it parsed.
ApiError ParseError(absl::string_view flow, const std::string& body,
                    bool legacy = false) {
  auto r = ParseCreateRequest(flow, body, legacy);
  EXPECT_FALSE(r.ok()) << flow << " accepted " << body;
  if (r.ok()) return ApiError{};
  return r.error();
}

void ExpectInvalidParam(absl::string_view flow, const std::string& body,
                        absl::string_view field, absl::string_view rule,
                        bool legacy = false) {
  ApiError e = ParseError(flow, body, legacy);
  EXPECT_EQ(e.http_status, 400) << body;
  EXPECT_EQ(e.code, kInvalidParameters) << body;
  EXPECT_THAT(e.suggestion, HasSubstr(absl::StrCat("'", field, "'"))) << body;
  EXPECT_THAT(e.suggestion, HasSubstr(rule)) << body;
}

CreateRequest ParseOk(absl::string_view flow, const std::string& body,
                      bool legacy = false) {
  auto r = ParseCreateRequest(flow, body, legacy);
  EXPECT_TRUE(r.ok()) << flow << " " << body << ": "
                      << (r.ok() ? "" : r.error().suggestion);
  if (!r.ok()) return CreateRequest{};
  return r.value();
}

std::string ImageToModel(absl::string_view extra) {
  return absl::StrCat(R"({"image_file":")", kImageKey, "\"", extra, "}");
}

std::string TextToModel(absl::string_view extra) {
  return absl::StrCat(R"({"prompt":"a red chair")", extra, "}");
}

TEST(FlowNamesTest, TenFlowsInDocumentationOrder) {
  EXPECT_THAT(FlowNames(),
              ElementsAre("image-to-model", "image-to-mesh", "text-to-model",
                          "text-to-mesh", "texture-model", "text-to-texture",
                          "model-preview-render", "model-remesh",
                          "convert-model-format", "image-generation"));
  for (const std::string& name : FlowNames()) EXPECT_TRUE(IsKnownFlow(name));
  EXPECT_FALSE(IsKnownFlow("multiview-to-model"));
  EXPECT_FALSE(IsKnownFlow(""));
  EXPECT_FALSE(IsKnownFlow("Image-To-Model"));
}

TEST(ParseCreateRequestTest, EveryFlowAcceptsItsMinimalBody) {
  for (const std::string& flow : FlowNames()) {
    SCOPED_TRACE(flow);
    CreateRequest req = ParseOk(flow, MinimalBody(flow));
    EXPECT_EQ(req.flow_name, flow);
    EXPECT_GT(req.cost_credits, 0);
    ASSERT_FALSE(req.assets.empty());
    ASSERT_GE(req.primary_asset, 0);
    ASSERT_LT(req.primary_asset, static_cast<int>(req.assets.size()));
    EXPECT_FALSE(req.client_order_id.has_value());
    EXPECT_FALSE(req.allow_duplicate);
    EXPECT_EQ(req.fingerprint, absl::StrCat(flow, " ", req.public_input_json));
    rapidjson::Document input = ParseJson(req.public_input_json);
    ASSERT_TRUE(input.IsObject());
  }
}

TEST(ParseCreateRequestTest, EveryRequiredFieldIsChecked) {
  for (const std::string& flow : FlowNames()) {
    ExpectInvalidParam(flow, "{}", RequiredFields(flow)[0], "is required");
    for (const std::string& field : RequiredFields(flow)) {
      SCOPED_TRACE(absl::StrCat(flow, " without ", field));
      // Absent and null are both "missing".
      rapidjson::Document body = ParseJson(MinimalBody(flow));
      ASSERT_TRUE(body.HasMember(field.c_str()));
      body[field.c_str()].SetNull();
      ExpectInvalidParam(flow, Serialize(body), field, "is required");
      body.RemoveMember(field.c_str());
      ExpectInvalidParam(flow, Serialize(body), field, "is required");
    }
  }
}

TEST(ParseCreateRequestTest, UnknownFlowIs2002) {
  for (absl::string_view flow :
       {"multiview-to-model", "", "image_to_model", "tasks"}) {
    auto r = ParseCreateRequest(flow, TextToModel(""), false);
    ASSERT_FALSE(r.ok()) << flow;
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_EQ(r.error().code, kTaskTypeNotSupported);
    EXPECT_THAT(r.error().suggestion, HasSubstr("image-to-model"));
  }
}

TEST(ParseCreateRequestTest, MalformedBodyIs1004) {
  for (const char* body :
       {"", "{", "[]", "\"x\"", "42", "null", R"({"prompt":"a red chair",})"}) {
    auto r = ParseCreateRequest("text-to-model", body, false);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().http_status, 400) << body;
    EXPECT_EQ(r.error().code, kInvalidParameters) << body;
  }
}

TEST(ParseCreateRequestTest, TypeErrorsNameTheField) {
  ExpectInvalidParam("image-to-model", R"({"image_file":42})", "image_file",
                     "must be a string");
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"polygon_limit":"1")"),
                     "polygon_limit", "must be an integer");
  ExpectInvalidParam("image-to-model",
                     ImageToModel(R"(,"polygon_limit":1000.5)"),
                     "polygon_limit", "must be an integer");
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"texture_size":true)"),
                     "texture_size", "must be an integer");
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"turbo":"true")"),
                     "turbo", "must be a boolean");
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"turbo":1)"), "turbo",
                     "must be a boolean");
  ExpectInvalidParam("text-to-model", R"({"prompt":["a red chair"]})", "prompt",
                     "must be a string");
  ExpectInvalidParam("text-to-model", TextToModel(R"(,"negative_prompt":7)"),
                     "negative_prompt", "must be a string");
  ExpectInvalidParam("text-to-model", TextToModel(R"(,"seed":"7")"), "seed",
                     "must be an integer");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(R"({"model_file":")", kModelKey,
                                  R"(","camera_angles":["front",1]})"),
                     "camera_angles", "must be an array of strings");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(R"({"model_file":")", kModelKey,
                                  R"(","camera_angles":"front"})"),
                     "camera_angles", "must be an array of strings");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(R"({"model_file":")", kModelKey,
                                  R"(","enable_rgb_render":"yes"})"),
                     "enable_rgb_render", "must be a boolean");
  ExpectInvalidParam("image-to-model",
                     ImageToModel(R"(,"allow_duplicate":"true")"),
                     "allow_duplicate", "must be a boolean");
}

TEST(ParseCreateRequestTest, PolygonLimitRangeNewApi) {
  for (absl::string_view flow :
       {"image-to-model", "image-to-mesh", "text-to-model", "text-to-mesh",
        "texture-model", "text-to-texture"}) {
    SCOPED_TRACE(flow);
    const std::string base = MinimalBody(flow);
    auto with = [&](int64_t v) {
      return absl::StrCat(base.substr(0, base.size() - 1),
                          ",\"polygon_limit\":", v, "}");
    };
    for (int64_t ok : {int64_t{1000}, int64_t{1000000}, int64_t{1500000}}) {
      CreateRequest req = ParseOk(flow, with(ok));
      rapidjson::Document input = ParseJson(req.public_input_json);
      ASSERT_TRUE(input.HasMember("polygon_limit"));
      EXPECT_EQ(input["polygon_limit"].GetInt64(), ok);
    }
    for (int64_t bad : {int64_t{999}, int64_t{0}, int64_t{-1}, int64_t{1500001},
                        int64_t{10000000}}) {
      ExpectInvalidParam(flow, with(bad), "polygon_limit",
                         "must be between 1000 and 1500000");
    }
  }
}

TEST(ParseCreateRequestTest, PolygonLimitRangeLegacyApi) {
  for (int64_t ok : {int64_t{1000}, int64_t{1500001}, int64_t{10000000}}) {
    CreateRequest req = ParseOk(
        "image-to-model", ImageToModel(absl::StrCat(",\"polygon_limit\":", ok)),
        /*legacy=*/true);
    rapidjson::Document input = ParseJson(req.public_input_json);
    EXPECT_EQ(input["polygon_limit"].GetInt64(), ok);
  }
  ExpectInvalidParam("image-to-model",
                     ImageToModel(R"(,"polygon_limit":10000001)"),
                     "polygon_limit", "must be between 1000 and 10000000",
                     /*legacy=*/true);
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"polygon_limit":999)"),
                     "polygon_limit", "must be between 1000 and 10000000",
                     /*legacy=*/true);
}

TEST(ParseCreateRequestTest, TextureSizeRange) {
  for (absl::string_view flow : {"image-to-model", "text-to-model",
                                 "texture-model", "text-to-texture"}) {
    SCOPED_TRACE(flow);
    const std::string base = MinimalBody(flow);
    auto with = [&](int64_t v) {
      return absl::StrCat(base.substr(0, base.size() - 1),
                          ",\"texture_size\":", v, "}");
    };
    for (int64_t ok : {1024, 2048, 4096}) {
      CreateRequest req = ParseOk(flow, with(ok));
      EXPECT_EQ(ParseJson(req.public_input_json)["texture_size"].GetInt64(),
                ok);
    }
    for (int64_t bad : {1023, 512, 0, 4097, 8192}) {
      ExpectInvalidParam(flow, with(bad), "texture_size",
                         "must be between 1024 and 4096");
    }
  }
}

TEST(ParseCreateRequestTest, PromptAtLeastThreeCharacters) {
  for (absl::string_view flow :
       {"text-to-model", "text-to-mesh", "image-generation"}) {
    SCOPED_TRACE(flow);
    EXPECT_EQ(
        ParseJson(
            ParseOk(flow, R"({"prompt":"cat"})").public_input_json)["prompt"]
            .GetString(),
        std::string("cat"));
    for (const char* bad : {"", "a", "ab"}) {
      ExpectInvalidParam(flow, absl::StrCat(R"({"prompt":")", bad, R"("})"),
                         "prompt", "at least 3 characters");
    }
  }
  ExpectInvalidParam(
      "text-to-texture",
      absl::StrCat(R"({"prompt":"ab","model_file":")", kModelKey, R"("})"),
      "prompt", "at least 3 characters");
  // Characters, not bytes: two non-ASCII characters are still too short,
  // three are enough.
  ExpectInvalidParam("text-to-model", R"({"prompt":"\u732b\u732b"})", "prompt",
                     "at least 3 characters");
  ExpectInvalidParam("text-to-model", R"({"prompt":"\u00e9\u00e9"})", "prompt",
                     "at least 3 characters");
  ParseOk("text-to-model", R"({"prompt":"\u732b\u732b\u732b"})");
}

TEST(ParseCreateRequestTest, ImageCountRange) {
  const std::string render_base =
      absl::StrCat(R"({"model_file":")", kModelKey, "\"");
  const std::string gen_base = R"({"prompt":"a red chair")";
  for (const auto& [flow, base] :
       std::vector<std::pair<std::string, std::string>>{
           {"model-preview-render", render_base},
           {"image-generation", gen_base}}) {
    SCOPED_TRACE(flow);
    for (int64_t ok : {1, 5, 10}) {
      CreateRequest req =
          ParseOk(flow, absl::StrCat(base, ",\"image_count\":", ok, "}"));
      EXPECT_EQ(ParseJson(req.public_input_json)["image_count"].GetInt64(), ok);
      // One asset per image (plus a preview for renders).
      int64_t images = 0;
      for (const AssetSpec& a : req.assets) {
        if (a.field != "preview_url") ++images;
      }
      EXPECT_EQ(images, ok);
    }
    for (int64_t bad : {0, -1, 11, 100}) {
      ExpectInvalidParam(flow,
                         absl::StrCat(base, ",\"image_count\":", bad, "}"),
                         "image_count", "must be between 1 and 10");
    }
  }
}

TEST(ParseCreateRequestTest, OtherDocumentedRanges) {
  const std::string model = absl::StrCat(R"({"model_file":")", kModelKey, "\"");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(model, R"(,"render_mode":"fancy"})"),
                     "render_mode", "must be one of");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(model, R"(,"resolution":"big"})"),
                     "resolution", "WIDTHxHEIGHT");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(model, R"(,"resolution":"8192x8192"})"),
                     "resolution", "WIDTHxHEIGHT");
  ExpectInvalidParam("model-preview-render",
                     absl::StrCat(model, R"(,"camera_angles":["front","up"]})"),
                     "camera_angles", "items must be one of");
  ExpectInvalidParam("model-remesh",
                     absl::StrCat(model, R"(,"target_face_count":99})"),
                     "target_face_count", "must be between 100 and 1500000");
  ExpectInvalidParam("model-remesh",
                     absl::StrCat(model, R"(,"face_type":"hex"})"), "face_type",
                     "must be one of");
  ExpectInvalidParam("convert-model-format",
                     absl::StrCat(model, R"(,"export_format":"fbx"})"),
                     "export_format", "must be one of: glb, obj, stl");
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"model_version":"v1")"),
                     "model_version", "must be one of: v2");
  ExpectInvalidParam("text-to-model", TextToModel(R"(,"seed":-1)"), "seed",
                     "must be between 0 and 4294967295");
  ExpectInvalidParam("image-generation", TextToModel(R"(,"width":255)"),
                     "width", "must be between 256 and 4096");
  ExpectInvalidParam("image-generation",
                     TextToModel(R"(,"aspect_ratio":"2:1")"), "aspect_ratio",
                     "must be one of");
  // File inputs are a file_key or an http(s) URL.
  ExpectInvalidParam("image-to-model", R"({"image_file":"reference.png"})",
                     "image_file", "file_key");
  ExpectInvalidParam("image-to-model", R"({"image_file":"ftp://x/y.png"})",
                     "image_file", "file_key");
  ParseOk("image-to-model", R"({"image_file":"https://example.com/a.png"})");
  ParseOk("image-to-model", R"({"image_file":"http://example.com/a.png"})");
}

TEST(ParseCreateRequestTest, ClientOrderIdRules) {
  const std::string max_id(64, 'a');
  for (const std::string& ok :
       {std::string("a"), std::string("Order_1-x"), max_id}) {
    CreateRequest req = ParseOk(
        "image-to-model",
        ImageToModel(absl::StrCat(R"(,"client_order_id":")", ok, "\"")));
    ASSERT_TRUE(req.client_order_id.has_value()) << ok;
    EXPECT_EQ(*req.client_order_id, ok);
    // The order id is not part of the public input nor of the fingerprint.
    EXPECT_FALSE(ParseJson(req.public_input_json).HasMember("client_order_id"));
    EXPECT_EQ(req.fingerprint,
              ParseOk("image-to-model", ImageToModel("")).fingerprint);
  }
  for (const std::string& bad :
       {std::string(""), std::string(65, 'a'), std::string("has space"),
        std::string("dot.ted"), std::string("sl/ash"), std::string("\\u00e9"),
        std::string("ab\\u0000cd")}) {
    ExpectInvalidParam(
        "image-to-model",
        ImageToModel(absl::StrCat(R"(,"client_order_id":")", bad, "\"")),
        "client_order_id", "1-64 characters from [A-Za-z0-9_-]");
  }
  ExpectInvalidParam("image-to-model", ImageToModel(R"(,"client_order_id":12)"),
                     "client_order_id", "1-64 characters");
  // null means absent.
  EXPECT_FALSE(
      ParseOk("image-to-model", ImageToModel(R"(,"client_order_id":null)"))
          .client_order_id.has_value());

  EXPECT_TRUE(IsValidClientOrderId("A-z_09"));
  EXPECT_TRUE(IsValidClientOrderId(max_id));
  EXPECT_FALSE(IsValidClientOrderId(""));
  EXPECT_FALSE(IsValidClientOrderId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidClientOrderId("a+b"));
  EXPECT_FALSE(IsValidClientOrderId(absl::string_view("a\0b", 3)));
}

TEST(ParseCreateRequestTest, AllowDuplicate) {
  EXPECT_TRUE(
      ParseOk("text-to-model", TextToModel(R"(,"allow_duplicate":true)"))
          .allow_duplicate);
  EXPECT_FALSE(
      ParseOk("text-to-model", TextToModel(R"(,"allow_duplicate":false)"))
          .allow_duplicate);
}

TEST(ParseCreateRequestTest, LegacyIgnoresIdempotencyFields) {
  CreateRequest req = ParseOk(
      "image-to-model",
      ImageToModel(R"(,"client_order_id":"not valid!","allow_duplicate":true)"),
      /*legacy=*/true);
  EXPECT_FALSE(req.client_order_id.has_value());
  EXPECT_FALSE(req.allow_duplicate);
}

TEST(ParseCreateRequestTest, ImageToModelDefaultsAndSamplePrice) {
  CreateRequest req = ParseOk("image-to-model", ImageToModel(""));
  // image_file is echoed as image_url; defaults are filled in; nothing else.
  EXPECT_EQ(req.public_input_json,
            absl::StrCat(R"({"image_url":")", kImageKey,
                         R"(","model_version":"v2","polygon_limit":1000000,)"
                         R"("texture_size":1024,"turbo":false})"));
  EXPECT_EQ(req.cost_credits, 120);  // the documented sample price
  EXPECT_THAT(req.file_refs, ElementsAre(Pair("image_file", kImageKey)));
  EXPECT_TRUE(req.texts.empty());
  ASSERT_EQ(req.assets.size(), 4u);
  EXPECT_EQ(req.assets[0].field, "preprocessed_image_url");
  EXPECT_EQ(req.assets[1].field, "geometry_model_url");
  EXPECT_EQ(req.assets[2].field, "textured_model_url");
  EXPECT_EQ(req.assets[3].field, "preview_url");
  EXPECT_FALSE(req.assets[3].list);
  EXPECT_EQ(req.primary_asset, 2);
  EXPECT_EQ(req.assets[2].file_name, "textured_model_0.glb");
  EXPECT_EQ(req.assets[2].kind, "model");
  EXPECT_EQ(req.assets[0].kind, "image");
}

TEST(ParseCreateRequestTest, UnknownFieldsAreNotEchoed) {
  CreateRequest req = ParseOk(
      "image-to-model",
      ImageToModel(R"(,"user_id":"x","flow_run_id":"y","texture_size":2048)"));
  rapidjson::Document input = ParseJson(req.public_input_json);
  EXPECT_FALSE(input.HasMember("user_id"));
  EXPECT_FALSE(input.HasMember("flow_run_id"));
  EXPECT_FALSE(input.HasMember("image_file"));
  EXPECT_EQ(input["texture_size"].GetInt(), 2048);
  EXPECT_EQ(input.MemberCount(), 5u);
}

TEST(ParseCreateRequestTest, DefaultsOfEveryFlow) {
  struct Case {
    std::string flow;
    std::string input;
    int64_t cost;
  };
  const std::vector<Case> cases = {
      {"image-to-mesh",
       absl::StrCat(R"({"image_url":")", kImageKey,
                    R"(","model_version":"v2","polygon_limit":1000000,)"
                    R"("turbo":false})"),
       60},
      {"text-to-model",
       R"({"prompt":"a red chair","polygon_limit":1000000,)"
       R"("texture_size":1024,"turbo":false})",
       120},
      {"text-to-mesh",
       R"({"prompt":"a red chair","polygon_limit":1000000,"turbo":false})", 60},
      {"texture-model",
       absl::StrCat(R"({"image_url":")", kImageKey, R"(","model_file":")",
                    kModelKey,
                    R"(","model_version":"v2","polygon_limit":1000000,)"
                    R"("texture_size":1024})"),
       80},
      {"text-to-texture",
       absl::StrCat(R"({"prompt":"rusty metal","model_file":")", kModelKey,
                    R"(","model_version":"v2","texture_size":1024,)"
                    R"("polygon_limit":1000000})"),
       80},
      {"model-preview-render",
       absl::StrCat(R"({"model_file":")", kModelKey,
                    R"(","render_mode":"basic","image_count":3,)"
                    R"("resolution":"2048x2048","render_format":"PNG",)"
                    R"("enable_rgb_render":true,"enable_white_render":true})"),
       6},
      {"model-remesh",
       absl::StrCat(R"({"model_file":")", kModelKey,
                    R"(","target_face_count":50000,"face_type":"triangle",)"
                    R"("export_format":"glb"})"),
       20},
      {"convert-model-format",
       absl::StrCat(R"({"model_file":")", kModelKey,
                    R"(","export_format":"obj"})"),
       5},
      {"image-generation",
       R"({"prompt":"a red chair","ai_model":"seedream_4_5",)"
       R"("image_count":1,"aspect_ratio":"1:1"})",
       4},
  };
  for (const Case& c : cases) {
    CreateRequest req = ParseOk(c.flow, MinimalBody(c.flow));
    EXPECT_EQ(req.public_input_json, c.input) << c.flow;
    EXPECT_EQ(req.cost_credits, c.cost) << c.flow;
  }
}

TEST(ParseCreateRequestTest, AliasesAreAcceptedUnderTheDocumentedName) {
  CreateRequest req = ParseOk(
      "text-to-texture",
      R"({"text_prompt":"rusty metal","model_url":"https://x.test/m.glb"})");
  rapidjson::Document input = ParseJson(req.public_input_json);
  EXPECT_STREQ(input["prompt"].GetString(), "rusty metal");
  EXPECT_STREQ(input["model_file"].GetString(), "https://x.test/m.glb");
  EXPECT_FALSE(input.HasMember("text_prompt"));
  EXPECT_FALSE(input.HasMember("model_url"));
  EXPECT_THAT(req.texts, ElementsAre("rusty metal"));
  EXPECT_THAT(req.file_refs,
              ElementsAre(Pair("model_file", "https://x.test/m.glb")));
}

TEST(ParseCreateRequestTest, ModeratedTextsAndFileRefsAreCollected) {
  CreateRequest req =
      ParseOk("text-to-model", TextToModel(R"(,"negative_prompt":"blurry")"));
  EXPECT_THAT(req.texts, ElementsAre("a red chair", "blurry"));
  EXPECT_TRUE(req.file_refs.empty());

  req = ParseOk("texture-model", MinimalBody("texture-model"));
  EXPECT_THAT(req.file_refs, ElementsAre(Pair("image_file", kImageKey),
                                         Pair("model_file", kModelKey)));
  // A NUL does not hide the rest of the text from moderation.
  req = ParseOk("text-to-model", R"({"prompt":"ok\u0000forbidden"})");
  ASSERT_EQ(req.texts.size(), 1u);
  EXPECT_EQ(req.texts[0], std::string("ok\0forbidden", 12));
}

TEST(ParseCreateRequestTest, PriceFollowsPriceParameters) {
  EXPECT_EQ(ParseOk("image-to-model", ImageToModel(R"(,"texture_size":2048)"))
                .cost_credits,
            140);
  EXPECT_EQ(ParseOk("image-to-model", ImageToModel(R"(,"texture_size":4096)"))
                .cost_credits,
            160);
  EXPECT_EQ(
      ParseOk("image-to-model", ImageToModel(R"(,"polygon_limit":1500000)"))
          .cost_credits,
      130);
  EXPECT_EQ(
      ParseOk("image-to-model", ImageToModel(R"(,"turbo":true)")).cost_credits,
      100);
  EXPECT_EQ(ParseOk("image-generation",
                    R"({"prompt":"a cat","ai_model":"seedream_4_5",)"
                    R"("image_count":4})")
                .cost_credits,
            16);
  EXPECT_EQ(ParseOk("image-generation",
                    R"({"prompt":"a cat","ai_model":"other","image_count":4})")
                .cost_credits,
            12);
  EXPECT_EQ(ParseOk("model-preview-render",
                    absl::StrCat(R"({"model_file":")", kModelKey,
                                 R"(","resolution":"4096x4096",)"
                                 R"("image_count":2})"))
                .cost_credits,
            8);
}

TEST(ParseCreateRequestTest, FlowSpecificAssets) {
  CreateRequest remesh =
      ParseOk("model-remesh", absl::StrCat(R"({"model_file":")", kModelKey,
                                           R"(","export_format":"stl"})"));
  ASSERT_EQ(remesh.primary_asset, 0);
  EXPECT_EQ(remesh.assets[0].file_name, "remeshed_model_0.stl");
  EXPECT_EQ(remesh.assets[0].type, AssetType::kStl);

  CreateRequest gen =
      ParseOk("image-generation",
              R"({"prompt":"a cat","image_count":2,"width":512,"height":768})");
  ASSERT_EQ(gen.assets.size(), 2u);
  EXPECT_EQ(gen.assets[1].file_name, "image_1.png");
  EXPECT_EQ(gen.assets[1].width, 512);
  EXPECT_EQ(gen.assets[1].height, 768);
  EXPECT_EQ(gen.assets[1].kind, "image");

  CreateRequest mesh = ParseOk("image-to-mesh", MinimalBody("image-to-mesh"));
  EXPECT_EQ(mesh.assets[mesh.primary_asset].field, "geometry_model_url");
}

// ---------------------------------------------------------------------------
// ParseQuoteRequest

PriceQuote QuoteOk(const std::string& body) {
  auto r = ParseQuoteRequest(body);
  EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().suggestion);
  if (!r.ok()) return PriceQuote{};
  return r.value();
}

TEST(ParseQuoteRequestTest, SeedImageGenerationExample) {
  PriceQuote q =
      QuoteOk(R"({"flow_name":"image-generation",)"
              R"("params":{"ai_model":"seedream_4_5","image_count":4}})");
  EXPECT_EQ(q.flow_name, "image-generation");
  EXPECT_EQ(q.params_json, R"({"ai_model":"seedream_4_5","image_count":4})");
  EXPECT_EQ(q.cost_credits, 16);
}

TEST(ParseQuoteRequestTest, FlowNameAlias) {
  PriceQuote q = QuoteOk(R"({"flowName":"image-to-model"})");
  EXPECT_EQ(q.flow_name, "image-to-model");
  EXPECT_EQ(q.cost_credits, 120);
  EXPECT_EQ(q.params_json, R"({"model_version":"v2","polygon_limit":1000000,)"
                           R"("texture_size":1024,"turbo":false})");
}

TEST(ParseQuoteRequestTest, UnknownAndExecutionOnlyParamsAreDropped) {
  PriceQuote q = QuoteOk(
      R"({"flow_name":"image-generation","params":{"ai_model":"seedream_4_5",)"
      R"("image_count":2,"prompt":"a cat","image_file":"tasks/x.png",)"
      R"("pricing_snapshot":{"a":1},"aspect_ratio":"16:9","bogus":true}})");
  EXPECT_EQ(q.params_json, R"({"ai_model":"seedream_4_5","image_count":2})");
  EXPECT_EQ(q.cost_credits, 8);
}

TEST(ParseQuoteRequestTest, SurfaceIsIgnored) {
  const std::string params =
      R"("params":{"texture_size":2048,"polygon_limit":1500000})";
  PriceQuote plain =
      QuoteOk(absl::StrCat(R"({"flow_name":"image-to-model",)", params, "}"));
  for (const char* surface : {R"("web")", R"("api")", "42", R"({"x":1})"}) {
    PriceQuote q =
        QuoteOk(absl::StrCat(R"({"flow_name":"image-to-model",)", params,
                             R"(,"surface":)", surface, "}"));
    EXPECT_EQ(q.cost_credits, plain.cost_credits) << surface;
    EXPECT_EQ(q.params_json, plain.params_json) << surface;
  }
  EXPECT_EQ(plain.cost_credits, 150);
  EXPECT_EQ(plain.params_json,
            R"({"model_version":"v2","polygon_limit":1500000,)"
            R"("texture_size":2048,"turbo":false})");
}

TEST(ParseQuoteRequestTest, Errors) {
  auto missing = ParseQuoteRequest(R"({"params":{}})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, kInvalidParameters);
  EXPECT_THAT(missing.error().suggestion, HasSubstr("'flow_name'"));

  auto unknown = ParseQuoteRequest(R"({"flow_name":"teleport"})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().http_status, 400);
  EXPECT_EQ(unknown.error().code, kTaskTypeNotSupported);

  auto bad_params =
      ParseQuoteRequest(R"({"flow_name":"image-to-model","params":[1]})");
  ASSERT_FALSE(bad_params.ok());
  EXPECT_EQ(bad_params.error().code, kInvalidParameters);
  EXPECT_THAT(bad_params.error().suggestion, HasSubstr("'params'"));

  auto bad_type = ParseQuoteRequest(
      R"({"flow_name":"image-to-model","params":{"texture_size":"big"}})");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_EQ(bad_type.error().code, kInvalidParameters);
  EXPECT_THAT(bad_type.error().suggestion, HasSubstr("'params.texture_size'"));

  auto not_json = ParseQuoteRequest("flow_name=image-to-model");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().code, kInvalidParameters);
}

TEST(ParseQuoteRequestTest, QuoteMatchesCreationPrice) {
  for (const std::string& flow : FlowNames()) {
    PriceQuote q = QuoteOk(absl::StrCat(R"({"flow_name":")", flow, "\"}"));
    CreateRequest req = ParseOk(flow, MinimalBody(flow));
    if (flow == "convert-model-format") {
      // export_format is required on creation and has no default.
      EXPECT_EQ(q.cost_credits, 5);
      continue;
    }
    EXPECT_EQ(q.cost_credits, req.cost_credits) << flow;
  }
}

}  // namespace
}  // namespace triverse::emulator
