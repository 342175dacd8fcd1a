package main

import "regexp"

// regexpMatch reports whether s matches the regular expression re.
func regexpMatch(s, re string) bool {
	return regexp.MustCompile(re).MatchString(s)
}
