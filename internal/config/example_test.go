package config_test

import (
	"fmt"
	"strings"

	"github.com/skein-streaming/skein/internal/config"
)

// Example shows the path of a configuration through Skein: server.properties
// and --set flags become the static layer, a Resolver answers the broker's
// questions, and topic overrides are altered, validated and described.
func Example() {
	static, err := config.LoadBroker(strings.NewReader("node.id=1\nlog.retention.hours=24\n"), "server.properties")
	if err != nil {
		fmt.Println(err)
		return
	}
	name, value, _ := config.ParseSet("num.partitions=3") // from --set
	static[name] = value

	r, err := config.NewResolver(config.Layers{Static: static})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("num.partitions:", r.Broker().Int(config.NumPartitions))
	fmt.Println("default retention:", r.TopicDefaults().Duration(config.RetentionMs))

	// IncrementalAlterConfigs on a topic: apply, then validate, then store.
	overrides, err := config.IncrementalAlter(config.ResourceTopic, map[string]string{},
		[]config.Alteration{{Name: config.CleanupPolicy, Op: config.AlterAppend, Value: ptr("compact")}})
	if err == nil {
		err = r.ValidateTopic(overrides)
	}
	fmt.Println("overrides:", overrides, err)

	entries, _ := r.DescribeTopic(overrides)
	for _, e := range entries {
		if e.Name == config.CleanupPolicy || e.Name == config.RetentionMs {
			fmt.Println(e.Name, *e.Value, e.Source, len(e.Synonyms))
		}
	}

	fmt.Println(config.ValidateTopic(map[string]string{"retention.ms": "-2"}))
	// Output:
	// num.partitions: 3
	// default retention: 24h0m0s
	// overrides: map[cleanup.policy:delete,compact] <nil>
	// cleanup.policy delete,compact DYNAMIC_TOPIC_CONFIG 2
	// retention.ms 86400000 STATIC_BROKER_CONFIG 2
	// Invalid value -2 for configuration retention.ms: Value must be at least -1
}

func ptr(s string) *string { return &s }
