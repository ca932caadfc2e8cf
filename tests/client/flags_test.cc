#include "client/cli/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"

namespace triverse::client::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::vector<FlagSpec> Specs() {
  FlagSpec name;
  name.name = "name";
  FlagSpec output;
  output.name = "output";
  output.short_name = 'o';
  FlagSpec wait;
  wait.name = "wait";
  wait.takes_value = false;
  FlagSpec tag;
  tag.name = "tag";
  tag.repeated = true;
  return {name, output, wait, tag};
}

TEST(ParseFlagsTest, FormsOfValuesSwitchesAndPositionals) {
  absl::StatusOr<ParsedFlags> p =
      ParseFlags({"a", "--name", "x", "-o", "json", "--tag=1", "b", "--tag",
                  "2", "--wait", "-", "--", "--name"},
                 Specs());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->positionals, ElementsAre("a", "b", "-", "--name"));
  EXPECT_EQ(p->Last("name"), "x");
  EXPECT_EQ(p->Last("output"), "json");
  EXPECT_THAT(p->values["tag"], ElementsAre("1", "2"));
  EXPECT_TRUE(p->Switch("wait"));
  EXPECT_FALSE(p->Has("missing"));
}

TEST(ParseFlagsTest, OptionalValue) {
  std::vector<FlagSpec> specs = Specs();
  FlagSpec download;
  download.name = "download";
  download.value_name = "FILE";
  download.value_optional = true;
  specs.push_back(download);
  struct Case {
    std::vector<std::string> args;
    std::string value;
  };
  const std::vector<Case> cases = {
      {{"--download"}, ""},
      {{"--download", "--wait"}, ""},
      {{"--download", "-o", "json"}, ""},
      {{"--download", "m.glb", "--wait"}, "m.glb"},
      {{"--download=m.glb"}, "m.glb"},
      {{"--download="}, ""},
      {{"--download", "-"}, "-"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ParsedFlags> p = ParseFlags(c.args, specs);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->Has("download"));
    EXPECT_EQ(p->Last("download"), c.value) << c.args.size();
    EXPECT_TRUE(p->positionals.empty());
  }
  EXPECT_THAT(FormatFlagHelp({download}), HasSubstr("--download [FILE]"));
}

TEST(ParseFlagsTest, ShortFlagForms) {
  absl::StatusOr<ParsedFlags> p = ParseFlags({"-ojson"}, Specs());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Last("output"), "json");
  p = ParseFlags({"-o=table"}, Specs());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->Last("output"), "table");
}

TEST(ParseFlagsTest, LastValueWinsForSingleFlags) {
  absl::StatusOr<ParsedFlags> p = ParseFlags(
      {"--name", "a", "--name=b", "--wait", "--wait=false"}, Specs());
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(p->values["name"], ElementsAre("b"));
  EXPECT_FALSE(p->Switch("wait"));
}

TEST(ParseFlagsTest, Errors) {
  EXPECT_THAT(ParseFlags({"--nmae", "x"}, Specs()).status().message(),
              HasSubstr("unknown flag --nmae; did you mean --name?"));
  EXPECT_THAT(ParseFlags({"-x"}, Specs()).status().message(),
              HasSubstr("unknown flag -x"));
  EXPECT_THAT(ParseFlags({"--name"}, Specs()).status().message(),
              HasSubstr("--name needs a value"));
  EXPECT_THAT(ParseFlags({"--name", "--wait"}, Specs()).status().message(),
              HasSubstr("--name needs a value"));
  EXPECT_THAT(ParseFlags({"--wait=yes"}, Specs()).status().message(),
              HasSubstr("--wait is a switch"));
}

TEST(SuggestTest, ClosestWithinTwoEditsOrPrefix) {
  const std::vector<std::string> words = {"create", "get", "quote", "models"};
  EXPECT_EQ(Suggest("craete", words), "create");
  EXPECT_EQ(Suggest("model", words), "models");
  EXPECT_EQ(Suggest("cre", words), "create");
  EXPECT_EQ(Suggest("xyzzy", words), "");
}

TEST(ParseDurationFlagTest, UnitsAndBareSeconds) {
  EXPECT_EQ(*ParseDurationFlag("t", "30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDurationFlag("t", "1m30s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationFlag("t", "250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDurationFlag("t", "2"), absl::Seconds(2));
  EXPECT_EQ(*ParseDurationFlag("t", "0"), absl::ZeroDuration());
  EXPECT_FALSE(ParseDurationFlag("t", "-1s").ok());
  EXPECT_FALSE(ParseDurationFlag("t", "inf").ok());
  EXPECT_THAT(ParseDurationFlag("t", "soon").status().message(),
              HasSubstr("--t: not a duration: 'soon'"));
}

TEST(EnumFlagTest, ShortNamesAndChoices) {
  const auto& kind = *v1::FileKind_descriptor();
  EXPECT_EQ(EnumChoices(kind), "image|model");
  EXPECT_EQ(ShortEnumName(*kind.FindValueByName("FILE_KIND_IMAGE")), "image");
  EXPECT_EQ(*ParseEnumFlag(kind, "kind", "Model"), v1::FILE_KIND_MODEL);
  EXPECT_EQ(*ParseEnumFlag(kind, "kind", "FILE_KIND_IMAGE"),
            v1::FILE_KIND_IMAGE);
  EXPECT_FALSE(ParseEnumFlag(kind, "kind", "unspecified").ok());
  EXPECT_EQ(EnumChoices(*v1::TaskStatus_descriptor()),
            "pending|queued|running|success|failed|cancelled");
}

TEST(FlagsForMessageTest, OneFlagPerField) {
  std::vector<FlagSpec> flags =
      FlagsForMessage(*v1::ModelPreviewRenderParams::descriptor());
  std::vector<std::pair<std::string, bool>> names;
  for (const FlagSpec& f : flags) names.emplace_back(f.name, f.takes_value);
  EXPECT_THAT(
      names,
      ElementsAre(Pair("model-file", true), Pair("render-mode", true),
                  Pair("image-count", true), Pair("resolution", true),
                  Pair("render-format", true), Pair("enable-rgb-render", false),
                  Pair("enable-white-render", false),
                  Pair("camera-angles", true), Pair("preset-name", true)));
  EXPECT_TRUE(flags[7].repeated);
}

TEST(SetFieldsFromFlagsTest, TypesAndErrors) {
  absl::StatusOr<ParsedFlags> p = ParseFlags(
      {"--prompt", "a chair", "--seed", "9007199254740993", "--turbo"},
      FlagsForMessage(*v1::TextToModelParams::descriptor()));
  ASSERT_TRUE(p.ok()) << p.status();
  v1::TextToModelParams params;
  ASSERT_TRUE(SetFieldsFromFlags(*p, params).ok());
  EXPECT_EQ(params.prompt(), "a chair");
  EXPECT_EQ(params.seed(), 9007199254740993);
  EXPECT_TRUE(params.turbo());
  EXPECT_FALSE(params.has_texture_size());

  p = ParseFlags({"--polygon-limit", "99999999999"},
                 FlagsForMessage(*v1::TextToModelParams::descriptor()));
  ASSERT_TRUE(p.ok());
  absl::Status s = SetFieldsFromFlags(*p, params);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--polygon-limit: not an integer"));
}

}  // namespace
}  // namespace triverse::client::cli
