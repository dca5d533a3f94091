package core

import "github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/health"

// healthProperty is the access-log property with the health of the
// instance a request went to, after its response: healthy, cooldown (a
// failure put it on passive cooldown) or unhealthy (its active checks
// took it out, and it was picked because every instance was out).
const healthProperty = "llm_instance_health"

// notePassiveResponse records the outcome of this stream's attempt, once
// its response status is known (transport: the connection failed or was
// reset before a status), and publishes the instance's health for the
// access log. A 429, a 5xx or a transport failure puts the instance on
// cooldown (health.Cooldown, honouring Retry-After) in shared data, seen
// by every worker; a success ends a cooldown. Successes on an instance
// this worker saw without cooldown touch no shared data.
func (s *Stream) notePassiveResponse(headers [][2]string, transport bool) {
	p := s.p
	h := p.health
	if h == nil {
		return
	}
	in := &h.inst[s.inst]
	if failing := transport || health.Failing(s.status); failing || in.seen.Cool != (health.Cooldown{}) {
		st, err := health.NotePassive(p.root.SharedData(), in.key, failing, header(headers, "retry-after"), s.h.NowNanos())
		if err != nil {
			p.root.Log(LevelWarn, "ai-proxy: instance "+in.name+": cannot record its passive health: "+err.Error())
		} else {
			in.seen = st
		}
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
