package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxCalloutBody is Envoy's AsyncClient response buffer limit
// (kBufferLimitForResponse, docs/host-behaviours.md#callouts).
const maxCalloutBody = 32 << 20

// connectFailure is the body of Envoy's reply to a connection failure.
const connectFailure = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"

// callout is an http call in flight, owned by a root context.
type callout struct {
	id     uint32
	p      *Plugin
	s      *stream // the stream it was dispatched for, if any (log attribution)
	cancel context.CancelFunc
}

// callResult is a callout response as the guest reads it.
type callResult struct {
	headers  headerMap
	body     []byte
	trailers headerMap
}

// envoyHTTPCall is proxy_http_call on Envoy (ENVOY Context::httpCall,
// docs/proxy-wasm-abi.md#callouts, docs/host-behaviours.md#callouts).
func envoyHTTPCall(vm *VM, s []uint64) uint32 {
	target, ok1 := vm.readString(uint32(s[0]), uint32(s[1]))
	hb, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	body, ok3 := vm.read(uint32(s[4]), uint32(s[5]))
	tb, ok4 := vm.read(uint32(s[6]), uint32(s[7]))
	timeout, idPtr := int32(uint32(s[8])), uint32(s[9])
	if !ok1 || !ok2 || !ok3 || !ok4 || !vm.putU32(idPtr, 0) {
		return stInvalidMemoryAccess
	}
	c := vm.effective()
	if c == nil || timeout < 0 {
		return stBadArgument
	}
	base, ok := vm.cfg.Clusters(target)
	if !ok {
		// getThreadLocalCluster(name) == nullptr.
		return stBadArgument
	}
	var h headerMap
	h.addAll(parsePairs(hb))
	_, hasPath := h.get(":path")
	_, hasMethod := h.get(":method")
	_, hasHost := h.get(":authority")
	if !hasPath || !hasMethod || !hasHost {
		return stBadArgument
	}
	if len(body) > 0 {
		h.set("content-length", strconv.Itoa(len(body)))
	}
	// The AsyncClient marks every request it sends as internal, whatever
	// the guest set (AsyncStreamImpl::sendHeaders in
	// https://github.com/envoyproxy/envoy/blob/main/source/common/http/async_client_impl.cc).
	h.set("x-envoy-internal", "true")
	vm.nextCall += 4
	co := &callout{id: vm.nextCall, p: c.p, s: c.s}
	// timeout_ms 0 sets no timeout at all (docs/host-behaviours.md#timeouts).
	var ctx context.Context
	if timeout > 0 {
		ctx, co.cancel = context.WithTimeout(context.Background(), time.Duration(timeout)*time.Millisecond)
	} else {
		ctx, co.cancel = context.WithCancel(context.Background())
	}
	c.p.calls[co.id] = co
	vm.inflight++
	req := calloutRequest{base: base, h: h, body: bytes.Clone(body), trailers: parsePairs(tb)}
	go vm.runEnvoyCallout(ctx, co, req)
	return okOrMem(vm.putU32(idPtr, co.id))
}

type calloutRequest struct {
	base     string
	h        headerMap
	body     []byte
	trailers [][2]string
}

// runEnvoyCallout performs the call and delivers the outcome on the root:
// any HTTP response (4xx/5xx too) with its headers; a timeout as a
// synthetic 504; a connection failure as a synthetic 503; a reset after
// headers or a body over 32 MiB as num_headers=0 with proxy_get_status 11
// "reset" (docs/host-behaviours.md#callouts).
func (vm *VM) runEnvoyCallout(ctx context.Context, co *callout, req calloutRequest) {
	defer co.cancel()
	res, failed := vm.performCallout(ctx, req)
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.inflight--
	if co.s != nil {
		co.s.signal()
	}
	p := co.p
	if _, live := p.calls[co.id]; !live || p.closed || vm.dead != nil || errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	delete(p.calls, co.id)
	var nh, nb, nt int
	if failed {
		// onHttpCallFailure: status_code_ stays 11 afterwards, the message
		// is cleared after the callback.
		p.statusCode, p.statusMsg = stBrokenConnection, "reset"
	} else {
		p.callResp = res
		nh, nb, nt = len(res.headers), len(res.body), len(res.trailers)
	}
	prev := vm.attrib
	if co.s != nil && vm.ctxs[co.s.id] == co.s.c {
		vm.attrib = co.s // the stream still lives: credit it with the logs
	}
	_, _ = vm.invoke(p.c, vm.fn.callResponse, uint64(p.id), uint64(co.id), uint64(nh), uint64(nb), uint64(nt))
	vm.attrib = prev
	p.callResp, p.statusMsg = nil, ""
}

// performCallout sends req; failed reports an Envoy AsyncClient failure
// (reset or overflow). Timeouts and connection failures come back as
// Envoy's synthetic responses.
func (vm *VM) performCallout(ctx context.Context, req calloutRequest) (*callResult, bool) {
	hr, err := httpRequest(ctx, headerValue(req.h, ":method"), req.base, headerValue(req.h, ":path"), headerValue(req.h, ":authority"), req.h, req.body)
	if err != nil {
		return synthetic(503, connectFailure), false
	}
	if len(req.trailers) > 0 {
		hr.Trailer = http.Header{}
		for _, kv := range req.trailers {
			hr.Trailer.Add(kv[0], kv[1])
		}
	}
	resp, err := vm.client.Do(hr)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return synthetic(504, "upstream request timeout"), false
		}
		return synthetic(503, connectFailure), false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCalloutBody+1))
	if err != nil || len(body) > maxCalloutBody {
		return nil, true
	}
	res := &callResult{headers: responseHeaders(resp, false), body: body}
	for _, k := range slices.Sorted(maps.Keys(resp.Trailer)) {
		for _, v := range resp.Trailer[k] {
			res.trailers.add(k, v)
		}
	}
	return res, false
}

// httpRequest is a callout as a Go request: method base+path with Host
// host, the body with its length, and h's regular headers but
// content-length (and host, which Go writes from Host).
func httpRequest(ctx context.Context, method, base, path, host string, h headerMap, body []byte) (*http.Request, error) {
	hr, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Host, hr.ContentLength = host, int64(len(body))
	for _, kv := range h.regular() {
		if kv[0] != "content-length" && kv[0] != "host" {
			hr.Header.Add(kv[0], kv[1])
		}
	}
	return hr, nil
}

// synthetic is an Envoy-made callout response (AsyncClient local reply).
func synthetic(status int, body string) *callResult {
	return &callResult{
		headers: headerMap{{":status", strconv.Itoa(status)}, {"content-length", strconv.Itoa(len(body))}, {"content-type", "text/plain"}},
		body:    []byte(body),
	}
}

// responseHeaders converts a Go response's headers to a header map:
// lower-case keys in sorted order, one entry per value; :status first
// (Envoy) or last (wasm-nginx-module).
func responseHeaders(resp *http.Response, statusLast bool) headerMap {
	h := make(headerMap, 0, len(resp.Header)+1)
	if !statusLast {
		h = append(h, [2]string{":status", strconv.Itoa(resp.StatusCode)})
	}
	for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
		for _, v := range resp.Header[k] {
			h.add(k, v)
		}
	}
	if statusLast {
		h = append(h, [2]string{":status", strconv.Itoa(resp.StatusCode)})
	}
	return h
}

// HTTPUpstream returns an Upstream that sends the request over HTTP with c
// (nil: a client that keeps encodings untouched) to the base URL resolve
// returns for the request's :authority — the way Envoy's dynamic forward
// proxy picks the host from :authority. A request without content-length
// goes out chunked, as Envoy sends it. Like Envoy's router it consumes
// x-envoy-upstream-rq-timeout-ms and sends x-envoy-expected-rq-timeout-ms
// in its place when that timeout is set, i.e. not 0
// (FilterUtility::finalTimeout in
// https://github.com/envoyproxy/envoy/blob/main/source/common/router/router.cc;
// seen on Envoy 1.36 and 1.40, docs/envoy-versions.md); it does not apply
// the timeout.
func HTTPUpstream(c *http.Client, resolve Resolver) Upstream {
	if c == nil {
		c = defaultClient
	}
	return func(ctx context.Context, r *UpstreamRequest) (*UpstreamResponse, error) {
		base, ok := resolve(r.Authority)
		if !ok {
			return nil, errors.New("host: no upstream for authority " + r.Authority)
		}
		hr, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(base, "/")+r.Path, bytes.NewReader(r.Body))
		if err != nil {
			return nil, err
		}
		hr.Host = r.Authority
		hr.ContentLength = -1
		for _, kv := range r.Header {
			switch kv[0] {
			case "content-length":
				hr.ContentLength, _ = strconv.ParseInt(kv[1], 10, 64)
			case "transfer-encoding", "connection", "keep-alive", "upgrade":
			case "x-envoy-upstream-rq-timeout-ms":
				if ms, err := strconv.ParseUint(kv[1], 10, 64); err == nil && ms > 0 {
					hr.Header.Set("x-envoy-expected-rq-timeout-ms", strconv.FormatUint(ms, 10))
				}
			default:
				hr.Header.Add(kv[0], kv[1])
			}
		}
		if len(r.Body) == 0 && hr.ContentLength <= 0 {
			hr.ContentLength, hr.Body = 0, http.NoBody
		}
		resp, err := c.Do(hr)
		if err != nil {
			return nil, err
		}
		out := &UpstreamResponse{Status: resp.StatusCode, Body: resp.Body}
		for _, kv := range responseHeaders(resp, false)[1:] {
			out.Header = append(out.Header, kv)
		}
		if resp.ContentLength >= 0 {
			if _, ok := resp.Header["Content-Length"]; !ok {
				out.Header = append(out.Header, [2]string{"content-length", strconv.FormatInt(resp.ContentLength, 10)})
			}
		}
		return out, nil
	}
}
