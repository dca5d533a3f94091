package core

import (
	"cmp"
	"slices"
	"strconv"
)

// balancer picks one instance of an ai-proxy-multi configuration per
// attempt. Instances are grouped by priority, the highest group first; a
// group is used when it has an instance that is not excluded and has a
// positive weight, else the next group is tried. Within a group the pick
// is smooth weighted round robin (nginx's ngx_http_upstream_get_peer:
// https://github.com/nginx/nginx/blob/master/src/http/ngx_http_upstream_round_robin.c)
// or consistent hashing on a key. A balancer belongs to one worker (one
// VM): its round-robin state is not shared, so the weights hold exactly
// per worker.
type balancer struct {
	groups []*group // by priority, highest first
	chash  bool
}

// group is the instances of one priority.
type group struct {
	priority int64
	members  []int   // instance indexes, in configuration order
	weights  []int64 // configured weight of each member
	current  []int64 // smooth WRR state of each member
	ring     []ringPoint
}

// ringPoint is one virtual node of the consistent-hash ring.
type ringPoint struct {
	hash   uint64
	member int // index into group.members
}

// vnodesPerWeight is how many ring points one unit of weight gets, and
// maxVnodes caps one instance's points. An instance's points depend only
// on its own name and weight, so adding or removing another instance
// moves only that instance's keys.
const (
	vnodesPerWeight = 40
	maxVnodes       = 1024
)

// newBalancer groups instances by priority. names identify the ring
// points, so a key keeps its instance across restarts.
func newBalancer(names []string, weights, priorities []int64, chash bool) *balancer {
	b := &balancer{chash: chash}
	for i := range names {
		j := slices.IndexFunc(b.groups, func(g *group) bool { return g.priority == priorities[i] })
		if j < 0 {
			b.groups = append(b.groups, &group{priority: priorities[i]})
			j = len(b.groups) - 1
		}
		g := b.groups[j]
		g.members = append(g.members, i)
		g.weights = append(g.weights, weights[i])
		g.current = append(g.current, 0)
	}
	slices.SortStableFunc(b.groups, func(x, y *group) int { return cmp.Compare(y.priority, x.priority) })
	if chash {
		for _, g := range b.groups {
			for m, i := range g.members {
				n := min(g.weights[m]*vnodesPerWeight, maxVnodes)
				for v := int64(0); v < n; v++ {
					g.ring = append(g.ring, ringPoint{hash: hashString(names[i] + "#" + strconv.FormatInt(v, 10)), member: m})
				}
			}
			slices.SortFunc(g.ring, func(x, y ringPoint) int { return cmp.Compare(x.hash, y.hash) })
		}
	}
	return b
}

// pick returns the index of the instance for one attempt, or false when
// every instance is excluded or has weight 0. excluded may be nil.
func (b *balancer) pick(key string, excluded func(int) bool) (int, bool) {
	for _, g := range b.groups {
		var m int
		if b.chash {
			m = g.hashPick(hashString(key), excluded)
		} else {
			m = g.wrrPick(excluded)
		}
		if m >= 0 {
			return g.members[m], true
		}
	}
	return 0, false
}

// wrrPick is nginx's smooth weighted round robin over the members that
// are not excluded: each gains its weight, the richest is picked and pays
// the total. Weights 8:2 give exactly 8:2 in every 10 picks, interleaved.
func (g *group) wrrPick(excluded func(int) bool) int {
	best, total := -1, int64(0)
	for m, w := range g.weights {
		if w <= 0 || excluded != nil && excluded(g.members[m]) {
			continue
		}
		g.current[m] += w
		total += w
		if best < 0 || g.current[m] > g.current[best] {
			best = m
		}
	}
	if best >= 0 {
		g.current[best] -= total
	}
	return best
}

// hashPick returns the member owning the first ring point at or after h
// that is not excluded.
func (g *group) hashPick(h uint64, excluded func(int) bool) int {
	n := len(g.ring)
	start, _ := slices.BinarySearchFunc(g.ring, h, func(p ringPoint, h uint64) int { return cmp.Compare(p.hash, h) })
	for k := 0; k < n; k++ {
		p := g.ring[(start+k)%n]
		if excluded == nil || !excluded(g.members[p.member]) {
			return p.member
		}
	}
	return -1
}

// hashString is FNV-1a followed by a 64-bit finalizer (splitmix64's), so
// names that differ in one character land far apart on the ring.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
