#include "server/upstream/provider_factory.h"

#include <utility>

#include "server/upstream/siray_stub.h"
#include "server/upstream/tripo_stub.h"
#include "server/upstream/triverse_stub.h"

namespace triverse::upstream {

std::shared_ptr<ProviderStub> MakeRestProviderStub(
    ProviderKind kind, http::CurlEngine* engine,
    RestTransport::Options options) {
  switch (kind) {
    case ProviderKind::kTripo:
      return std::make_shared<RestTripoStub>(engine, std::move(options));
    case ProviderKind::kSiray:
      return std::make_shared<RestSirayStub>(engine, std::move(options));
    case ProviderKind::kTriverse:
      break;
  }
  return std::make_shared<RestTriverseStub>(engine, std::move(options));
}

}  // namespace triverse::upstream
