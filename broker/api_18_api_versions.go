package broker

// ApiVersions (key 18), versions 0–4.
//
// Behavior: lists every API in the table with its served range. A request
// at a version above 4 is answered at version 0 with UNSUPPORTED_VERSION and
// the full list (protocol decodes it as v0), so newer clients downgrade.
// v3+ validates the client software name and version (KIP-511) and answers
// INVALID_REQUEST for malformed ones, as Kafka does.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (b *Broker) handleApiVersions(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if _, max, _ := b.Versions(kmsg.ApiVersions.Int16()); r.Header.Version > max {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	} else if req.Version >= 3 {
		if !softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion) {
			resp.ErrorCode = kerr.InvalidRequest.Code
		} else {
			r.Session.SetClientSoftware(req.ClientSoftwareName, req.ClientSoftwareVersion)
		}
	}
	for _, a := range b.apis {
		if a == nil {
			continue
		}
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key.Int16(), MinVersion: a.min, MaxVersion: a.max})
	}
	return resp
}
