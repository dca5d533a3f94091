package core

// Health of ai-proxy-multi instances: the active checks (checks.active),
// probed from the root context on ticks, and the passive cooldown
// (passive.go). The state machines and the shared record are in
// filter/internal/health; this file wires them to the plugin.
//
// Every worker (VM) ticks and, for each instance with checks whose probe
// is due, tries to take the instance's probe lease in shared data with
// compare-and-swap: one worker wins and sends the probe as a root-owned
// callout, carrying the instance's auth the way APISIX's
// construct_upstream adds auth.header to req_headers and auth.query to
// http_path (https://github.com/apache/apisix/blob/master/apisix/plugins/ai-proxy-multi.lua).
// Its result goes into the shared record, which every worker reads on its
// next tick and, at most every healthSyncMS, when it picks an instance.
//
// An instance the active checks took out is never picked, unless every
// instance is out: then APISIX uses them all ("all upstream nodes is
// unhealthy, use default"), and so does the filter.

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/health"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
)

const (
	// healthTickMS is the tick period while active checks run: a probe
	// goes out at most this late after it is due (intervals are whole
	// seconds).
	healthTickMS = 250
	// healthSyncMS bounds how stale a worker's view of the shared health
	// record may be when it picks an instance.
	healthSyncMS = 250
	// healthKeyPrefix starts every instance's shared-data key.
	healthKeyPrefix = "ai-proxy.health."
)

// healthState is the health of a plugin's instances as this worker last
// saw it, and its probes in flight.
type healthState struct {
	inst     []instanceHealth
	owner    uint32 // this worker's lease owner id
	probing  bool   // some instance has active checks and the host ticks
	syncedAt int64  // when the view was last read from shared data
	allDown  bool   // every instance is out by active checks
	// cooldownExcludes: fallback_strategy instance_health_and_rate_limiting
	// skips instances on passive cooldown.
	cooldownExcludes bool
}

// instanceHealth is one instance's health.
type instanceHealth struct {
	name   string
	key    string         // its record in shared data
	active *health.Active // nil: no active checks
	probe  probeRequest
	seen   health.State // as last read or written by this worker

	callID uint32 // the probe in flight from this worker (0: none)
	sentAt int64
	gauge  uint32 // llm_instance_health id plus one (0: not defined)
	shown  int64  // the gauge's last value set, -1: none yet
}

// probeRequest is an instance's probe, built once.
type probeRequest struct {
	cluster   string
	headers   [][2]string
	body      []byte
	timeoutMS uint32
	leaseNS   int64
}

// initHealth prepares the health of an ai-proxy-multi plugin.
func (p *Plugin) initHealth() {
	h := &healthState{owner: health.NewOwner(), syncedAt: -1 << 62}
	h.cooldownExcludes = len(p.multi.FallbackStrategy) == 1 && p.multi.FallbackStrategy[0] == "instance_health_and_rate_limiting"
	for i, in := range p.multi.Instances {
		ih := instanceHealth{name: in.Name, active: in.Checks, shown: -1}
		ih.key = healthKey(p.backends[i], in.Checks)
		if in.Checks != nil {
			if !p.caps.Ticks {
				p.root.Log(LevelWarn, "ai-proxy: instances["+strconv.Itoa(i)+"].checks.active is not supported on this host: it has no timers to probe from (proxy_set_tick_period_milliseconds); passive health still applies within each worker")
			} else {
				ih.probe = buildProbe(p.backends[i], in.Checks)
				h.probing = true
			}
		}
		h.inst = append(h.inst, ih)
	}
	p.health = h
	p.syncTicks()
}

// healthKey names an instance's shared record by what it reaches (cluster,
// authority, path, credentials and probe), hashed, so that routes sharing
// an upstream and its key share its health, and a changed configuration
// starts afresh.
func healthKey(b *Backend, a *health.Active) string {
	const offset, prime = 14695981039346656037, 1099511628211
	hash := uint64(offset)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			hash = (hash ^ uint64(s[i])) * prime
		}
		hash = (hash ^ 0xff) * prime
	}
	if t := probeTarget(b); t != nil {
		add(t.cluster)
		add(t.authority)
		add(t.path)
	}
	for _, kv := range b.cfg.AuthHeaders {
		add(kv[0])
		add(kv[1])
	}
	for _, kv := range b.cfg.AuthQuery {
		add(kv[0])
		add(kv[1])
	}
	if a != nil {
		add(a.Type + a.Host + a.HTTPPath + a.HTTPMethod + strconv.FormatInt(a.Port, 10))
	}
	return healthKeyPrefix + strconv.FormatUint(hash, 36)
}

// probeTarget is where an instance's chat requests go, else any of its
// targets: the host a probe reaches.
func probeTarget(b *Backend) *target {
	if t, ok := b.targets.get(convert.OpenAIChat); ok {
		return t
	}
	for _, t := range b.targets {
		if t != nil {
			return t
		}
	}
	return nil
}

// buildProbe makes an instance's probe request: checks.active's method,
// path, host, port and headers, plus the instance's auth.header and
// auth.query, as APISIX adds them.
func buildProbe(b *Backend, a *health.Active) probeRequest {
	t := probeTarget(b)
	pr := probeRequest{body: []byte(a.HTTPReqBody), timeoutMS: uint32(a.TimeoutMS), leaseNS: (2*a.TimeoutMS + 1000) * 1e6}
	authority, cluster, scheme := "", "", "https"
	if t != nil {
		authority, cluster, scheme = t.authority, t.cluster, t.scheme
	}
	if a.Port != 0 {
		host := authority
		if i := strings.LastIndexByte(host, ':'); i > strings.LastIndexByte(host, ']') {
			host = host[:i]
		}
		authority = host + ":" + strconv.FormatInt(a.Port, 10)
		if b.cfg.UpstreamCluster == "" {
			cluster = providers.ClusterName(scheme, authority)
		}
	}
	pr.cluster = cluster
	if a.Host != "" {
		authority = a.Host
	}
	path := a.HTTPPath
	if len(b.cfg.AuthQuery) > 0 {
		q := url.Values{}
		for _, kv := range b.cfg.AuthQuery {
			q.Set(kv[0], kv[1])
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + q.Encode()
	}
	pr.headers = [][2]string{{":method", a.HTTPMethod}, {":path", path}, {":authority", authority}}
	pr.headers = append(pr.headers, a.ReqHeaders...)
	for _, kv := range b.cfg.AuthHeaders {
		name := strings.ToLower(kv[0])
		dup := false
		for _, h := range a.ReqHeaders {
			dup = dup || h == [2]string{name, kv[1]}
		}
		if !dup {
			pr.headers = append(pr.headers, [2]string{name, kv[1]})
		}
	}
	return pr
}

// healthTick serves the health checks on a tick: it reads the shared
// record and sends the probes that are due and whose lease this worker
// wins.
func (p *Plugin) healthTick(now int64) {
	h := p.health
	if now-h.syncedAt >= healthSyncMS*1e6 {
		p.syncHealth(now) // ticks may come faster, for the idle watchdog
	}
	if !h.probing {
		return
	}
	st := p.root.SharedData()
	for i := range h.inst {
		in := &h.inst[i]
		if in.active == nil {
			continue
		}
		if in.callID != 0 {
			if now-in.sentAt < in.probe.leaseNS {
				continue
			}
			in.callID = 0 // the host never answered: the lease has expired too
		}
		if in.seen.NextProbe > now {
			continue // not due as last seen: no shared-data call
		}
		if !health.TryLease(st, in.key, h.owner, now, in.probe.leaseNS) {
			continue
		}
		id, ok := p.root.Call(in.probe.cluster, in.probe.headers, in.probe.body, in.probe.timeoutMS)
		if !ok {
			p.root.Log(LevelWarn, "ai-proxy: instance "+in.name+": the host refused the health probe to cluster "+strconv.Quote(in.probe.cluster)+"; counted as a connection failure")
			p.reportProbe(in, health.Result{TCPFailure: true}, now)
			continue
		}
		in.callID, in.sentAt = id, now
	}
}

// OnCallResponse receives the answer to a root callout: a probe's.
func (p *Plugin) OnCallResponse(id uint32, headers [][2]string, body []byte, ok bool) {
	h := p.health
	if h == nil || id == 0 {
		return
	}
	for i := range h.inst {
		in := &h.inst[i]
		if in.callID != id {
			continue
		}
		in.callID = 0
		now := p.root.NowNanos()
		p.reportProbe(in, probeResult(in, headers, body, ok, now), now)
		return
	}
}

// probeResult classifies a probe's answer. Envoy answers a callout that
// timed out with its own 504 and one that could not connect with its own
// 503 "upstream connect error ..." (AsyncClient local replies,
// https://github.com/envoyproxy/envoy/blob/main/source/common/http/async_client_impl.cc);
// a reset comes without headers.
func probeResult(in *instanceHealth, headers [][2]string, body []byte, ok bool, now int64) health.Result {
	switch status, _ := strconv.Atoi(header(headers, ":status")); {
	case (now-in.sentAt)/1e6 >= int64(in.probe.timeoutMS):
		return health.Result{Timeout: true}
	case !ok || status == 0:
		return health.Result{TCPFailure: true}
	case status == 503 && strings.HasPrefix(string(body), "upstream connect error"):
		return health.Result{TCPFailure: true}
	default:
		return health.Result{Status: status}
	}
}

// reportProbe records a probe's result in shared data and logs a flip.
func (p *Plugin) reportProbe(in *instanceHealth, r health.Result, now int64) {
	was := in.seen.Active.Unhealthy
	s, err := health.Report(p.root.SharedData(), in.key, p.health.owner, in.active, r, now)
	if err != nil {
		p.root.Log(LevelWarn, "ai-proxy: instance "+in.name+": cannot record its health probe: "+err.Error())
		return
	}
	in.seen = s
	if s.Active.Unhealthy != was {
		state := "healthy again"
		if s.Active.Unhealthy {
			state = "unhealthy"
		}
		p.root.Log(LevelWarn, "ai-proxy: instance "+in.name+" is "+state+" by its active health checks")
	}
	p.showHealth(in, now)
}

// syncHealth reads every instance's shared record.
func (p *Plugin) syncHealth(now int64) {
	h := p.health
	st := p.root.SharedData()
	h.allDown = true
	for i := range h.inst {
		in := &h.inst[i]
		in.seen = health.Load(st, in.key)
		h.allDown = h.allDown && in.seen.Active.Unhealthy
		if p.caps.Ticks {
			p.showHealth(in, now)
		}
	}
	h.syncedAt = now
}

// showHealth sets the instance's gauge llm_instance_health: 1 when it may
// be picked, 0 when its active checks or a cooldown took it out.
func (p *Plugin) showHealth(in *instanceHealth, now int64) {
	v := int64(1)
	if in.seen.Active.Unhealthy || in.seen.Cool.Cooling(now) {
		v = 0
	}
	if v == in.shown {
		return
	}
	if in.gauge == 0 {
		id, ok := p.root.DefineMetric(Gauge, "llm_instance_health.instance."+modelLabel(in.name))
		if !ok {
			in.shown = v // no metrics on this host: stop trying
			return
		}
		in.gauge = id + 1
	}
	p.root.SetGauge(in.gauge-1, v)
	in.shown = v
}

// unavailable reports whether health takes instance i out at now: its
// active checks say unhealthy (unless every instance is), or it is on
// passive cooldown and fallback_strategy is
// instance_health_and_rate_limiting.
func (p *Plugin) unavailable(i int, now int64) bool {
	h := p.health
	if h == nil {
		return false
	}
	if now-h.syncedAt >= healthSyncMS*1e6 {
		p.syncHealth(now)
	}
	s := &h.inst[i].seen
	return s.Active.Unhealthy && !h.allDown || h.cooldownExcludes && s.Cool.Cooling(now)
}
