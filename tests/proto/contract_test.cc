// The triverse.v1 contract mirrors the public Triverse payloads field for
// field: every key of each documented example has a proto field of the same
// name and a compatible type.
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;

std::string TestData(const std::string& name) {
  std::string here = __FILE__;
  here = here.substr(0, here.rfind('/'));  // tests/proto
  std::ifstream in(here + "/../testdata/seeds/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Checks one JSON value against a proto field: scalars by kind, strings for
// enums and timestamps, objects recursively unless the field is a Struct.
void ExpectCompatible(const rapidjson::Value& v, const FieldDescriptor* f,
                      const std::string& path);

void ExpectMirrors(const rapidjson::Value& object, const Descriptor* d,
                   const std::string& path) {
  ASSERT_TRUE(object.IsObject()) << path;
  for (const auto& m : object.GetObject()) {
    const std::string key = m.name.GetString();
    const FieldDescriptor* f = d->FindFieldByName(key);
    ASSERT_NE(f, nullptr) << d->full_name() << " has no field for " << path
                          << "." << key;
    ExpectCompatible(m.value, f, path + "." + key);
  }
}

void ExpectCompatible(const rapidjson::Value& v, const FieldDescriptor* f,
                      const std::string& path) {
  if (v.IsNull()) {
    // Null maps to an unset message or an `optional` scalar.
    EXPECT_TRUE(f->message_type() != nullptr || f->has_presence()) << path;
    return;
  }
  if (v.IsArray()) {
    EXPECT_TRUE(f->is_repeated()) << path;
    for (const auto& e : v.GetArray()) {
      if (f->type() == FieldDescriptor::TYPE_STRING) {
        EXPECT_TRUE(e.IsString()) << path;
      }
    }
    return;
  }
  EXPECT_FALSE(f->is_repeated()) << path;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      EXPECT_TRUE(v.IsString()) << path;
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      ASSERT_TRUE(v.IsString()) << path;
      EXPECT_NE(f->enum_type()->FindValueByName("TASK_STATUS_" +
                                                std::string(v.GetString())),
                nullptr)
          << path;
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      EXPECT_TRUE(v.IsBool()) << path;
      break;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      EXPECT_TRUE(v.IsInt64()) << path;
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      EXPECT_TRUE(v.IsNumber()) << path;
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const std::string type = f->message_type()->full_name();
      if (type == "google.protobuf.Timestamp") {
        EXPECT_TRUE(v.IsString()) << path;
      } else if (type == "google.protobuf.Struct") {
        EXPECT_TRUE(v.IsObject()) << path;
      } else {
        ExpectMirrors(v, f->message_type(), path);
      }
      break;
    }
    default:
      ADD_FAILURE() << path << " has an unexpected proto type";
  }
}

const rapidjson::Value& Data(rapidjson::Document& doc,
                             const std::string& file) {
  doc.Parse(TestData(file).c_str());
  EXPECT_FALSE(doc.HasParseError()) << file;
  return doc.HasMember("data") ? doc["data"] : doc;
}

TEST(ContractTest, TaskMirrorsTheStatusPayload) {
  for (const char* file :
       {"task_status_response.json", "task_status_page_response.json"}) {
    SCOPED_TRACE(file);
    rapidjson::Document doc;
    ExpectMirrors(Data(doc, file), v1::Task::descriptor(), "data");
  }
}

TEST(ContractTest, TaskCreationMirrorsTheCreationPayload) {
  rapidjson::Document doc;
  ExpectMirrors(Data(doc, "task_creation_response.json"),
                v1::TaskCreation::descriptor(), "data");
  // Fields of the table without a value in the example.
  for (const char* name :
       {"read_after_write_deadline_seconds", "read_after_write_header"}) {
    const FieldDescriptor* f =
        v1::TaskCreation::descriptor()->FindFieldByName(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_TRUE(f->has_presence()) << name;
  }
}

TEST(ContractTest, PriceQuoteMirrorsTheQuotePayload) {
  rapidjson::Document doc;
  ExpectMirrors(Data(doc, "pricing_quote_response.json"),
                v1::PriceQuote::descriptor(), "data");
}

TEST(ContractTest, DownloadUrlMirrorsTheDownloadResponse) {
  rapidjson::Document doc;
  ExpectMirrors(Data(doc, "download_url_response.json"),
                v1::DownloadUrl::descriptor(), "data");
}

TEST(ContractTest, OwnModelMirrorsTheOwnModelsItem) {
  rapidjson::Document doc;
  ExpectMirrors(Data(doc, "own_models_item.json"), v1::OwnModel::descriptor(),
                "record");
}

TEST(ContractTest, StatusEnumHasEveryPublicStatusAndUnspecifiedZero) {
  const auto* e = v1::TaskStatus_descriptor();
  EXPECT_EQ(e->value(0)->name(), "TASK_STATUS_UNSPECIFIED");
  EXPECT_EQ(e->value(0)->number(), 0);
  for (const char* s :
       {"PENDING", "QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"}) {
    EXPECT_NE(e->FindValueByName(std::string("TASK_STATUS_") + s), nullptr)
        << s;
  }
}

TEST(ContractTest, ServiceHasEveryUnaryAndStreamingRpc) {
  const auto* s = v1::TaskService::service_full_name();
  EXPECT_STREQ(s, "triverse.v1.TaskService");
  const auto* d = v1::CreateTaskRequest::descriptor()->file()->service(0);
  ASSERT_NE(d, nullptr);
  for (const char* name : {"CreateTask", "GetTask", "QuotePrice",
                           "GetDownloadUrl", "ListOwnModels", "GetAccount"}) {
    const auto* m = d->FindMethodByName(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_FALSE(m->client_streaming() || m->server_streaming()) << name;
  }
  EXPECT_TRUE(d->FindMethodByName("DownloadAsset")->server_streaming());
  EXPECT_TRUE(d->FindMethodByName("UploadFile")->client_streaming());
}

TEST(ContractTest, CreateTaskHasOneParamsMessagePerFlow) {
  const auto* oneof =
      v1::CreateTaskRequest::descriptor()->FindOneofByName("params");
  ASSERT_NE(oneof, nullptr);
  EXPECT_EQ(oneof->field_count(), 10);
  for (const char* flow :
       {"image_to_model", "image_to_mesh", "text_to_model", "text_to_mesh",
        "texture_model", "text_to_texture", "model_preview_render",
        "model_remesh", "convert_model_format", "image_generation"}) {
    const FieldDescriptor* f =
        v1::CreateTaskRequest::descriptor()->FindFieldByName(flow);
    ASSERT_NE(f, nullptr) << flow;
    EXPECT_EQ(f->containing_oneof(), oneof) << flow;
  }
}

}  // namespace
}  // namespace triverse
