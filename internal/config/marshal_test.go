package config

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestMarshalRoundTrip checks that a Config marshals to YAML that parses back
// to the same values, as an admin "export configuration" would need.
func TestMarshalRoundTrip(t *testing.T) {
	c, _ := parseOK(t, Example())
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("yaml.Marshal: %v", err)
	}
	back, warns := parseOK(t, string(out))
	if len(warns) > 0 {
		t.Errorf("re-parsing the marshalled config: got warnings %q, want none", diagStrings(warns))
	}
	back.src, c.src = nil, nil
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v\n%s", back, c, out)
	}
}
