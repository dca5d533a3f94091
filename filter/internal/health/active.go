// Package health keeps the health of ai-proxy-multi instances: the active
// check state machine of APISIX's health checker (lua-resty-healthcheck,
// configured by an instance's checks.active), the passive cooldown a
// failed request puts an instance on, and the record every worker (VM)
// shares through proxy-wasm shared data, with the lease that lets one
// worker at a time probe an instance. It knows nothing of Wasm or of the
// filter's core: callers hand it results and clock readings.
package health

import "slices"

// Active is checks.active with APISIX 3.18's defaults applied
// (health_checker_active in
// https://github.com/apache/apisix/blob/master/apisix/schema_def.lua).
type Active struct {
	Type        string // http, https or tcp
	TimeoutMS   int64
	Concurrency int64
	Host        string // the probe's Host header; "" keeps the instance's
	Port        int64  // 0 keeps the instance's
	HTTPPath    string // path and query
	HTTPMethod  string
	HTTPReqBody string
	ReqHeaders  [][2]string
	VerifyCert  bool

	Healthy   Healthy
	Unhealthy Unhealthy
}

// Healthy is checks.active.healthy: how often a healthy instance is
// probed, and how many successes in a row bring an unhealthy one back.
type Healthy struct {
	IntervalMS int64
	Successes  int
	Statuses   []int
}

// Unhealthy is checks.active.unhealthy: how often an unhealthy instance is
// probed, and how many failures of each kind in a row take a healthy one
// out.
type Unhealthy struct {
	IntervalMS   int64
	HTTPFailures int
	TCPFailures  int
	Timeouts     int
	Statuses     []int
}

// DefaultActive returns checks.active as APISIX fills it in when only
// the object is given.
func DefaultActive() Active {
	return Active{
		Type: "http", TimeoutMS: 1000, Concurrency: 10, HTTPPath: "/", HTTPMethod: "GET", VerifyCert: true,
		Healthy: Healthy{IntervalMS: 1000, Successes: 2, Statuses: []int{200, 302}},
		Unhealthy: Unhealthy{IntervalMS: 1000, HTTPFailures: 5, TCPFailures: 2, Timeouts: 3,
			Statuses: []int{429, 404, 500, 501, 502, 503, 504, 505}},
	}
}

// Result is the outcome of one probe: an HTTP status, or a failure
// before any status (a connection that could not be made or was reset,
// or no answer within the timeout).
type Result struct {
	Status     int
	TCPFailure bool
	Timeout    bool
}

// Counters is an instance's active-check state: whether the checks took
// it out, and the outcomes in a row of each kind since the last change of
// kind. The zero value is a healthy instance, as lua-resty-healthcheck
// adds its targets.
type Counters struct {
	Unhealthy                                      bool
	Successes, HTTPFailures, TCPFailures, Timeouts uint8
}

// Record counts one probe result under a, as lua-resty-healthcheck does: a
// success resets the failure counters, a failure resets the successes;
// the instance goes out when one kind of failure reaches its threshold and
// comes back after healthy.successes successes. A status in neither list
// counts for nothing. For type tcp any answer is a success: the probe
// reached the instance. Record reports whether the health changed.
func (c *Counters) Record(a *Active, r Result) bool {
	was := c.Unhealthy
	switch {
	case r.Timeout:
		c.Successes = 0
		c.Timeouts = inc(c.Timeouts)
		if int(c.Timeouts) >= a.Unhealthy.Timeouts {
			c.goOut()
		}
	case r.TCPFailure:
		c.Successes = 0
		c.TCPFailures = inc(c.TCPFailures)
		if int(c.TCPFailures) >= a.Unhealthy.TCPFailures {
			c.goOut()
		}
	case a.Type == "tcp" || slices.Contains(a.Healthy.Statuses, r.Status):
		c.HTTPFailures, c.TCPFailures, c.Timeouts = 0, 0, 0
		c.Successes = inc(c.Successes)
		if c.Unhealthy && int(c.Successes) >= a.Healthy.Successes {
			c.Unhealthy, c.Successes = false, 0
		}
	case slices.Contains(a.Unhealthy.Statuses, r.Status):
		c.Successes = 0
		c.HTTPFailures = inc(c.HTTPFailures)
		if int(c.HTTPFailures) >= a.Unhealthy.HTTPFailures {
			c.goOut()
		}
	}
	return c.Unhealthy != was
}

func (c *Counters) goOut() {
	if !c.Unhealthy {
		*c = Counters{Unhealthy: true}
	}
}

// IntervalMS is how long after a probe the next one is due: healthy and
// unhealthy instances have their own intervals.
func (c *Counters) IntervalMS(a *Active) int64 {
	if c.Unhealthy {
		return a.Unhealthy.IntervalMS
	}
	return a.Healthy.IntervalMS
}

// inc counts up to the thresholds' maximum (254) and stays there.
func inc(n uint8) uint8 {
	if n < 255 {
		n++
	}
	return n
}
