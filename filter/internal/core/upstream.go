package core

// The upstream request's headers: what of the client's goes on, the
// operator's credentials and the attempt's own headers.

import "github.com/ai-proxy-wasm/ai-proxy-wasm/convert"

// upstreamHeaders builds the provider's request headers: the request line,
// the client headers that may go on, then the operator's credentials and
// the gateway's own headers, each replacing a client header of that name.
func (s *Stream) upstreamHeaders(path string, extra [][2]string) [][2]string {
	t := s.t
	h := make([][2]string, 0, len(s.headers)+8)
	h = append(h, [2]string{":method", s.method}, [2]string{":scheme", t.scheme},
		[2]string{":authority", t.authority}, [2]string{":path", path})
	for _, kv := range s.headers {
		if keepHeader(kv[0], s.client, t.upstream) {
			h = append(h, kv)
		}
	}
	for _, set := range [...][][2]string{s.b.headers, extra} {
		for _, kv := range set {
			h = setPair(h, kv[0], kv[1])
		}
	}
	if s.gcp.token != "" {
		h = setPair(h, "authorization", "Bearer "+s.gcp.token)
	}
	return h
}

// writeHeaders turns the held client request into the provider's with
// the same result as upstreamHeaders, but edits the host's map in place:
// a few host calls that return nothing cost less than rebuilding and
// re-encoding the whole map.
func (s *Stream) writeHeaders(path string, extra [][2]string) {
	h := s.h
	// A header the operator's auth sets is replaced below anyway.
	s.retarget(s.b.authNames)
	if path != s.path {
		h.SetRequestHeader(":path", path)
	}
	for _, set := range [...][][2]string{s.b.headers, extra} {
		for _, kv := range set {
			h.SetRequestHeader(kv[0], kv[1])
		}
	}
	if s.gcp.token != "" {
		h.SetRequestHeader("authorization", "Bearer "+s.gcp.token)
	}
	h.SetRequestHeader("x-envoy-upstream-rq-timeout-ms", s.p.routerTimeout)
}

// retarget points the host's request headers at the target: the client
// headers that never reach a provider are removed (but those in replaced,
// which the caller sets itself), :scheme and :authority name the target.
func (s *Stream) retarget(replaced map[string]bool) {
	t, h := s.t, s.h
	for _, kv := range s.headers {
		if kv[0] != "" && kv[0][0] != ':' && !keepHeader(kv[0], s.client, t.upstream) && !replaced[kv[0]] {
			h.RemoveRequestHeader(kv[0])
		}
	}
	h.SetRequestHeader(":scheme", t.scheme)
	h.SetRequestHeader(":authority", t.authority)
}

// setPair sets name in a header list, replacing an earlier value.
func setPair(h [][2]string, name, value string) [][2]string {
	for i := range h {
		if h[i][0] == name {
			h[i][1] = value
			return h
		}
	}
	return append(h, [2]string{name, value})
}

// dropRequestHeader lists client headers that never reach the provider:
// credentials (the operator's auth replaces them), hop-by-hop headers, and
// the ones the gateway recomputes.
func dropRequestHeader(name string) bool {
	switch name {
	case "authorization", "x-api-key", "api-key", "proxy-authorization",
		"x-goog-api-key", "x-amz-security-token", "x-amz-date", "x-amz-content-sha256",
		"connection", "keep-alive", "proxy-connection", "transfer-encoding",
		"upgrade", "te", "trailer", "content-length", "accept-encoding",
		"x-envoy-upstream-rq-timeout-ms":
		return true
	}
	return false
}

// keepHeader reports whether a client header is forwarded to the provider.
func keepHeader(name string, client, upstream convert.Protocol) bool {
	if name == "" || name[0] == ':' || dropRequestHeader(name) {
		return false
	}
	return !convert.ForeignHeader(name, upstream)
}
