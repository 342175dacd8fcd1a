package sasl

import (
	"fmt"
	"strings"
	"unicode"
)

// JAAS is one login module entry of a Kafka sasl.jaas.config value.
type JAAS struct {
	// LoginModule is the class name, e.g.
	// org.apache.kafka.common.security.plain.PlainLoginModule.
	LoginModule string
	// Flag is required, requisite, sufficient or optional.
	Flag    string
	Options map[string]string
}

// PlainLoginModule is the login module class of the PLAIN mechanism.
const PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

// ParseJAAS parses a sasl.jaas.config value as Kafka's JaasConfig does:
// exactly one entry "<class> <flag> key=value ... ;" where values are bare
// words or double-quoted strings with backslash escapes.
func ParseJAAS(s string) (JAAS, error) {
	p := &jaasParser{s: s}
	var j JAAS
	j.LoginModule = p.word()
	if j.LoginModule == "" {
		return j, fmt.Errorf("sasl.jaas.config: expected a login module class name")
	}
	j.Flag = p.word()
	switch strings.ToLower(j.Flag) {
	case "required", "requisite", "sufficient", "optional":
	default:
		return j, fmt.Errorf("sasl.jaas.config: invalid login module control flag %q", j.Flag)
	}
	j.Options = map[string]string{}
	for {
		p.space()
		if p.eof() {
			return j, fmt.Errorf("sasl.jaas.config: the entry must end with ';'")
		}
		if p.peek() == ';' {
			p.i++
			break
		}
		key := p.word()
		if key == "" {
			return j, fmt.Errorf("sasl.jaas.config: expected an option name at offset %d", p.i)
		}
		p.space()
		if p.eof() || p.peek() != '=' {
			return j, fmt.Errorf("sasl.jaas.config: option %s has no value", key)
		}
		p.i++
		p.space()
		var val string
		if !p.eof() && p.peek() == '"' {
			v, err := p.quoted()
			if err != nil {
				return j, err
			}
			val = v
		} else {
			val = p.word()
		}
		j.Options[key] = val
	}
	p.space()
	if !p.eof() {
		return j, fmt.Errorf("sasl.jaas.config: one login module entry is allowed, found more after ';'")
	}
	return j, nil
}

// PlainUsers returns the users of a PlainLoginModule entry: each option
// user_<name>="<password>".
func PlainUsers(j JAAS) (map[string]string, error) {
	if j.LoginModule != PlainLoginModule {
		return nil, fmt.Errorf("sasl.jaas.config: PLAIN needs %s, got %s", PlainLoginModule, j.LoginModule)
	}
	users := map[string]string{}
	for k, v := range j.Options {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			users[name] = v
		}
	}
	return users, nil
}

type jaasParser struct {
	s string
	i int
}

func (p *jaasParser) eof() bool  { return p.i >= len(p.s) }
func (p *jaasParser) peek() byte { return p.s[p.i] }

func (p *jaasParser) space() {
	for !p.eof() && unicode.IsSpace(rune(p.peek())) {
		p.i++
	}
}

// word reads a run of characters up to white space, '=', ';' or '"'.
func (p *jaasParser) word() string {
	p.space()
	start := p.i
	for !p.eof() {
		c := p.peek()
		if unicode.IsSpace(rune(c)) || c == '=' || c == ';' || c == '"' {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

func (p *jaasParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		p.i++
		switch c {
		case '\\':
			if p.eof() {
				return "", fmt.Errorf("sasl.jaas.config: unterminated escape")
			}
			b.WriteByte(p.peek())
			p.i++
		case '"':
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("sasl.jaas.config: unterminated quoted value")
}
