package config

import (
	"maps"
	"slices"
)

// Layers are the broker-level configuration layers, each keyed by Kafka
// config name and holding the values as given (unparsed).
type Layers struct {
	// Static is server.properties merged with command-line flags
	// (STATIC_BROKER_CONFIG).
	Static map[string]string
	// DynamicDefault is the cluster-wide dynamic config, set on the broker
	// resource "" (DYNAMIC_DEFAULT_BROKER_CONFIG).
	DynamicDefault map[string]string
	// DynamicBroker is this broker's dynamic config, set on the broker
	// resource named by its node.id (DYNAMIC_BROKER_CONFIG).
	DynamicBroker map[string]string
}

// Resolver computes effective broker and topic configs from the broker
// layers. It is immutable: to apply a dynamic change, build a new Resolver
// (WithDynamic) and swap it in.
type Resolver struct {
	layers Layers
	// broker holds each broker config's effective parsed value, merged
	// across the layers; a config whose effective value is null is absent.
	broker map[string]any
	// topicBase holds each topic config's default as derived from the
	// broker configs (Kafka's extractLogConfigMap).
	topicBase map[string]any
}

// layerSources pairs the broker layers with their sources, in precedence
// order.
func (r *Resolver) layerSources() []struct {
	values map[string]string
	source Source
} {
	return []struct {
		values map[string]string
		source Source
	}{
		{r.layers.DynamicBroker, SourceDynamicBroker},
		{r.layers.DynamicDefault, SourceDynamicDefaultBroker},
		{r.layers.Static, SourceStaticBroker},
	}
}

// NewResolver validates the layers and builds a Resolver. Static is checked
// as ValidateBroker describes. The dynamic layers are checked for names and
// values but not for dynamism, so that configs persisted by an older
// version still load. As Kafka does, node.id and broker.id fill each other
// in the static layer when only one is given.
func NewResolver(l Layers) (*Resolver, error) {
	r := &Resolver{layers: Layers{
		Static:         maps.Clone(l.Static),
		DynamicDefault: maps.Clone(l.DynamicDefault),
		DynamicBroker:  maps.Clone(l.DynamicBroker),
	}}
	if r.layers.Static == nil {
		r.layers.Static = map[string]string{}
	}
	populateIDSynonyms(r.layers.Static)
	parsed := make([]map[string]any, 0, 3)
	for _, ls := range r.layerSources() {
		p, err := parseBrokerLayer(ls.values)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, p)
	}
	r.broker = make(map[string]any, len(brokerDefs))
	for i := range brokerDefs {
		d := &brokerDefs[i]
		if v, ok := firstSet(d.Name, parsed); ok {
			r.broker[d.Name] = v
		} else if !d.NullDefault {
			v, _ := d.Parse(d.Default)
			r.broker[d.Name] = v
		}
	}
	if err := checkBroker(r.broker, r.rawBroker); err != nil {
		return nil, err
	}
	if err := checkInterBroker(r.broker, MapLookup(r.layers.Static), r.rawBroker); err != nil {
		return nil, err
	}
	base, err := r.deriveTopicBase()
	if err != nil {
		return nil, err
	}
	r.topicBase = base
	return r, nil
}

// WithDynamic returns a Resolver with the same static layer and the given
// dynamic layers.
func (r *Resolver) WithDynamic(clusterDefault, perBroker map[string]string) (*Resolver, error) {
	return NewResolver(Layers{Static: r.layers.Static, DynamicDefault: clusterDefault, DynamicBroker: perBroker})
}

// Layers returns a copy of the layers the Resolver was built from, with
// node.id and broker.id filled in.
func (r *Resolver) Layers() Layers {
	return Layers{
		Static:         maps.Clone(r.layers.Static),
		DynamicDefault: maps.Clone(r.layers.DynamicDefault),
		DynamicBroker:  maps.Clone(r.layers.DynamicBroker),
	}
}

func populateIDSynonyms(static map[string]string) {
	node, hasNode := static[NodeID]
	broker, hasBroker := static[BrokerID]
	switch {
	case hasNode && !hasBroker:
		static[BrokerID] = node
	case hasBroker && !hasNode:
		static[NodeID] = broker
	}
}

func firstSet(name string, layers []map[string]any) (any, bool) {
	for _, l := range layers {
		if v, ok := l[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// rawBroker returns the effective textual value of a broker config.
func (r *Resolver) rawBroker(name string) string {
	for _, ls := range r.layerSources() {
		if v, ok := ls.values[name]; ok {
			return v
		}
	}
	return brokerByName[name].Default
}

// deriveTopicBase computes each topic config's broker-supplied default: the
// first of its ServerDefaults whose effective value is non-null, scaled to
// the topic unit. The result must be a valid topic value.
func (r *Resolver) deriveTopicBase() (map[string]any, error) {
	base := make(map[string]any, len(topicDefs))
	for i := range topicDefs {
		d := &topicDefs[i]
		for _, s := range d.ServerDefaults {
			v, ok := r.broker[s.Name]
			if !ok {
				continue
			}
			if n, isInt := v.(int64); isInt {
				v = scale(n, s.Scale)
				// Kafka treats any negative retention as unlimited.
				if d.Name == RetentionMs && v.(int64) < 0 {
					v = int64(-1)
				}
			}
			if d.Validator != nil {
				if err := d.Validator.Validate(s.Name, formatValue(v), v); err != nil {
					return nil, err
				}
			}
			base[d.Name] = v
			break
		}
	}
	vals, err := parseTopic(nil, base)
	if err != nil {
		return nil, err
	}
	return vals, nil
}

// scale multiplies with saturation at the int64 bounds.
func scale(n, by int64) int64 {
	if by == 1 || n == 0 {
		return n
	}
	const maxI, minI = int64(^uint64(0) >> 1), -int64(^uint64(0)>>1) - 1
	if n > 0 && n > maxI/by {
		return maxI
	}
	if n < 0 && n < minI/by {
		return minI
	}
	return n * by
}

// Broker returns the effective broker configs.
func (r *Resolver) Broker() *View {
	return &View{defs: brokerByName, vals: r.broker}
}

// TopicDefaults returns the effective configs of a topic without overrides.
func (r *Resolver) TopicDefaults() *View {
	return &View{defs: topicByName, vals: r.topicBase}
}

// Topic returns the effective configs of a topic with the given overrides,
// which are validated as by ValidateTopic.
func (r *Resolver) Topic(overrides map[string]string) (*View, error) {
	vals, err := parseTopic(overrides, r.topicBase)
	if err != nil {
		return nil, err
	}
	return &View{defs: topicByName, vals: vals}, nil
}

// ValidateTopic validates a topic's overrides as ValidateTopic does, but
// fills the unset configs of the cross-config rules from this broker's
// effective defaults, as Kafka's CreateTopics and AlterConfigs do.
func (r *Resolver) ValidateTopic(overrides map[string]string) error {
	_, err := parseTopic(overrides, r.topicBase)
	return err
}

// Synonym is one source of a config's value, as listed by DescribeConfigs
// with IncludeSynonyms.
type Synonym struct {
	Name string
	// Value is nil when the config is sensitive.
	Value  *string
	Source Source
}

// Entry is one config as DescribeConfigs reports it.
type Entry struct {
	Name string
	// Value is nil when the value is null or the config is sensitive.
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms lists every source of a value in precedence order; its
	// head, if any, is the Source.
	Synonyms []Synonym
}

// synonyms lists the layers' values for the broker configs names, source
// by source and within a source in names order, as Kafka's
// ConfigHelper.configSynonyms does. The DEFAULT_CONFIG entries are the
// non-null defaults.
func (r *Resolver) synonyms(names []string, sensitive bool) []Synonym {
	var out []Synonym
	add := func(name, value string, src Source) {
		s := Synonym{Name: name, Source: src}
		if !sensitive {
			s.Value = &value
		}
		out = append(out, s)
	}
	for _, ls := range r.layerSources() {
		for _, n := range names {
			if v, ok := ls.values[n]; ok {
				add(n, v, ls.source)
			}
		}
	}
	for _, n := range names {
		if v, ok := brokerByName[n].DefaultValue(); ok {
			add(n, v, SourceDefault)
		}
	}
	return out
}

// DescribeTopic reports every topic config of a topic with the given
// overrides, sorted by name, as Kafka's DescribeConfigs does for a TOPIC
// resource. The synonyms are the topic override (DYNAMIC_TOPIC_CONFIG), then
// every broker synonym set in a broker layer, then their non-null defaults.
//
// Kafka drops the broker synonyms that precede the first one named like the
// topic config's primary broker synonym, so with only log.retention.hours
// set it reports retention.ms as DEFAULT_CONFIG with no synonyms although
// the hours value is in effect. Skein keeps them and reports
// STATIC_BROKER_CONFIG with the log.retention.hours synonyms, which is what
// the value actually came from.
func (r *Resolver) DescribeTopic(overrides map[string]string) ([]Entry, error) {
	view, err := r.Topic(overrides)
	if err != nil {
		return nil, err
	}
	defs := TopicDefs()
	out := make([]Entry, 0, len(defs))
	for i := range defs {
		d := &defs[i]
		value := formatValue(view.vals[d.Name])
		names := make([]string, len(d.ServerDefaults))
		for j, s := range d.ServerDefaults {
			names[j] = s.Name
		}
		syns := r.synonyms(names, d.Sensitive)
		if _, ok := overrides[d.Name]; ok {
			top := Synonym{Name: d.Name, Source: SourceDynamicTopic}
			if !d.Sensitive {
				top.Value = &value
			}
			syns = append([]Synonym{top}, syns...)
		}
		out = append(out, entry(d, value, true, syns))
	}
	return out, nil
}

// DescribeBroker reports broker configs as Kafka's DescribeConfigs does for
// a BROKER resource. For this broker's resource (perBroker, resource name
// its node.id) it reports every broker config with its effective value; for
// the cluster-default resource (resource name "") only the configs set
// cluster-wide, with only their DYNAMIC_DEFAULT_BROKER_CONFIG synonyms.
// Entries are sorted by name.
func (r *Resolver) DescribeBroker(perBroker bool) []Entry {
	var out []Entry
	for _, d := range BrokerDefs() {
		syns := r.synonyms(brokerSynonyms(d.Name), d.Sensitive)
		// Kafka's dropWhile: synonyms listed before the first entry for
		// this very name are not reported.
		for len(syns) > 0 && syns[0].Name != d.Name {
			syns = syns[1:]
		}
		if perBroker {
			v, ok := r.broker[d.Name]
			out = append(out, entry(&d, formatValue(v), ok, syns))
			continue
		}
		raw, ok := r.layers.DynamicDefault[d.Name]
		if !ok {
			continue
		}
		var only []Synonym
		for _, s := range syns {
			if s.Source == SourceDynamicDefaultBroker {
				only = append(only, s)
			}
		}
		out = append(out, entry(&d, raw, true, only))
	}
	return out
}

func entry(d *Def, value string, hasValue bool, syns []Synonym) Entry {
	e := Entry{
		Name:      d.Name,
		Source:    SourceDefault,
		ReadOnly:  d.ReadOnly,
		Sensitive: d.Sensitive,
		Type:      d.Type,
		Doc:       d.Doc,
		Synonyms:  slices.Clip(syns),
	}
	if hasValue && !d.Sensitive {
		e.Value = &value
	}
	if len(syns) > 0 {
		e.Source = syns[0].Source
	}
	return e
}
