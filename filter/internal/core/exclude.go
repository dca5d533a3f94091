package core

// excluded reports whether instance i may not serve this request's next
// attempt. Each reason is one line here, so that selection has a single
// place that says why an instance is skipped. An instance passed over
// for its health or budget counts in the fallback metric.
func (s *Stream) excluded(i int) bool {
	p := s.p
	switch {
	case p.testExcluded != nil && p.testExcluded(i):
		return true
	case s.excludedAsTried(i):
		return true
	case p.models != nil && !p.serves(i, s.reqModel):
		return true
	case s.overBudget(i):
		p.recordFallback(s.h, i, fallbackRateLimited)
		return true
	case p.unavailable(i, s.start): // unhealthy, or on cooldown (probe.go)
		p.recordFallback(s.h, i, fallbackUnhealthy)
		return true
	}
	return false
}

// exclusion is excluded, or nil when no instance can be excluded from
// this pick: then the balancer asks nothing per member, which matters at
// many instances.
func (s *Stream) exclusion() func(int) bool {
	p := s.p
	if p.testExcluded == nil && s.retry == nil && p.models == nil &&
		(p.health == nil || !p.health.probing && !p.health.cooldownExcludes) &&
		(p.budget == nil || !p.budget.excludes) {
		return nil
	}
	return s.excluded
}
