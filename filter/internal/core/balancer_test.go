package core

import (
	"strconv"
	"strings"
	"testing"
)

func TestBalancerRoundRobinSequences(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int64
		sequence string // instance indexes picked, one digit each
	}{
		{"8:2", []int64{8, 2}, "0010000100" + "0010000100"},
		{"5:1:1 (nginx: a a b a c a a)", []int64{5, 1, 1}, "0010200" + "0010200"},
		{"weight 0 is never picked", []int64{0, 3, 1}, "1121" + "1121"},
		{"equal weights alternate", []int64{1, 1}, "0101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := make([]string, len(tt.weights))
			for i := range names {
				names[i] = "i" + strconv.Itoa(i)
			}
			b := newBalancer(names, tt.weights, make([]int64, len(names)), false)
			var got strings.Builder
			for range tt.sequence {
				i, ok := b.pick("", nil)
				if !ok {
					t.Fatal("no instance picked")
				}
				got.WriteString(strconv.Itoa(i))
			}
			if got.String() != tt.sequence {
				t.Errorf("picks %s, want %s", got.String(), tt.sequence)
			}
		})
	}
}

// Every window of 10 picks with weights 8:2 holds exactly 8 and 2.
func TestBalancerRoundRobinEveryWindowIsExact(t *testing.T) {
	b := newBalancer([]string{"a", "b"}, []int64{8, 2}, []int64{0, 0}, false)
	var picks []int
	for range 1000 {
		i, _ := b.pick("", nil)
		picks = append(picks, i)
	}
	for start := 0; start+10 <= len(picks); start += 10 {
		n := 0
		for _, i := range picks[start : start+10] {
			n += i
		}
		if n != 2 {
			t.Fatalf("picks %v..%v chose b %d times, want 2", start, start+10, n)
		}
	}
}

func TestBalancerPriorityAndExclusion(t *testing.T) {
	names := []string{"low", "high-a", "high-b", "zero"}
	weights := []int64{1, 1, 1, 0}
	priorities := []int64{0, 10, 10, 20} // the top group has weight 0 only
	excludedSet := func(set ...int) func(int) bool {
		return func(i int) bool {
			for _, e := range set {
				if e == i {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name     string
		excluded func(int) bool
		want     string // picks, as instance names
		ok       bool
	}{
		{"highest group with positive weight", nil, "high-a high-b high-a high-b", true},
		{"an excluded instance is skipped", excludedSet(1), "high-b high-b high-b high-b", true},
		{"a fully excluded group falls to the next", excludedSet(1, 2), "low low low low", true},
		{"all excluded", excludedSet(0, 1, 2, 3), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chash := range []bool{false, true} {
				b := newBalancer(names, weights, priorities, chash)
				var got []string
				for k := range 4 {
					i, ok := b.pick("key"+strconv.Itoa(k), tt.excluded)
					if ok != tt.ok {
						t.Fatalf("chash %v: pick ok = %v, want %v", chash, ok, tt.ok)
					}
					if ok {
						got = append(got, names[i])
					}
				}
				if !chash && strings.Join(got, " ") != tt.want {
					t.Errorf("round robin picks %q, want %q", strings.Join(got, " "), tt.want)
				}
				if chash && tt.ok {
					for _, n := range got {
						if !strings.Contains(" "+tt.want+" ", " "+n+" ") {
							t.Errorf("chash picks %s, not among %q", n, tt.want)
						}
					}
				}
			}
		})
	}
}

// Consistent hashing: a key keeps its instance; when one instance drops
// out (excluded, or removed from the configuration) only its own keys
// move, and it owned about its share of them.
func TestBalancerConsistentHashStability(t *testing.T) {
	names := []string{"a", "b", "c", "d"}
	weights := []int64{1, 1, 1, 1}
	full := newBalancer(names, weights, make([]int64, 4), true)
	removed := newBalancer(names[:3], weights[:3], make([]int64, 3), true)
	const keys = 20000
	owned, moved := 0, 0
	for k := range keys {
		key := "user-" + strconv.Itoa(k)
		before, _ := full.pick(key, nil)
		if again, _ := full.pick(key, nil); again != before {
			t.Fatalf("key %s went to %d then %d", key, before, again)
		}
		afterExcluded, _ := full.pick(key, func(i int) bool { return i == 3 })
		afterRemoved, _ := removed.pick(key, nil)
		if afterExcluded != afterRemoved {
			t.Fatalf("key %s: excluded d picks %d, removed d picks %d", key, afterExcluded, afterRemoved)
		}
		if before == 3 {
			owned++
		} else if afterRemoved != before {
			t.Fatalf("key %s moved from %s to %s though its instance stayed", key, names[before], names[afterRemoved])
		}
		if afterRemoved != before {
			moved++
		}
	}
	if moved != owned {
		t.Errorf("%d keys moved, d owned %d", moved, owned)
	}
	if share := float64(owned) / keys; share < 0.15 || share > 0.35 {
		t.Errorf("d owned %.2f of the keys, want about 0.25", share)
	}
}
