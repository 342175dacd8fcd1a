package config

import (
	"fmt"
	"slices"
	"strings"
)

var (
	topicByName  = index(topicDefs)
	brokerByName = index(brokerDefs)
)

func index(defs []Def) map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for i := range defs {
		d := &defs[i]
		if _, dup := m[d.Name]; dup {
			panic("config: " + d.Name + " is defined twice")
		}
		if !d.NullDefault {
			if _, err := d.Parse(d.Default); err != nil {
				panic(fmt.Sprintf("config: default of %s: %v", d.Name, err))
			}
		}
		m[d.Name] = d
	}
	return m
}

func init() {
	// Broker configs are read-only exactly when they are not dynamic, and
	// every broker name a topic config defaults from must be registered.
	for i := range brokerDefs {
		brokerDefs[i].ReadOnly = !brokerDefs[i].Dynamic
	}
	for _, d := range topicDefs {
		for _, s := range d.ServerDefaults {
			if _, ok := brokerByName[s.Name]; !ok {
				panic("config: " + d.Name + " defaults from unregistered " + s.Name)
			}
		}
	}
}

// TopicDefs returns the topic configs, sorted by name. The Defs are copies;
// changing them does not change the registry.
func TopicDefs() []Def { return sortedCopy(topicDefs) }

// BrokerDefs returns the broker configs, sorted by name.
func BrokerDefs() []Def { return sortedCopy(brokerDefs) }

func sortedCopy(defs []Def) []Def {
	out := slices.Clone(defs)
	for i := range out {
		out[i].ServerDefaults = slices.Clone(out[i].ServerDefaults)
	}
	slices.SortFunc(out, func(a, b Def) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LookupTopic returns the topic config called name.
func LookupTopic(name string) (Def, bool) {
	d, ok := topicByName[name]
	if !ok {
		return Def{}, false
	}
	c := *d
	c.ServerDefaults = slices.Clone(d.ServerDefaults)
	return c, true
}

// LookupBroker returns the broker config called name.
func LookupBroker(name string) (Def, bool) {
	d, ok := brokerByName[name]
	if !ok {
		return Def{}, false
	}
	return *d, true
}

// TopicSynonym returns the broker config that supplies a topic config's
// default with the highest precedence (Kafka's
// ServerTopicConfigSynonyms.TOPIC_CONFIG_SYNONYMS), e.g. log.retention.ms
// for retention.ms.
func TopicSynonym(topicName string) (string, bool) {
	d, ok := topicByName[topicName]
	if !ok || len(d.ServerDefaults) == 0 {
		return "", false
	}
	return d.ServerDefaults[0].Name, true
}

// suggest returns the registered name closest to name, if it is close
// enough to be a likely typo.
func suggest(name string, defs map[string]*Def) string {
	best, bestDist := "", len(name)/3+2
	for cand := range defs {
		if d := editDistance(name, cand); d < bestDist || (d == bestDist && best != "" && cand < best) {
			best, bestDist = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
