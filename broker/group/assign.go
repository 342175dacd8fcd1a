package group

import (
	"slices"
	"sort"
)

// assignInput is what a server-side assignor sees: members sorted by id,
// the subscribers of each topic, partition counts, and the previous target
// assignment for stickiness.
type assignInput struct {
	members    []*consumerMember
	subs       map[string][]string
	partitions map[string]int32
	previous   map[string]map[string][]int32
}

func sortedTopics(subs map[string][]string) []string {
	out := make([]string, 0, len(subs))
	for t := range subs {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// assignRange is the range assignor: for each topic, its subscribers in
// member id order get contiguous ranges, the first ones one partition more
// when the count does not divide evenly.
func assignRange(in assignInput) map[string]map[string][]int32 {
	out := map[string]map[string][]int32{}
	for _, m := range in.members {
		out[m.id] = map[string][]int32{}
	}
	for _, t := range sortedTopics(in.subs) {
		ids := slices.Clone(in.subs[t])
		sort.Strings(ids)
		n := in.partitions[t]
		per, extra := n/int32(len(ids)), n%int32(len(ids))
		next := int32(0)
		for i, id := range ids {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for p := next; p < next+cnt; p++ {
				out[id][t] = append(out[id][t], p)
			}
			next += cnt
		}
	}
	return out
}

// assignUniform is the uniform assignor: partitions are spread evenly over
// the members subscribed to their topics, keeping each partition with its
// previous owner while that owner has no more than its share.
func assignUniform(in assignInput) map[string]map[string][]int32 {
	out := map[string]map[string][]int32{}
	count := map[string]int{}
	for _, m := range in.members {
		out[m.id] = map[string][]int32{}
	}
	total := 0
	for t := range in.subs {
		total += int(in.partitions[t])
	}
	quota := 0
	if len(in.members) > 0 {
		quota = (total + len(in.members) - 1) / len(in.members)
	}
	type tp struct {
		t string
		p int32
	}
	var free []tp
	for _, t := range sortedTopics(in.subs) {
		for p := int32(0); p < in.partitions[t]; p++ {
			owner := ""
			for id, prev := range in.previous {
				if slices.Contains(prev[t], p) && slices.Contains(in.subs[t], id) && out[id] != nil {
					owner = id
				}
			}
			if owner != "" && count[owner] < quota {
				out[owner][t] = append(out[owner][t], p)
				count[owner]++
				continue
			}
			free = append(free, tp{t, p})
		}
	}
	for _, f := range free {
		best := ""
		for _, id := range in.subs[f.t] {
			if best == "" || count[id] < count[best] || (count[id] == count[best] && id < best) {
				best = id
			}
		}
		out[best][f.t] = append(out[best][f.t], f.p)
		count[best]++
	}
	return out
}
