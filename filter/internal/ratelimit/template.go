package ratelimit

import (
	"fmt"
	"strings"
)

// Template is a string of literal text and APISIX variables, written $name
// or ${name}, as APISIX resolves a rule's key or a limit given as a string
// (https://github.com/apache/apisix/blob/master/apisix/core/utils.lua,
// resolve_var).
type Template struct {
	parts []part
}

type part struct {
	text  string
	isVar bool
}

// ParseTemplate splits s into text and variables; known says which
// variable names can be read, and an unknown one is an error naming it.
func ParseTemplate(s string, known func(name string) bool) (*Template, error) {
	t := &Template{}
	for s != "" {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			t.parts = append(t.parts, part{text: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: s[:i]})
		}
		rest := s[i+1:]
		var name string
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("${ has no closing }")
			}
			name, s = rest[1:end], rest[end+1:]
		} else {
			j := 0
			for j < len(rest) && (isNameStart(rest[j]) || isDigit(rest[j])) {
				j++
			}
			name, s = rest[:j], rest[j:]
		}
		if name == "" {
			return nil, fmt.Errorf("a $ is not followed by a variable name")
		}
		if !known(name) {
			return nil, fmt.Errorf("$%s is not a variable this filter can read", name)
		}
		t.parts = append(t.parts, part{text: name, isVar: true})
	}
	return t, nil
}

// Vars reports whether the template reads any variable.
func (t *Template) Vars() bool {
	for _, p := range t.parts {
		if p.isVar {
			return true
		}
	}
	return false
}

// Resolve writes the template with each variable's value (lookup returns
// "" for a missing one) and counts the variables that had a value: a rule
// whose key resolves none does not apply.
func (t *Template) Resolve(lookup func(name string) string) (s string, resolved int) {
	if len(t.parts) == 1 {
		if !t.parts[0].isVar {
			return t.parts[0].text, 0
		}
		v := lookup(t.parts[0].text)
		if v != "" {
			resolved = 1
		}
		return v, resolved
	}
	var b strings.Builder
	for _, p := range t.parts {
		if !p.isVar {
			b.WriteString(p.text)
			continue
		}
		v := lookup(p.text)
		if v != "" {
			resolved++
		}
		b.WriteString(v)
	}
	return b.String(), resolved
}
