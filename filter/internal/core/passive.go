package core

import "github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/health"

// healthProperty is the access-log property with the health of the
// instance a request went to, after its response: healthy, cooldown (a
// failure put it on passive cooldown) or unhealthy (its active checks
// took it out, and it was picked because every instance was out).
const healthProperty = "llm_instance_health"

// notePassive records the outcome of one attempt on instance inst at now
// (Unix nanoseconds): status is the upstream's (0 when none came),
// retryAfter its Retry-After header, transport true when the connection
// failed or was reset before a status. A 429, a 5xx or a transport failure
// puts the instance on cooldown (health.Cooldown) in shared data, seen by
// every worker; a success ends a cooldown. Successes on an instance this
// worker saw without cooldown touch no shared data.
func (p *Plugin) notePassive(inst int, status int, retryAfter string, transport bool, now int64) {
	h := p.health
	if h == nil || inst < 0 || inst >= len(h.inst) {
		return
	}
	in := &h.inst[inst]
	failing := transport || health.Failing(status)
	if !failing && in.seen.Cool == (health.Cooldown{}) {
		return
	}
	s, err := health.NotePassive(p.root.SharedData(), in.key, failing, retryAfter, now)
	if err != nil {
		p.root.Log(LevelWarn, "ai-proxy: instance "+in.name+": cannot record its passive health: "+err.Error())
		return
	}
	in.seen = s
}

// notePassiveResponse is notePassive for this stream's attempt, once its
// response status is known, and publishes the instance's health for the
// access log.
func (s *Stream) notePassiveResponse(headers [][2]string, transport bool) {
	p := s.p
	h := p.health
	if h == nil {
		return
	}
	in := &h.inst[s.inst]
	if transport || health.Failing(s.status) || in.seen.Cool != (health.Cooldown{}) {
		p.notePassive(s.inst, s.status, header(headers, "retry-after"), transport, s.h.NowNanos())
	}
	state := "healthy"
	switch {
	case in.seen.Active.Unhealthy:
		state = "unhealthy"
	case in.seen.Cool.Until > s.start:
		state = "cooldown"
	}
	s.h.SetProperty(healthProperty, state)
}
