// MakeRestProviderStub: the one place that picks a provider's adapter.
#ifndef TRIVERSE_SERVER_UPSTREAM_PROVIDER_FACTORY_H_
#define TRIVERSE_SERVER_UPSTREAM_PROVIDER_FACTORY_H_

#include <memory>

#include "server/http/curl_engine.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/rest_transport.h"

namespace triverse::upstream {

// MakeRestProviderStub returns the REST adapter of `kind` (RestTriverseStub,
// RestTripoStub or RestSirayStub) over `engine`, which must outlive it.
std::shared_ptr<ProviderStub> MakeRestProviderStub(
    ProviderKind kind, http::CurlEngine* engine,
    RestTransport::Options options);

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_PROVIDER_FACTORY_H_
