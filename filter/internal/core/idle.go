package core

import "strconv"

// The idle watchdog gives `timeout` the meaning it has in APISIX. There the
// ai-proxy drivers call lua-resty-http's set_timeout(conf.timeout), which
// bounds connect, send and each read on the socket: an idle timeout, so a
// stream that yields a token every second lives as long as it keeps talking
// (https://github.com/apache/apisix/blob/master/apisix/plugins/ai-drivers/openai-base.lua,
// https://github.com/ledgetech/lua-resty-http#set_timeout).
//
// Envoy has no per-request idle timeout a filter can set. Its
// x-envoy-upstream-rq-timeout-ms is a total one: the router arms it once
// the request is complete and it spans the whole response, 0 meaning none
// (FilterUtility::finalTimeout and Filter::onRequestComplete in
// https://github.com/envoyproxy/envoy/blob/main/source/common/router/router.cc).
// The route's idle_timeout, the HCM's stream_idle_timeout and the retry
// policy's per_try_idle_timeout
// (https://github.com/envoyproxy/envoy/blob/main/source/common/router/upstream_request.cc)
// are idle timeouts, but route configuration, the same for every plugin on
// the route. So in inline and hold modes the filter lifts the router's
// total timeout (see routerTimeoutMS) and watches idleness itself, on ticks:
//
//   - a request starts being watched when it goes upstream;
//   - every response callback counts as activity (one increment, no clock
//     read per chunk);
//   - each tick, a stream whose count moved is stamped with the tick's
//     time, and a stream whose count has not moved for `timeout` is ended.
//
// The check never fires early, and at most two tick periods late.
//
// Ending it: before the response headers, a 504 local reply with the
// client protocol's error JSON. After them, the same local reply makes Envoy
// reset the stream, as headers cannot be taken back ("Prior headers have
// already been sent", DownstreamFilterManager::sendLocalReply in
// https://github.com/envoyproxy/envoy/blob/main/source/common/http/filter_manager.cc).
// A tick cannot add body bytes, so a converted stream cannot end with an
// error event here, and the client sees the connection reset.
//
// Callout mode has no watchdog: the host gives a callout one timeout, and
// the answer arrives whole (see calloutTimeoutMS).

// Tick periods, in milliseconds.
const (
	tokenTickMS   = 50   // polling another worker's GCP token exchange
	minIdleTickMS = 50   // the watchdog's period is timeout/10 within these
	maxIdleTickMS = 1000 // bounds: a 1 s timeout fires within about 1.2 s
)

// streamCalloutMS bounds a streamed answer fetched by one Envoy callout
// without max_stream_duration_ms: the schema's largest timeout.
const streamCalloutMS = 600000

// idleState is what the watchdog knows of one stream.
type idleState struct {
	activity  uint32 // response callbacks seen
	seen      uint32 // activity at the last tick that saw it move
	seenAt    int64  // that tick's time
	pos       int    // 1 + index in Plugin.watched; 0: not watched
	calloutAt int64  // when the callout was sent
}

// OnTick serves everything that waits for ticks: streams waiting for
// another worker's GCP token, and the idle watchdog.
func (p *Plugin) OnTick() {
	if len(p.waiting) > 0 {
		p.retryTokens()
	}
	if len(p.watched) > 0 {
		p.checkIdle(p.root.NowNanos())
	}
	if p.health != nil {
		p.healthTick(p.root.NowNanos())
	}
	p.syncTicks()
}

// syncTicks sets the tick period to what the plugin needs now: the fastest
// of its users, or none. It is called when the need changes: a watch list
// that was empty gets a stream or becomes empty again, a token waiter
// comes or goes, a tick ran. A busy plugin, whose list never empties, keeps
// its period without a host call per request.
func (p *Plugin) syncTicks() {
	if !p.caps.Ticks {
		return
	}
	var ms uint32
	if len(p.watched) > 0 {
		ms = p.idleTickMS
	}
	if len(p.waiting) > 0 && (ms == 0 || ms > tokenTickMS) {
		ms = tokenTickMS
	}
	if p.health != nil && p.health.probing && (ms == 0 || ms > healthTickMS) {
		ms = healthTickMS
	}
	if ms != p.tickMS {
		p.tickMS = ms
		p.root.SetTickPeriod(ms)
	}
}

// idleTickPeriod is the watchdog's tick period for a timeout.
func idleTickPeriod(timeoutMS int64) uint32 {
	return uint32(min(max(timeoutMS/10, minIdleTickMS), maxIdleTickMS))
}

// watch starts the idle clock of a request that has just gone upstream
// through the host (inline and hold modes). It does nothing on a host
// without ticks, and for a stream already watched.
func (s *Stream) watch() {
	p := s.p
	if s.idle.pos != 0 || !p.caps.Ticks {
		return
	}
	s.idle.seen, s.idle.seenAt = s.idle.activity, p.root.NowNanos()
	p.watched = append(p.watched, s)
	s.idle.pos = len(p.watched)
	if p.tickMS == 0 || p.tickMS > p.idleTickMS {
		p.syncTicks()
	}
}

// unwatch takes s off the watch list in O(1): the last stream moves into
// its slot.
func (s *Stream) unwatch() {
	if s.idle.pos == 0 {
		return
	}
	p := s.p
	i, last := s.idle.pos-1, len(p.watched)-1
	p.watched[i] = p.watched[last]
	p.watched[i].idle.pos = i + 1
	p.watched[last] = nil
	p.watched = p.watched[:last]
	s.idle.pos = 0
	if last == 0 {
		p.syncTicks() // off, unless a token waiter needs them
	}
}

// checkIdle ends the watched streams idle for timeout at now.
func (p *Plugin) checkIdle(now int64) {
	limit := p.cfg.TimeoutMS * 1e6
	for i := 0; i < len(p.watched); {
		s := p.watched[i]
		switch {
		case s.finished || s.local:
			s.unwatch() // answered: nothing left to wait for
		case s.idle.activity != s.idle.seen:
			s.idle.seen, s.idle.seenAt = s.idle.activity, now
			i++
		case now-s.idle.seenAt >= limit:
			s.unwatch()
			s.idleTimeout()
		default:
			i++
		}
	}
}

// idleTimeout ends a stream whose upstream stayed silent for timeout.
func (s *Stream) idleTimeout() {
	s.h.Activate()
	ms := strconv.FormatInt(s.p.cfg.TimeoutMS, 10)
	if s.status == 0 {
		s.notePassiveResponse(nil, true)
	}
	if s.status == 0 && s.retryFailed(0, "", nil) {
		return // the next instance has the request
	}
	if s.status == 0 {
		s.fail(504, "upstream "+s.t.authority+" sent no response headers within timeout "+ms+" ms")
	} else {
		// Envoy resets the stream: the headers went out already.
		s.fail(504, "upstream "+s.t.authority+" went silent mid-response for timeout "+ms+" ms")
	}
	s.finish()
}

// routerTimeoutMS is the x-envoy-upstream-rq-timeout-ms the filter gives
// Envoy's router, a total timeout: none ("0") where the watchdog runs, as
// a total bound would cut every stream longer than `timeout`. With
// max_stream_duration_ms the router gets that plus one `timeout`: a live
// stream crossing the limit sends a chunk within `timeout`, so the filter
// ends it with an error event first, and the router catches what stalls. A
// host without ticks has no watchdog: `timeout` stays a total bound there.
func (p *Plugin) routerTimeoutMS() string {
	c := p.cfg
	switch {
	case !p.caps.Ticks:
		return strconv.FormatInt(c.TimeoutMS, 10)
	case c.MaxStreamDurationMS > 0:
		return strconv.FormatInt(c.MaxStreamDurationMS+c.TimeoutMS, 10)
	}
	return "0"
}

// calloutTimeoutMS is the timeout of the request's callout. APISIX's
// callouts go through lua-resty-http's set_timeout, which bounds each
// socket operation (wasm-nginx-module
// https://github.com/api7/wasm-nginx-module/blob/HEAD/lib/resty/proxy-wasm.lua):
// `timeout` keeps its idle meaning there. Envoy's bounds the whole
// exchange, and the answer comes buffered, so idleness cannot be seen: a
// non-streaming answer, which arrives in one piece once ready, gets
// `timeout`; a stream gets max_stream_duration_ms, else 10 minutes.
func (s *Stream) calloutTimeoutMS() uint32 {
	c := s.p.cfg
	switch {
	case s.p.caps.ExplicitBody || !s.stream:
		return uint32(c.TimeoutMS)
	case c.MaxStreamDurationMS > 0:
		return uint32(min(c.MaxStreamDurationMS, 1<<31-1)) // hosts read an int32
	}
	return streamCalloutMS
}
