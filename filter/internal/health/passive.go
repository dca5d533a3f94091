package health

import (
	"strconv"
	"strings"
	"time"
)

// Passive health (beyond APISIX, whose ai-proxy-multi has no passive
// checks): a request that fails with 429, a 5xx or a transport failure
// puts its instance on cooldown. The provider's Retry-After decides how
// long when it sends one (RFC 9110 §10.2.3: delay-seconds or an
// HTTP-date); otherwise the cooldown backs off exponentially over the
// failures in a row: BaseCooldown, then twice as long each time, up to
// MaxCooldown. A success ends the cooldown and the backoff.
const (
	BaseCooldown = time.Second
	MaxCooldown  = 60 * time.Second
	// MaxRetryAfter bounds a provider's Retry-After, so that one bad
	// header cannot take an instance out for days.
	MaxRetryAfter = time.Hour
)

// Cooldown is an instance's passive state: until when it rests (Unix
// nanoseconds; 0: not on cooldown) and the failures in a row that set it.
type Cooldown struct {
	Until    int64
	Failures uint8
}

// Failing reports whether status is a failure that puts an instance on
// cooldown: 429 (rate limited) or any 5xx.
func Failing(status int) bool { return status == 429 || status >= 500 && status <= 599 }

// Fail records a failure at now (Unix nanoseconds) with the response's
// Retry-After value ("" when absent) and sets the cooldown. A cooldown
// already running longer is kept.
func (c *Cooldown) Fail(now int64, retryAfter string) {
	c.Failures = inc(c.Failures)
	wait, ok := ParseRetryAfter(retryAfter, now)
	if !ok {
		wait = BaseCooldown << min(c.Failures-1, 6)
		wait = min(wait, MaxCooldown)
	}
	c.Until = max(c.Until, now+int64(wait))
}

// Succeed records a success: the cooldown and the backoff end.
func (c *Cooldown) Succeed() { *c = Cooldown{} }

// Cooling reports whether the instance rests at now.
func (c *Cooldown) Cooling(now int64) bool { return c.Until > now }

// httpDate is the IMF-fixdate of RFC 9110 §5.6.7, the one format servers
// send.
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// ParseRetryAfter reads a Retry-After value at now: delay-seconds or an
// HTTP-date, bounded by MaxRetryAfter. ok is false for an absent or
// unreadable value; a date in the past is a wait of 0.
func ParseRetryAfter(v string, now int64) (wait time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := time.Parse(httpDate, v)
	if err != nil {
		return 0, false
	}
	return min(max(time.Duration(t.UnixNano()-now), 0), MaxRetryAfter), true
}
