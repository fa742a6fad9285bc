package admin

import "testing"

func TestDuplicateKey(t *testing.T) {
	tests := []struct {
		body, key, earlier string
	}{
		{`{"name":"x4","name":"x5"}`, "name", "name"},
		{`{"name":"x4","Name":"x5"}`, "Name", "name"},
		{`{"id":"a","models":["m"],"ID":"b"}`, "ID", "id"},
		{`{"name":"a","rate_limit":{"rpm":1,"RPM":2}}`, "RPM", "rpm"},
		{`{"model_configs":[{"id":"m"},{"id":"n","id":"o"}]}`, "id", "id"},
		{`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":[1,{"x":2}]}]}`, "", ""},
		{`{"name":"a","url":"http://h","models":[],"weight":2}`, "", ""},
		{`{"name":`, "", ""},
	}
	for _, tt := range tests {
		key, earlier, found := duplicateKey([]byte(tt.body))
		if found != (tt.key != "") || key != tt.key || earlier != tt.earlier {
			t.Errorf("duplicateKey(%s) = %q, %q, %t; want %q, %q", tt.body, key, earlier, found, tt.key, tt.earlier)
		}
	}
}
