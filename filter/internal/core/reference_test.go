package core

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/sjson"

	"github.com/ai-proxy-wasm/ai-proxy-wasm/providers"
)

// referenceRow is one attribute row of docs/configuration.md.
type referenceRow struct{ path, typ, def, allowed string }

// readReference returns the attribute rows of the table under the heading
// "## <section>" of docs/configuration.md.
func readReference(t *testing.T, section string) []referenceRow {
	t.Helper()
	raw, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []referenceRow
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = line == "## "+section
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		// Cells are split on '|' except "\|", which Markdown shows as '|'.
		cells := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
		if len(cells) < 6 {
			t.Fatalf("docs/configuration.md: row %q has too few cells", line)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(cells[1]), "`"), "`")
		rows = append(rows, referenceRow{name, strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3]), strings.TrimSpace(cells[4])})
	}
	if len(rows) == 0 {
		t.Fatalf("docs/configuration.md has no attribute table under ## %s", section)
	}
	return rows
}

// The configuration reference lists exactly the attributes the validator
// accepts (Fields, which also decides what is an unknown attribute), and
// every row's type and range are the ones the validator enforces. Adding,
// removing or changing an attribute without updating docs/configuration.md
// fails here.
func TestConfigReferenceMatchesValidator(t *testing.T) {
	rows := readReference(t, "ai-proxy")
	var documented []string
	for _, r := range rows {
		if slices.Contains(documented, r.path) {
			t.Errorf("docs/configuration.md lists %s twice", r.path)
		}
		documented = append(documented, r.path)
	}
	for _, f := range Fields {
		if !slices.Contains(documented, f) {
			t.Errorf("%s is accepted by the validator but missing from docs/configuration.md", f)
		}
	}
	for _, d := range documented {
		if !slices.Contains(Fields, d) {
			t.Errorf("docs/configuration.md documents %s, which the validator does not accept", d)
		}
	}

	// Every attribute can be set alone on this configuration.
	const base = `{"provider":"openai","auth":{"header":{"a":"b"},"aws":{"access_key_id":"a","secret_access_key":"b"}}}`
	configure := func(path string, value any) error {
		conf, err := sjson.Set(base, path, value)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseConfig([]byte(conf), nil)
		return err
	}
	checkDocumentedValues(t, rows, configure, func(path string) string { return path })

	// The provider row names every provider.
	for _, r := range rows {
		if r.path == "provider" {
			var names []string
			for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(r.allowed, -1) {
				names = append(names, m[1])
			}
			if !slices.Equal(names, providers.Names()) {
				t.Errorf("provider is documented with %v, the registry has %v", names, providers.Names())
			}
		}
	}
}

// The ai-proxy-multi table lists exactly MultiFields, with the types and
// ranges the validator enforces (an instance's attributes on instances[0]).
func TestMultiConfigReferenceMatchesValidator(t *testing.T) {
	rows := readReference(t, "ai-proxy-multi")
	var documented []string
	for _, r := range rows {
		documented = append(documented, r.path)
	}
	if !slices.Equal(sortedCopy(documented), sortedCopy(MultiFields)) {
		t.Errorf("docs/configuration.md documents %v, the validator accepts %v", documented, MultiFields)
	}
	const base = `{"instances":[{"name":"a","provider":"openai","weight":1,"auth":{"header":{"a":"b"}}}]}`
	configure := func(path string, value any) error {
		conf, err := sjson.Set(base, strings.Replace(path, "instances.", "instances.0.", 1), value)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParsePluginConfig([]byte(conf), nil)
		return err
	}
	checkDocumentedValues(t, rows, configure, func(path string) string {
		return strings.Replace(path, "instances.", "instances[0].", 1)
	})
}

// checkDocumentedValues checks each row's type and integer range against
// the validator: configure(path, v) sets one attribute of a valid
// configuration, errField names it as the validator's errors do. A value
// of the wrong type must be refused; an integer range is probed at both
// ends and one past them.
func checkDocumentedValues(t *testing.T, rows []referenceRow, configure func(path string, v any) error, errField func(string) string) {
	t.Helper()
	wrongType := map[string]any{"string": 1, "integer": "1", "number": "1", "boolean": "true", "object": "x", "array": "x", "string or array": 1, "integer or string": true}
	limits := regexp.MustCompile(`^(?:(\d+)–(\d+)|≥ (\d+))`)
	for _, r := range rows {
		wrong, ok := wrongType[r.typ]
		if !ok {
			t.Errorf("%s: type %q is not a validator type", r.path, r.typ)
			continue
		}
		if err := configure(r.path, wrong); err == nil || !strings.Contains(err.Error(), errField(r.path)+" must be") {
			t.Errorf("%s is documented as %s, but a %T gives %v", r.path, r.typ, wrong, err)
		}
		if r.typ != "integer" || r.allowed == "any integer" {
			continue
		}
		m := limits.FindStringSubmatch(r.allowed)
		if m == nil {
			t.Errorf("%s: range %q is neither a–b nor ≥ a", r.path, r.allowed)
			continue
		}
		lo, hi := m[1], m[2]
		if lo == "" {
			lo = m[3]
		}
		min, _ := strconv.ParseInt(lo, 10, 64)
		checks := map[int64]bool{min: true, min - 1: false}
		if hi != "" {
			max, _ := strconv.ParseInt(hi, 10, 64)
			checks[max], checks[max+1] = true, false
		} else {
			checks[1<<40] = true
		}
		for v, accept := range checks {
			if err := configure(r.path, v); (err == nil) != accept {
				t.Errorf("%s is documented as %s, but %d gives %v", r.path, r.allowed, v, err)
			}
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
