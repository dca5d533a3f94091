package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Request is one downstream HTTP request.
type Request struct {
	Method, Scheme, Authority, Path string      // defaults: GET, http, localhost, /
	Header                          [][2]string // regular headers, no pseudo-headers
	// Body is delivered as one chunk; BodyChunks, if set, chunk by chunk.
	Body       []byte
	BodyChunks [][]byte
	// RemoteAddr is the client "ip:port" (source.address, $remote_addr);
	// default 127.0.0.1:50000.
	RemoteAddr string
}

// UpstreamRequest is what the filter let through to the router.
type UpstreamRequest struct {
	Method, Scheme, Authority, Path string
	Header                          [][2]string // without pseudo-headers, in order
	Body                            []byte
	Trailer                         [][2]string
}

// Get returns the first value of the header key.
func (u *UpstreamRequest) Get(key string) (string, bool) { return Get(u.Header, key) }

// UpstreamResponse is the router's answer. Each Read result from Body is
// one body chunk for the filter; Body is closed by the host.
type UpstreamResponse struct {
	Status int
	Header [][2]string
	Body   io.ReadCloser // nil: no body
}

// Upstream plays the router and the upstream server.
type Upstream func(ctx context.Context, r *UpstreamRequest) (*UpstreamResponse, error)

// Options drive one exchange.
type Options struct {
	Upstream Upstream
	// OnHeaders is called when response headers go downstream, OnChunk for
	// each body chunk as it goes (for streaming to a real client). They
	// run without the VM lock.
	OnHeaders func(status int, h [][2]string)
	OnChunk   func([]byte)
}

// Response is what the downstream client received.
type Response struct {
	Status int
	Header [][2]string // without pseudo-headers
	Body   []byte
	Chunks [][]byte // downstream chunks as delivered
	// Local is set when the response was made by proxy_send_local_response
	// or by the host itself (413, 500, 503 ...); Details is the response
	// code details string of a local reply.
	Local   bool
	Details string
	// Upstream is what was sent upstream (nil if nothing was).
	Upstream *UpstreamRequest
	// RouterHeaders are the request headers, pseudo-headers included, as
	// they left the filter (Envoy profiles; nil if they never did). Envoy's
	// router starts the upstream request with them at once, before the
	// body, even when the filter later answers itself; the harness sends
	// the request only once it is complete, so this is where a test sees
	// what that early upstream request would carry.
	RouterHeaders [][2]string
	// FilterState holds what the filter stored with proxy_set_property:
	// Envoy filter state keys ("wasm.<name>"), APISIX nginx variables.
	FilterState map[string]string
	// Logs are the guest log lines emitted for this exchange.
	Logs []LogLine
}

// Get returns the first value of the response header key.
func (r *Response) Get(key string) (string, bool) { return Get(r.Header, key) }

var (
	// ErrReset reports a stream reset: proxy_close_stream, a local reply
	// after the response headers went out, a response buffer overflow after
	// them, or a broken upstream body.
	ErrReset = errors.New("host: stream reset")
	// ErrStalled reports a stream the filter paused with nothing in flight
	// that could resume it: a real host would hang until a timeout.
	ErrStalled = errors.New("host: stream paused and nothing can resume it")
)

// Directions and header states of a stream.
const (
	dirNone     = -1
	dirRequest  = 0
	dirResponse = 1

	flowContinue = 0 // headers passed the filter
	flowStopIter = 1 // headers held, data still reaches the filter
	flowStopAll  = 2 // nothing reaches the filter until a continue
)

// flow is one direction of a stream in the filter manager.
type flow struct {
	hdr           int
	stopAllBuffer bool   // StopAllIterationAndBuffer: the buffer limit applies
	buffering     int    // 1 StopIterationAndBuffer, 2 ...AndWatermark
	held          bool   // the filter holds data (returned non-Continue)
	eosSeen       bool   // the filter has seen end_of_stream
	body          []byte // buffer visible to get/set_buffer_bytes
	bodyOpen      bool   // Envoy request_body_buffer_ / response_body_buffer_
	fm            []byte // data the filter manager keeps while StopAll
	deliverFM     bool
}

type localReply struct {
	status  int
	body    []byte
	headers [][2]string
	details string
}

type stream struct {
	vm  *VM
	p   *Plugin
	c   *vmContext
	cs  vmContext
	id  uint32
	req *Request
	opt Options

	reqH, respH, reqT, respT headerMap
	reqHOpen, respHOpen      bool
	reqTOpen, respTOpen      bool
	dir                      [2]flow
	inBody                   int  // body callback running (for trailers)
	eos                      bool // end_of_stream of the running callback
	accessLog                bool

	// Deferred actions, set by host calls and performed by Do.
	local *localReply
	cont  [2]bool
	reset string
	wake  chan struct{}
	// abortUpstream cancels the router's upstream request while it is in
	// flight: a local reply or a reset from a root callback (a tick) ends
	// the upstream exchange at once, as in Envoy, even while Do waits for
	// the upstream's headers or its next body chunk.
	abortUpstream context.CancelFunc

	forwarded       []byte
	upstreamHeaders bool // the router has response headers: local replies are direct
	headersSent     bool
	headersOnly     bool // the response headers end the stream
	sendingLocal    bool
	resp            Response
	filterState     map[string]string
	logs            []LogLine
	start           time.Time
	ax              apisixStream
}

// signal wakes Do if it waits. Before wait made the channel there is no
// waiter: the deferred-action flags carry the news.
func (s *stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ended signals a local reply or a reset: the upstream request, if one is
// in flight, is cancelled.
func (s *stream) ended() {
	if s.abortUpstream != nil {
		s.abortUpstream()
	}
	s.signal()
}

// unlocked runs f without the VM lock: upstream I/O and user callbacks.
func (s *stream) unlocked(f func()) {
	s.vm.mu.Unlock()
	defer s.vm.mu.Lock()
	f()
}

// Do runs one HTTP exchange through the filter, driven like the host's
// filter manager drives it (Envoy: source/common/http/filter_manager.cc via
// the wasm Context; APISIX: apisix/wasm.lua and wasm-nginx-module). It is
// safe for concurrent use; guest calls of one VM are serialised, and
// exchanges on one VM interleave at I/O and while paused, as in Envoy.
//
// The Response is never nil. With a non-nil error it holds what had been
// delivered downstream: after a VM failure that is the host's fail-closed
// 503, after ErrReset the partial response.
func (p *Plugin) Do(ctx context.Context, req *Request, opt Options) (*Response, error) {
	vm := p.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.dead != nil {
		s := &stream{vm: vm}
		err := s.failClosed(vm.dead)
		return &s.resp, err
	}
	if p.closed {
		return &Response{}, errPluginClosed
	}
	s := &stream{vm: vm, p: p, id: vm.allocID(), req: req, opt: opt, inBody: dirNone, start: time.Now()}
	s.cs = vmContext{id: s.id, p: p, s: s}
	s.c = &s.cs
	vm.ctxs[s.id] = s.c
	var err error
	if _, err = vm.invoke(s.c, vm.fn.contextCreate, uint64(s.id), uint64(p.id)); err != nil {
		err = s.failClosed(err)
	} else if vm.p == APISIX {
		err = s.runAPISIX(ctx)
	} else {
		err = s.runEnvoy(ctx)
	}
	s.finish()
	r := &s.resp
	r.FilterState = s.filterState
	r.Logs = s.logs
	return r, err
}

// finish ends the stream like Envoy: access log (proxy_on_log), then filter
// destruction (proxy_on_done, proxy_on_delete). APISIX never calls
// proxy_on_log (docs/host-behaviours.md#apisix).
func (s *stream) finish() {
	vm := s.vm
	s.reqHOpen, s.respHOpen = false, false
	s.dir[0].bodyOpen, s.dir[1].bodyOpen = false, false
	if vm.dead == nil {
		if vm.p.isEnvoy() {
			s.accessLog = true
			_, _ = vm.invoke(s.c, vm.fn.log, uint64(s.id))
			s.accessLog = false
		}
		_, _ = vm.invoke(s.c, vm.fn.done, uint64(s.id))
		_, _ = vm.invoke(s.c, vm.fn.del, uint64(s.id))
	}
	vm.releaseID(s.id)
}

func (s *stream) setFilterState(k, v string) {
	if s.filterState == nil {
		s.filterState = map[string]string{}
	}
	s.filterState[k] = v
}

func (s *stream) limit() int {
	if n := s.vm.cfg.BufferLimit; n > 0 {
		return n
	}
	return 1 << 20
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (s *stream) callback(f api.Function, a, b uint64) uint32 {
	r, _ := s.vm.invoke(s.c, f, uint64(s.id), a, b)
	return uint32(r)
}

// ---- Envoy ----

// envoyRequestHeaders builds the request header map the HTTP connection
// manager hands to the filter chain: pseudo-headers first, then the
// client's headers, plus x-forwarded-proto and x-request-id as the HCM adds
// them, and the framing header an HTTP/1 client sends.
func envoyRequestHeaders(req *Request, chunked bool) headerMap {
	h := make(headerMap, 0, len(req.Header)+7)
	h = append(h,
		[2]string{":authority", cmp.Or(req.Authority, "localhost")},
		[2]string{":path", cmp.Or(req.Path, "/")},
		[2]string{":method", cmp.Or(req.Method, "GET")},
		[2]string{":scheme", cmp.Or(req.Scheme, "http")})
	h.addAll(req.Header)
	if _, ok := h.get("x-forwarded-proto"); !ok {
		h.add("x-forwarded-proto", cmp.Or(req.Scheme, "http"))
	}
	if _, ok := h.get("x-request-id"); !ok {
		h.add("x-request-id", requestID())
	}
	if len(req.Body) > 0 || len(req.BodyChunks) > 0 {
		_, cl := h.get("content-length")
		_, te := h.get("transfer-encoding")
		if !cl && !te {
			if chunked {
				h.add("transfer-encoding", "chunked")
			} else {
				h.add("content-length", strconv.Itoa(len(req.Body)))
			}
		}
	}
	return h
}

// requestID is a random version-4-style UUID, as Envoy's x-request-id.
func requestID() string {
	const hex = "0123456789abcdef"
	var b [36]byte
	x, y := rand.Uint64(), rand.Uint64()
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[x&15]
			x, y = x>>4|y<<60, y>>4
		}
	}
	b[14] = '4'
	return string(b[:])
}

func requestChunks(req *Request) [][]byte {
	if req.BodyChunks != nil {
		return req.BodyChunks
	}
	if len(req.Body) > 0 {
		return [][]byte{req.Body}
	}
	return nil
}

// headersState maps a headers callback result like HOST
// convertVmCallResultToFilterHeadersStatus and ENVOY
// convertFilterHeadersStatus (docs/proxy-wasm-abi.md#actions): 1 (Pause) becomes
// StopAllIterationAndWatermark unless allow_on_headers_stop_iteration is
// set (EnvoyFixed, docs/host-behaviours.md#holding-headers); 2 has no Envoy
// equivalent and continues; 3 buffers under the limit; 4 and above stop
// all with watermarks.
func (s *stream) headersState(f *flow, act uint32) {
	switch act {
	case hdrContinue, hdrContinueAndEndStream:
		f.hdr = flowContinue
	case hdrStopIteration:
		if s.vm.p == EnvoyFixed {
			f.hdr = flowStopIter
		} else {
			f.hdr = flowStopAll
		}
	case hdrStopAllIterationBuffer:
		f.hdr, f.stopAllBuffer = flowStopAll, true
	default:
		f.hdr = flowStopAll
	}
}

func (s *stream) runEnvoy(ctx context.Context) error {
	vm := s.vm
	chunks := requestChunks(s.req)
	bodyless := len(chunks) == 0
	s.reqH = envoyRequestHeaders(s.req, s.req.BodyChunks != nil)
	rq := &s.dir[dirRequest]

	s.reqHOpen = true
	act := s.callback(vm.fn.reqHeaders, uint64(len(s.reqH)), b2u(bodyless))
	s.headersState(rq, act)
	if rq.hdr == flowContinue {
		s.headersGone(dirRequest)
	}
	next := 0
	for {
		if done, err := s.interrupt(ctx); done {
			return err
		}
		s.applyContinue(dirRequest)
		switch {
		case rq.hdr == flowStopAll:
			// The filter manager keeps arriving data; the filter sees it
			// after the continue, in one piece (commonContinue →
			// doData from the current filter).
			for ; next < len(chunks); next++ {
				rq.fm = append(rq.fm, chunks[next]...)
			}
			rq.deliverFM = !bodyless
			if rq.stopAllBuffer && len(rq.fm) > s.limit() {
				return s.hostLocalReply(ctx, 413, "Payload Too Large", "request_payload_too_large")
			}
			if err := s.wait(ctx, dirRequest); err != nil {
				return err
			}
		case rq.deliverFM:
			rq.deliverFM = false
			data := rq.fm
			rq.fm = nil
			s.body(ctx, dirRequest, data, next == len(chunks))
		case next < len(chunks):
			next++
			s.body(ctx, dirRequest, chunks[next-1], next == len(chunks))
		case rq.hdr == flowContinue && !rq.held && (bodyless || rq.eosSeen):
			s.cont[dirRequest] = false
			return s.toUpstream(ctx)
		default:
			if err := s.wait(ctx, dirRequest); err != nil {
				return err
			}
		}
	}
}

// body delivers one data frame to the filter (ENVOY Context::decodeData /
// encodeData): with StopIterationAndBuffer pending, the frame joins the
// buffer and the filter sees the total; over the limit the host answers
// 413 (request) or 500 / reset (response) instead of calling the VM
// (docs/host-behaviours.md#buffer-limits).
func (s *stream) body(ctx context.Context, d int, data []byte, eos bool) {
	vm := s.vm
	f := &s.dir[d]
	if f.buffering != 0 {
		f.body = append(f.body, data...)
	} else {
		f.body = append([]byte(nil), data...)
	}
	if f.buffering == dataStopIterationAndBuffer && len(f.body) > s.limit() {
		if d == dirRequest {
			s.local = &localReply{status: 413, body: []byte("Payload Too Large"), details: "request_payload_too_large"}
		} else {
			s.local = &localReply{status: 500, body: []byte("Internal Server Error"), details: "response_payload_too_large"}
		}
		return
	}
	f.bodyOpen, s.inBody, s.eos = true, d, eos
	fn := vm.fn.reqBody
	if d == dirResponse {
		fn = vm.fn.respBody
	}
	act := s.callback(fn, uint64(len(f.body)), b2u(eos))
	s.inBody = dirNone
	f.eosSeen = f.eosSeen || eos
	if vm.dead != nil || s.local != nil || s.reset != "" {
		return
	}
	// HOST convertVmCallResultToFilterDataStatus: values above 3 are
	// StopIterationNoBuffer.
	switch min(act, dataStopIterationNoBuffer) {
	case dataContinue:
		if f.hdr == flowStopIter {
			// Continue on data while the headers were held continues the
			// headers too (FilterManager commonHandleAfterDataCallback).
			f.hdr = flowContinue
			s.headersGone(d)
		}
		s.release(d)
	case dataStopIterationAndBuffer, dataStopIterationWatermark:
		f.held, f.buffering = true, int(act)
	default:
		// StopIterationNoBuffer: the frame is not kept.
		f.held, f.buffering, f.body = true, 0, nil
	}
}

// applyContinue performs a deferred proxy_continue_stream(d).
func (s *stream) applyContinue(d int) {
	if !s.cont[d] {
		return
	}
	s.cont[d] = false
	f := &s.dir[d]
	if f.hdr != flowContinue {
		f.hdr = flowContinue
		s.headersGone(d)
	}
	if f.held {
		s.release(d)
	}
}

// headersGone is the moment headers leave the filter.
func (s *stream) headersGone(d int) {
	if d == dirRequest {
		// Context::decodeHeaders drops request_headers_ on Continue
		// (docs/host-behaviours.md#request-headers-after-continue), and the
		// router gets them.
		s.reqHOpen = false
		if s.resp.RouterHeaders == nil {
			s.resp.RouterHeaders = append([][2]string(nil), s.reqH...)
		}
		return
	}
	s.sendHeaders()
}

// release passes the filter's buffered data on.
func (s *stream) release(d int) {
	f := &s.dir[d]
	data := f.body
	f.held, f.buffering, f.bodyOpen, f.body = false, 0, false, nil
	if d == dirRequest {
		s.forwarded = append(s.forwarded, data...)
	} else {
		s.emit(data)
	}
}

// interrupt performs a pending VM failure, reset or local reply; done
// reports that the stream is over.
func (s *stream) interrupt(ctx context.Context) (bool, error) {
	switch {
	case s.vm.dead != nil:
		return true, s.failClosed(s.vm.dead)
	case s.reset != "":
		return true, fmt.Errorf("%w: %s", ErrReset, s.reset)
	case s.local != nil:
		return true, s.localReply(ctx)
	}
	return false, nil
}

// wait releases the VM until something may resume direction d.
func (s *stream) wait(ctx context.Context, d int) error {
	vm := s.vm
	if vm.dead != nil || s.local != nil || s.reset != "" || s.cont[d] {
		return nil
	}
	if vm.inflight == 0 && !vm.ticking() && vm.queues == 0 {
		what := "request"
		if d == dirResponse {
			what = "response"
		}
		return fmt.Errorf("%w: the filter paused the %s, no http call is in flight and no tick or queue could continue it", ErrStalled, what)
	}
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	vm.mu.Unlock()
	var err error
	select {
	case <-s.wake:
	case <-ctx.Done():
		err = ctx.Err()
	}
	vm.mu.Lock()
	return err
}

// failClosed answers like Envoy's default FAIL_CLOSED after a VM failure:
// a 503 local reply (details wasm_fail_stream), or a reset once headers
// went out; the VM is not called again (ENVOY Context::failStream).
// apisix/wasm.lua answers 503 too ("failed to run wasm plugin",
// docs/host-behaviours.md#apisix-callouts).
func (s *stream) failClosed(err error) error {
	if s.headersSent {
		return fmt.Errorf("%w after a VM failure: %w", ErrReset, err)
	}
	s.resp = Response{Status: 503, Local: true, Upstream: s.resp.Upstream, RouterHeaders: s.resp.RouterHeaders}
	if s.vm.p.isEnvoy() {
		s.resp.Details = "wasm_fail_stream"
	}
	return err
}

// hostLocalReply is a local reply made by the host itself.
func (s *stream) hostLocalReply(ctx context.Context, status int, body, details string) error {
	s.local = &localReply{status: status, body: []byte(body), details: details}
	return s.localReply(ctx)
}

// localReply sends a pending local reply as FilterManager::sendLocalReply
// does (docs/host-behaviours.md#local-replies-and-content-length): through the encoder filters,
// including this one, if the response has not started; straight to the
// client if upstream headers arrived but were not sent; a reset after.
func (s *stream) localReply(ctx context.Context) error {
	lr := s.local
	s.local = nil
	if s.sendingLocal {
		return errors.New("host: the filter sent a second local reply while its first one passed through it: Envoy stalls the stream (envoyproxy/envoy#28826)")
	}
	h := lr.headerMap()
	switch {
	case !s.upstreamHeaders:
		s.sendingLocal = true
		s.resp.Local, s.resp.Details = true, lr.details
		return s.encode(ctx, h, &bodySource{mem: lr.body})
	case !s.headersSent:
		up := s.resp.Upstream
		s.resp = Response{Local: true, Details: lr.details, Upstream: up, RouterHeaders: s.resp.RouterHeaders}
		s.respH, s.headersOnly = h, len(lr.body) == 0
		s.sendHeaders()
		s.emit(lr.body)
		return nil
	default:
		return fmt.Errorf("%w: local reply %d after the response headers were sent", ErrReset, lr.status)
	}
}

// headerMap builds a local reply's headers like Envoy's sendLocalReply:
// :status, the plugin's headers (keys lower-cased, added), then
// content-length and a default text/plain content-type for a body; without
// a body, neither, even when the plugin set them (Utility::prepareLocalReply
// in https://github.com/envoyproxy/envoy/blob/main/source/common/http/utility.cc).
func (lr *localReply) headerMap() headerMap {
	h := headerMap{{":status", strconv.Itoa(lr.status)}}
	h.addAll(lr.headers)
	if len(lr.body) > 0 {
		h.set("content-length", strconv.Itoa(len(lr.body)))
		if _, ok := h.get("content-type"); !ok {
			h.add("content-type", "text/plain")
		}
	} else {
		h.remove("content-length")
		h.remove("content-type")
	}
	return h
}

// toUpstream hands the request to the router and runs the response through
// the filter.
func (s *stream) toUpstream(ctx context.Context) error {
	u := &UpstreamRequest{Body: s.forwarded, Header: make([][2]string, 0, len(s.reqH))}
	for _, kv := range s.reqH {
		switch kv[0] {
		case ":method":
			u.Method = kv[1]
		case ":scheme":
			u.Scheme = kv[1]
		case ":authority":
			u.Authority = kv[1]
		case ":path":
			u.Path = kv[1]
		default:
			if !strings.HasPrefix(kv[0], ":") {
				u.Header = append(u.Header, kv)
			}
		}
	}
	if s.reqTOpen {
		u.Trailer = s.reqT
	}
	s.resp.Upstream = u
	// Envoy never recomputes content-length: the HTTP/1 codec frames the
	// body by a stale one (docs/host-behaviours.md#local-replies-and-content-length).
	if n, present, valid := s.reqH.contentLength(); present && (!valid || n != int64(len(u.Body))) {
		return fmt.Errorf("host: the request goes upstream with content-length %q but %d body bytes: the filter changed the body and left content-length stale (remove it, or set it while the headers are held)",
			headerValue(s.reqH, "content-length"), len(u.Body))
	}
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.abortUpstream = cancel
	ur, err := s.roundTrip(ctx, uctx, u)
	if err != nil {
		return err
	}
	src := &bodySource{}
	if ur != nil {
		src.r = ur.Body
	}
	if done, err := s.interrupt(ctx); done {
		src.close()
		return err
	}
	if ur == nil {
		// The router's reply to a connection failure, through the filter.
		return s.hostLocalReply(ctx, 503, connectFailure, "upstream_reset_before_response_started{connection_failure}")
	}
	h := append(make(headerMap, 0, len(ur.Header)+1), [2]string{":status", strconv.Itoa(ur.Status)})
	h.addAll(ur.Header)
	if n, present, _ := h.contentLength(); (present && n == 0) || ur.Status == 204 || ur.Status == 304 || u.Method == "HEAD" {
		src.close()
		src.r, src.mem = nil, nil
	}
	s.upstreamHeaders = true
	return s.encode(ctx, h, src)
}

// roundTrip hands u to Options.Upstream without the VM lock, under uctx
// (ctx, cancelled when the filter ends the stream). ur is nil if the round
// trip failed; err ends the stream: there is no Upstream, or ctx is done.
func (s *stream) roundTrip(ctx, uctx context.Context, u *UpstreamRequest) (ur *UpstreamResponse, err error) {
	if s.opt.Upstream == nil {
		return nil, errors.New("host: the filter let the request through but Options.Upstream is nil")
	}
	var failed error
	s.unlocked(func() { ur, failed = s.opt.Upstream(uctx, u) })
	if ctx.Err() != nil || failed != nil {
		if ur != nil && ur.Body != nil {
			_ = ur.Body.Close()
		}
		return nil, ctx.Err()
	}
	return ur, nil
}

func headerValue(h headerMap, k string) string {
	v, _ := h.get(k)
	return v
}

// encode runs a response through the filter's encoder callbacks.
func (s *stream) encode(ctx context.Context, h headerMap, src *bodySource) error {
	vm := s.vm
	defer src.close()
	rs := &s.dir[dirResponse]
	*rs = flow{}
	s.cont[dirResponse] = false
	s.respH, s.respHOpen = h, true
	bodyless := src.r == nil && len(src.mem) == 0
	s.headersOnly = bodyless
	act := s.callback(vm.fn.respHeaders, uint64(len(h)), b2u(bodyless))
	if vm.dead == nil && s.local == nil {
		s.headersState(rs, act)
		if rs.hdr == flowContinue {
			s.sendHeaders()
		}
	}
	if bodyless {
		src.done = true
	}
	for {
		if done, err := s.interrupt(ctx); done {
			return err
		}
		s.applyContinue(dirResponse)
		switch {
		case rs.hdr != flowStopAll && !src.done:
			// While StopAll, not reading upstream is the watermark's effect.
			data, eos, err := s.next(src)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				if s.local == nil && s.reset == "" { // else the filter ended it
					s.reset = "upstream reset mid-response: " + err.Error()
				}
				continue
			}
			s.body(ctx, dirResponse, data, eos)
		case rs.hdr == flowContinue && !rs.held:
			return s.checkFraming()
		default:
			if err := s.wait(ctx, dirResponse); err != nil {
				return err
			}
		}
	}
}

// checkFraming reports a response whose content-length disagrees with the
// body that went out: the HTTP/1 codec frames by the stale header.
func (s *stream) checkFraming() error {
	h := headerMap(s.resp.Header)
	n, present, valid := h.contentLength()
	if !present || s.resp.Status == 204 || s.resp.Status == 304 || s.resp.Upstream != nil && s.resp.Upstream.Method == "HEAD" {
		return nil
	}
	if !valid || n != int64(len(s.resp.Body)) {
		return fmt.Errorf("host: the response went downstream with content-length %q but %d body bytes: the filter changed the body and left content-length stale (see docs/host-behaviours.md#local-replies-and-content-length)",
			headerValue(h, "content-length"), len(s.resp.Body))
	}
	return nil
}

// sendHeaders sends the response headers downstream.
func (s *stream) sendHeaders() {
	s.respHOpen = false
	st, _ := s.respH.get(":status")
	code, err := strconv.Atoi(st)
	if err != nil || code < 100 || code > 999 {
		s.reset = fmt.Sprintf("invalid :status %q in the response headers", st)
		return
	}
	// The HTTP/1 codec frames a headers-only response other than a 1xx, a
	// 204 or an answer to HEAD with content-length: 0
	// (StreamEncoderImpl::encodeHeadersBase in
	// https://github.com/envoyproxy/envoy/blob/main/source/common/http/http1/codec_impl.cc).
	if _, framed := s.respH.get("content-length"); s.vm.p != APISIX && s.headersOnly && !framed && code >= 200 && code != 204 && code != 304 &&
		(s.resp.Upstream == nil || s.resp.Upstream.Method != "HEAD") {
		s.respH.add("content-length", "0")
	}
	s.deliverHeaders(code, s.respH.regular())
}

func (s *stream) deliverHeaders(code int, h [][2]string) {
	s.resp.Status, s.resp.Header, s.headersSent = code, h, true
	if cb := s.opt.OnHeaders; cb != nil {
		hc := append([][2]string(nil), h...)
		s.unlocked(func() { cb(code, hc) })
	}
}

// emit sends a body chunk downstream.
func (s *stream) emit(data []byte) {
	if len(data) == 0 {
		return
	}
	if !s.headersSent {
		s.sendHeaders()
	}
	s.resp.Body = append(s.resp.Body, data...)
	s.resp.Chunks = append(s.resp.Chunks, data)
	if cb := s.opt.OnChunk; cb != nil {
		s.unlocked(func() { cb(data) })
	}
}

// next reads src's next chunk without the VM lock.
func (s *stream) next(src *bodySource) (data []byte, eos bool, err error) {
	s.unlocked(func() { data, eos, err = src.next() })
	return data, eos, err
}

// bodySource yields a body chunk by chunk: each Read of r is one chunk, or
// mem in one piece.
type bodySource struct {
	r    io.ReadCloser
	mem  []byte
	done bool
	buf  *[]byte
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (b *bodySource) next() ([]byte, bool, error) {
	if b.r == nil {
		b.done = true
		return b.mem, true, nil
	}
	if b.buf == nil {
		b.buf = readBufs.Get().(*[]byte)
	}
	for {
		n, err := b.r.Read(*b.buf)
		chunk := append([]byte(nil), (*b.buf)[:n]...)
		switch {
		case err == io.EOF:
			b.done = true
			return chunk, true, nil
		case err != nil:
			b.done = true
			return nil, false, err
		case n > 0:
			return chunk, false, nil
		}
	}
}

func (b *bodySource) close() {
	if b.r != nil {
		_ = b.r.Close()
		b.r = nil
	}
	if b.buf != nil {
		readBufs.Put(b.buf)
		b.buf = nil
	}
}
