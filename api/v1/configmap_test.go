package v1

import (
	"strings"
	"testing"
)

func TestConfigMapValidate(t *testing.T) {
	big := strings.Repeat("x", MaxConfigMapSize)
	tests := []struct {
		name   string
		cm     ConfigMap
		field  string // "" for valid
		detail string
	}{
		{"valid", ConfigMap{Data: map[string]string{"game.properties": "a=1", "UI_COLOR": "red", "a-b_c": ""},
			BinaryData: map[string][]byte{"bin": {0, 1}}}, "", ""},
		{"empty", ConfigMap{}, "", ""},
		{"exactly 1 MiB", ConfigMap{Data: map[string]string{"k": big[:MaxConfigMapSize-1]}}, "", ""},
		{"over 1 MiB", ConfigMap{Data: map[string]string{"k": big}}, "<nil>", "may not be more than 1048576 bytes"},
		{"over 1 MiB across maps", ConfigMap{Data: map[string]string{"k": big[:MaxConfigMapSize/2]},
			BinaryData: map[string][]byte{"b": []byte(big[:MaxConfigMapSize/2])}}, "<nil>", "may not be more than 1048576 bytes"},
		{"bad key", ConfigMap{Data: map[string]string{"a/b": "x"}}, "data[a/b]", "a valid config key must consist of alphanumeric characters"},
		{"bad binary key", ConfigMap{BinaryData: map[string][]byte{"..": {1}}}, "binaryData[..]", "must not be '..'"},
		{"key in both", ConfigMap{Data: map[string]string{"k": "x"}, BinaryData: map[string][]byte{"k": {1}}},
			"data[k]", "duplicate of key present in binaryData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := tt.cm
			cm.ObjectMeta = ObjectMeta{Name: "cfg", Namespace: "default"}
			err := Validate(&cm)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Validate = %v, want %q", err, tt.detail)
			}
			if tt.field != "<nil>" {
				if c, ok := causeOf(err, tt.field); !ok || !strings.Contains(c.Message, tt.detail) {
					t.Fatalf("Validate = %v, want %s: %s", err, tt.field, tt.detail)
				}
			}
		})
	}
}

func TestConfigMapImmutable(t *testing.T) {
	yes, no := true, false
	base := func(imm *bool) *ConfigMap {
		return &ConfigMap{ObjectMeta: ObjectMeta{Name: "cfg", Namespace: "default"}, Immutable: imm,
			Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {1}}}
	}
	tests := []struct {
		name   string
		old    *bool
		mutate func(*ConfigMap)
		fields []string
	}{
		{"mutable data changes", nil, func(c *ConfigMap) { c.Data["a"] = "2" }, nil},
		{"made immutable with a change", &no, func(c *ConfigMap) { c.Immutable = &yes; c.Data["a"] = "2" }, nil},
		{"immutable, labels change", &yes, func(c *ConfigMap) { c.Labels = map[string]string{"x": "y"} }, nil},
		{"immutable, data changes", &yes, func(c *ConfigMap) { c.Data["a"] = "2" }, []string{"data"}},
		{"immutable, binary data changes", &yes, func(c *ConfigMap) { c.BinaryData = nil }, []string{"binaryData"}},
		{"immutable unset", &yes, func(c *ConfigMap) { c.Immutable = nil }, []string{"immutable"}},
		{"immutable set false and data", &yes, func(c *ConfigMap) { c.Immutable = &no; c.Data = nil }, []string{"immutable", "data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := base(tt.old), base(tt.old)
			tt.mutate(next)
			err := ValidateUpdate(next, old)
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("ValidateUpdate: %v", err)
				}
				return
			}
			for _, f := range tt.fields {
				if c, ok := causeOf(err, f); !ok || !strings.Contains(c.Message, "field is immutable when `immutable` is set") {
					t.Errorf("ValidateUpdate = %v, want %s forbidden", err, f)
				}
			}
		})
	}
}
