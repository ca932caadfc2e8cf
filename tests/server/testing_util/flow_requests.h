// Requests shared by the gateway's tests.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_FLOW_REQUESTS_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_FLOW_REQUESTS_H_

#include <vector>

#include "triverse/v1/task_service.pb.h"

namespace triverse::testing_util {

inline constexpr char kImageUrl[] = "https://example.com/input.png";
inline constexpr char kModelUrl[] = "https://example.com/model.glb";

// OneRequestPerFlow sets the required fields (and a few optional ones) of
// every flow.
inline std::vector<v1::CreateTaskRequest> OneRequestPerFlow() {
  std::vector<v1::CreateTaskRequest> out(10);
  auto* a = out[0].mutable_image_to_model();
  a->set_image_file(kImageUrl);
  a->set_texture_size(2048);
  a->set_turbo(true);
  auto* b = out[1].mutable_image_to_mesh();
  b->set_image_file(kImageUrl);
  b->set_polygon_limit(200000);
  auto* c = out[2].mutable_text_to_model();
  c->set_prompt("a wooden chair");
  c->set_negative_prompt("blurry");
  c->set_seed(42);
  auto* d = out[3].mutable_text_to_mesh();
  d->set_prompt("a stone table");
  auto* e = out[4].mutable_texture_model();
  e->set_image_file(kImageUrl);
  e->set_model_file(kModelUrl);
  auto* f = out[5].mutable_text_to_texture();
  f->set_prompt("rusty metal");
  f->set_model_file(kModelUrl);
  f->set_texture_size(4096);
  auto* g = out[6].mutable_model_preview_render();
  g->set_model_file(kModelUrl);
  g->set_image_count(2);
  g->set_resolution("1024x1024");
  g->add_camera_angles("front");
  g->add_camera_angles("back");
  auto* h = out[7].mutable_model_remesh();
  h->set_model_file(kModelUrl);
  h->set_target_face_count(5000);
  h->set_face_type("quad");
  auto* i = out[8].mutable_convert_model_format();
  i->set_model_file(kModelUrl);
  i->set_export_format("obj");
  auto* j = out[9].mutable_image_generation();
  j->set_prompt("a red fox");
  j->set_image_count(2);
  j->set_aspect_ratio("16:9");
  return out;
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_FLOW_REQUESTS_H_
