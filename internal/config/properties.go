package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Property is one key/value pair read from a properties file.
type Property struct {
	Key   string
	Value string
	// Line is the 1-based line on which the pair starts.
	Line int
}

// ReadProperties parses a Java properties file (server.properties) in the
// format of java.util.Properties.load: lines starting with # or ! are
// comments; a key ends at the first unescaped '=', ':' or white space, and
// one '=' or ':' surrounded by optional white space separates it from the
// value; a line ending in an odd number of backslashes continues on the next
// line, whose leading white space is dropped; \t \n \r \f, \uXXXX and
// backslash before any other character are escapes. The input must be
// UTF-8 (Java reads server.properties as ISO-8859-1; \uXXXX escapes work in
// both). Pairs are returned in file order, repeats included. Errors name
// source and the line.
func ReadProperties(r io.Reader, source string) ([]Property, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	sc.Split(scanLines)
	var (
		out     []Property
		logical strings.Builder
		start   int
		lineNo  int
		cont    bool
	)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("%s:%d: %w", source, lineNo, errors.New("invalid UTF-8"))
		}
		trimmed := strings.TrimLeft(line, " \t\f")
		if !cont {
			if trimmed == "" || trimmed[0] == '#' || trimmed[0] == '!' {
				continue
			}
			start = lineNo
			logical.Reset()
		}
		body, more := continued(trimmed)
		logical.WriteString(body)
		cont = more
		if cont {
			continue
		}
		p, err := parseLogicalLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, start, err)
		}
		p.Line = start
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", source, lineNo+1, err)
	}
	if cont {
		// Java ends the value at end of input; so do we.
		p, err := parseLogicalLine(logical.String())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, start, err)
		}
		p.Line = start
		out = append(out, p)
	}
	return out, nil
}

// scanLines splits at \n, \r\n or a lone \r, as Java's LineReader does.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need the next byte to tell \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// continued strips a continuation backslash: a line ending in an odd number
// of backslashes continues on the next line.
func continued(line string) (string, bool) {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	if n%2 == 1 {
		return line[:len(line)-1], true
	}
	return line, false
}

// parseLogicalLine splits a logical line (comments and continuations
// already handled, leading white space removed) into key and value and
// unescapes both.
func parseLogicalLine(s string) (Property, error) {
	keyEnd, valStart := len(s), len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			keyEnd = i
			j := i
			for j < len(s) && isPropSpace(s[j]) {
				j++
			}
			if j < len(s) && (s[j] == '=' || s[j] == ':') && (isPropSpace(c) || j == i) {
				j++
			}
			for j < len(s) && isPropSpace(s[j]) {
				j++
			}
			valStart = j
			break
		}
	}
	key, err := unescape(s[:keyEnd])
	if err != nil {
		return Property{}, err
	}
	if key == "" {
		return Property{}, errors.New("missing property name before the value")
	}
	val, err := unescape(s[valStart:])
	if err != nil {
		return Property{}, fmt.Errorf("%s: %w", key, err)
	}
	return Property{Key: key, Value: val}, nil
}

func isPropSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// unescape resolves the escapes of java.util.Properties.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			break // a trailing lone backslash is dropped, as in Java
		}
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, n, err := unescapeUnicode(s[i+1:])
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
			i += n
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

// unescapeUnicode decodes the XXXX of a \uXXXX escape at the start of s,
// joining a UTF-16 surrogate pair written as two escapes, and returns the
// rune and the bytes of s consumed.
func unescapeUnicode(s string) (rune, int, error) {
	hex4 := func(s string) (rune, bool) {
		if len(s) < 4 {
			return 0, false
		}
		n, err := strconv.ParseUint(s[:4], 16, 16)
		return rune(n), err == nil
	}
	r, ok := hex4(s)
	if !ok {
		return 0, 0, errors.New(`malformed \uxxxx encoding`)
	}
	if r >= 0xD800 && r < 0xDC00 && strings.HasPrefix(s[4:], `\u`) {
		if lo, ok := hex4(s[6:]); ok && lo >= 0xDC00 && lo < 0xE000 {
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 10, nil
		}
	}
	return r, 4, nil
}

// ParseProperties parses a properties file as ReadProperties does and
// returns its pairs; a key given twice keeps its last value, as in Java.
func ParseProperties(r io.Reader, source string) (map[string]string, error) {
	props, err := ReadProperties(r, source)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(props))
	for _, p := range props {
		out[p.Key] = p.Value
	}
	return out, nil
}

// ParseSet parses a "name=value" setting given on the command line (e.g.
// --set log.retention.hours=1). The name is trimmed; the value is kept as
// given and may be empty.
func ParseSet(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return "", "", fmt.Errorf("invalid setting %q: expected name=value", s)
	}
	return name, value, nil
}

// LoadBroker reads a broker's server.properties and validates it as
// ValidateBroker does. An error about one config names the file and the
// line that sets it ("server.properties:12: Unknown broker config name:
// lgo.dirs (did you mean log.dirs?)"). The returned map is ready for
// Layers.Static, after the command-line settings are merged over it.
func LoadBroker(r io.Reader, source string) (map[string]string, error) {
	props, err := ReadProperties(r, source)
	if err != nil {
		return nil, err
	}
	values := make(map[string]string, len(props))
	lines := make(map[string]int, len(props))
	for _, p := range props {
		values[p.Key] = p.Value
		lines[p.Key] = p.Line
	}
	if err := ValidateBroker(values); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			if line, ok := lines[ce.Name]; ok {
				return nil, fmt.Errorf("%s:%d: %w", source, line, err)
			}
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return values, nil
}
