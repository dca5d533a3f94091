package core

// ai-rate-limiting: token budgets checked before a request and charged
// with the tokens its response reported, in counters every worker shares
// (https://apisix.apache.org/docs/apisix/plugins/ai-rate-limiting/).

import (
	"slices"
	"strconv"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/convert"
	"github.com/ai-proxy-wasm/ai-proxy-wasm/filter/internal/ratelimit"
)

// budgets is a plugin's ai-rate-limiting, prepared once.
type budgets struct {
	rl    *RateLimit
	store ratelimit.Store
	// excludes: an exhausted instance is skipped by selection
	// (fallback_strategy rate_limiting or instance_health_and_rate_limiting)
	// rather than rejecting the request.
	excludes       bool
	consumerHeader string
	inst           []instanceBudget // by instance index
	rules          []ruleBudget
}

type instanceBudget struct {
	name          string
	limit, window amount // zero: no budget
	key           string // the counter's key (per consumer: a prefix)
	headers       quotaHeaderNames
	gauge         uint32    // llm_budget_remaining's id plus one
	rejections    [2]uint32 // llm_rejections_total's ids plus one, by reason
}

type ruleBudget struct {
	rule    *Rule
	key     string // the counter key's prefix
	headers quotaHeaderNames
}

// quotaHeaderNames are a budget's X-AI-…RateLimit-{Limit,Remaining,Reset}.
type quotaHeaderNames [3]string

// Rejection reasons of llm_rejections_total.
const (
	reasonRateLimited = iota // a budget is used up
	reasonNoBudget           // no rule applies, or a limit's variable is not a number
)

var rejectionReasons = [...]string{"rate_limited", "rate_limit_error"}

// budgetState is a request's view of the budgets.
type budgetState struct {
	shown   []shownQuota
	charges []charge
	// The common cases (one budget, or two instances read by a fallback)
	// fit in the stream itself, without allocating.
	shownBuf  [2]shownQuota
	chargeBuf [1]charge
}

type shownQuota struct {
	names *quotaHeaderNames
	q     ratelimit.Quota
}

// charge is a counter the request's tokens are added to.
type charge struct {
	key           string
	limit, window int64
	inst          int // the instance whose gauge follows it; -1 for a rule
}

// initBudgets prepares the configuration's ai-rate-limiting, if any.
func (p *Plugin) initBudgets() {
	rl := p.multi.RateLimit
	if rl == nil {
		return
	}
	b := &budgets{rl: rl, store: p.root.SharedData(), consumerHeader: p.multi.ConsumerHeader}
	if b.consumerHeader == "" {
		b.consumerHeader = DefaultConsumerHeader
	}
	for _, f := range p.multi.FallbackStrategy {
		b.excludes = b.excludes || f == "rate_limiting" || f == "instance_health_and_rate_limiting"
	}
	for _, name := range p.multi.instanceNames() {
		ib := instanceBudget{name: name, limit: rl.Limit, window: rl.TimeWindow, key: rl.id + "global"}
		if i := slices.IndexFunc(rl.Instances, func(il InstanceLimit) bool { return il.Name == name }); i >= 0 {
			ib.limit, ib.window, ib.key = rl.Instances[i].Limit, rl.Instances[i].TimeWindow, rl.id+"instance|"+name
		}
		suffix := name
		if !isName(suffix) {
			suffix = modelLabel(name) // a header name cannot hold every character an instance name may
		}
		ib.headers = quotaHeaderNames{"X-AI-RateLimit-Limit-" + suffix, "X-AI-RateLimit-Remaining-" + suffix, "X-AI-RateLimit-Reset-" + suffix}
		b.inst = append(b.inst, ib)
	}
	for i := range rl.Rules {
		r := &rl.Rules[i]
		prefix := r.HeaderPrefix
		if prefix == "" {
			prefix = strconv.Itoa(i + 1)
		}
		b.rules = append(b.rules, ruleBudget{rule: r, key: rl.id + "rule|" + strconv.Itoa(i) + "|",
			headers: quotaHeaderNames{"X-AI-" + prefix + "-RateLimit-Limit", "X-AI-" + prefix + "-RateLimit-Remaining", "X-AI-" + prefix + "-RateLimit-Reset"}})
	}
	p.budget = b
}

// instanceNames are the names budgets are given by: the instances', or
// for ai-proxy the one APISIX gives it, ai-proxy-<provider>.
func (mc *MultiConfig) instanceNames() []string {
	if mc.Instances == nil {
		return []string{"ai-proxy-" + mc.Config.Provider.Name}
	}
	names := make([]string, len(mc.Instances))
	for i, in := range mc.Instances {
		names[i] = in.Name
	}
	return names
}

// beginBudget starts the request's view of the budgets.
func (s *Stream) beginBudget() {
	if s.p.budget != nil {
		s.budget.shown, s.budget.charges = s.budget.shownBuf[:0], s.budget.chargeBuf[:0]
	}
}

func (s *Stream) budgetNow() int64 { return s.p.root.NowNanos() / 1e9 }

// lookup reads a variable of a limit, window or rule key.
func (s *Stream) lookup(name string) string {
	if name == "consumer_name" {
		return header(s.headers, s.p.budget.consumerHeader)
	}
	return s.variable(s.headers, name)
}

// resolve is an amount's value for this request: false when a variable
// does not hold a positive integer.
func (s *Stream) resolve(a amount) (int64, bool) {
	if a.tmpl == nil {
		return a.n, true
	}
	v, _ := a.tmpl.Resolve(s.lookup)
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0 && n <= 1<<53
}

// counterKey adds the consumer to a counter's key when budgets are per
// consumer.
func (s *Stream) counterKey(key string) string {
	if !s.p.budget.rl.PerConsumer {
		return key
	}
	return key + "|consumer|" + header(s.headers, s.p.budget.consumerHeader)
}

// instanceQuota reads instance i's budget: has is false when it has none,
// ok false when its limit or window does not resolve.
func (s *Stream) instanceQuota(i int) (c charge, q ratelimit.Quota, has, ok bool) {
	ib := &s.p.budget.inst[i]
	if ib.limit == (amount{}) {
		return c, q, false, true
	}
	limit, ok1 := s.resolve(ib.limit)
	window, ok2 := s.resolve(ib.window)
	if !ok1 || !ok2 {
		return c, q, true, false
	}
	c = charge{key: s.counterKey(ib.key), limit: limit, window: window, inst: i}
	q = ratelimit.Peek(s.p.budget.store, c.key, limit, window, s.budgetNow())
	s.show(&ib.headers, q)
	s.gauge(i, q.Remaining)
	return c, q, true, true
}

// overBudget is excluded's reason: instance i's budget is used up (or
// cannot be read) and the fallback strategy skips such instances.
func (s *Stream) overBudget(i int) bool {
	b := s.p.budget
	if b == nil || !b.excludes || b.rl.Rules != nil {
		return false
	}
	_, q, has, ok := s.instanceQuota(i)
	return has && (!ok || q.Exhausted())
}

// checkBudget admits the request to the picked instance, or answers it
// with rejected_code (a budget is used up) or 500 (no budget applies) and
// returns false. The budgets it checked are charged when the response
// ends; a retry on another instance calls it again, and only the last
// check's budgets are charged.
func (s *Stream) checkBudget() bool {
	b := s.p.budget
	if b == nil {
		return true
	}
	s.budget.charges = s.budget.charges[:0]
	if b.rules == nil {
		c, q, has, ok := s.instanceQuota(s.inst)
		switch {
		case !has:
			return true
		case !ok:
			return s.budgetError("the limit or time_window of instance " + b.inst[s.inst].name + " does not resolve to a positive integer for this request")
		case q.Exhausted():
			return s.rejectBudget("the token budget of instance " + b.inst[s.inst].name + " is used up for " + strconv.FormatInt(q.Reset, 10) + " s")
		}
		s.budget.charges = append(s.budget.charges, c)
		return true
	}
	now := s.budgetNow()
	for i := range b.rules {
		rb := &b.rules[i]
		key, n := rb.rule.Key.Resolve(s.lookup)
		if n == 0 {
			continue // its key has no value in this request: the rule does not apply
		}
		limit, ok1 := s.resolve(rb.rule.Count)
		window, ok2 := s.resolve(rb.rule.TimeWindow)
		if !ok1 || !ok2 {
			s.budget.charges = s.budget.charges[:0]
			return s.budgetError("the count or time_window of rules[" + strconv.Itoa(i) + "] does not resolve to a positive integer for this request")
		}
		c := charge{key: s.counterKey(rb.key + key), limit: limit, window: window, inst: -1}
		q := ratelimit.Peek(b.store, c.key, limit, window, now)
		s.show(&rb.headers, q)
		if q.Exhausted() {
			s.budget.charges = s.budget.charges[:0]
			return s.rejectBudget("the token budget of rules[" + strconv.Itoa(i) + "] is used up for " + strconv.FormatInt(q.Reset, 10) + " s")
		}
		s.budget.charges = append(s.budget.charges, c)
	}
	if len(s.budget.charges) == 0 {
		return s.budgetError("no rule of ai-rate-limiting applies to this request: no rule's key has a value")
	}
	return true
}

// show keeps a quota for the response headers, once per budget.
func (s *Stream) show(names *quotaHeaderNames, q ratelimit.Quota) {
	if !s.p.budget.rl.ShowHeaders {
		return
	}
	for i := range s.budget.shown {
		if s.budget.shown[i].names == names {
			s.budget.shown[i].q = q
			return
		}
	}
	s.budget.shown = append(s.budget.shown, shownQuota{names, q})
}

// rejectBudget answers with rejected_code and rejected_msg (or msg).
func (s *Stream) rejectBudget(msg string) bool {
	rl := s.p.budget.rl
	if rl.RejectedMsg != "" {
		msg = rl.RejectedMsg
	}
	s.reject(reasonRateLimited, rl.RejectedCode, msg)
	return false
}

// budgetError answers 500, as APISIX does when no budget applies, unless
// allow_degradation lets the request through without one.
func (s *Stream) budgetError(msg string) bool {
	if s.p.budget.rl.AllowDegradation {
		s.h.Log(LevelWarn, "ai-proxy: ai-rate-limiting: "+msg+"; allowed without a budget (allow_degradation)")
		return true
	}
	s.reject(reasonNoBudget, 500, "ai-rate-limiting: "+msg)
	return false
}

func (s *Stream) reject(reason, status int, msg string) {
	s.status = status
	s.local = true
	ib := &s.p.budget.inst[s.inst]
	record(s.h, Counter, &ib.rejections[reason], func() string {
		return "llm_rejections_total.instance." + modelLabel(ib.name) + ".reason." + rejectionReasons[reason]
	}, 1)
	s.h.Log(LevelWarn, "ai-proxy: "+strconv.Itoa(status)+": "+msg)
	s.sendLocal(status, s.quotaHeaders([][2]string{{"content-type", "application/json"}}), convert.ErrorBody(s.client, status, msg))
}

// gauge publishes instance i's remaining tokens.
func (s *Stream) gauge(i int, remaining int64) {
	ib := &s.p.budget.inst[i]
	record(s.h, Gauge, &ib.gauge, func() string { return "llm_budget_remaining.instance." + modelLabel(ib.name) }, remaining)
}

// quotaHeaders appends the budgets' headers to a local reply's headers.
func (s *Stream) quotaHeaders(h [][2]string) [][2]string {
	for _, sq := range s.budget.shown {
		h = append(h, [2]string{sq.names[0], strconv.FormatInt(sq.q.Limit, 10)},
			[2]string{sq.names[1], strconv.FormatInt(sq.q.Remaining, 10)},
			[2]string{sq.names[2], strconv.FormatInt(sq.q.Reset, 10)})
	}
	return h
}

// setQuotaHeaders adds the budgets' headers to the upstream's response.
func (s *Stream) setQuotaHeaders() {
	for _, sq := range s.budget.shown {
		s.h.SetResponseHeader(sq.names[0], strconv.FormatInt(sq.q.Limit, 10))
		s.h.SetResponseHeader(sq.names[1], strconv.FormatInt(sq.q.Remaining, 10))
		s.h.SetResponseHeader(sq.names[2], strconv.FormatInt(sq.q.Reset, 10))
	}
}

// chargeBudget adds the tokens the response reported to the budgets the
// request was checked against. A response that reported none costs
// nothing, as in APISIX.
func (s *Stream) chargeBudget(u convert.Usage) {
	b := s.p.budget
	if b == nil || len(s.budget.charges) == 0 {
		return
	}
	var cost int64
	switch b.rl.Strategy {
	case "prompt_tokens":
		cost = u.PromptTokens
	case "completion_tokens":
		cost = u.CompletionTokens
	case "expression":
		cost = b.rl.Cost.Eval(ratelimit.Usage(u))
	default:
		cost = u.TotalTokens
		if cost == 0 {
			cost = u.PromptTokens + u.CompletionTokens
		}
	}
	if cost <= 0 {
		return
	}
	now := s.budgetNow()
	for _, c := range s.budget.charges {
		q, err := ratelimit.Add(b.store, c.key, c.limit, c.window, now, cost)
		if err != nil {
			s.h.Log(LevelWarn, "ai-proxy: ai-rate-limiting: "+strconv.FormatInt(cost, 10)+" tokens not counted: "+err.Error())
			continue
		}
		if c.inst >= 0 {
			s.gauge(c.inst, q.Remaining)
		}
	}
}
