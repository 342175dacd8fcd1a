package config

import "fmt"

// topicName accepts a legal Kafka topic name, for settings that name a
// topic (skein.audit.topic).
type topicName struct{}

func (topicName) Validate(name, raw string, v any) error {
	s, _ := v.(string)
	switch {
	case s == "" || s == "." || s == "..":
		return invalidValue(name, raw, "Topic name is illegal")
	case len(s) > 249:
		return invalidValue(name, raw, "Topic name is illegal, it can't be longer than 249 characters")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalidValue(name, raw, fmt.Sprintf("Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", s))
		}
	}
	return nil
}

func (topicName) String() string { return "a legal topic name" }
