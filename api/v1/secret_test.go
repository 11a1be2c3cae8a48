package v1

import (
	"strings"
	"testing"
)

func TestSecretValidate(t *testing.T) {
	big := []byte(strings.Repeat("x", MaxSecretSize))
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name   string
		s      Secret
		field  string // "" for valid; "<nil>" for an error on the whole object
		detail string
	}{
		{"opaque", Secret{Data: map[string][]byte{"username": b("admin"), "a-b_c.d": nil}}, "", ""},
		{"empty", Secret{}, "", ""},
		{"exactly 1 MiB of values", Secret{Data: map[string][]byte{"a": big[:MaxSecretSize/2], "b": big[:MaxSecretSize/2]}}, "", ""},
		{"over 1 MiB", Secret{Data: map[string][]byte{"a": big, "b": b("x")}}, "data", "may not be more than 1048576 bytes"},
		{"bad key", Secret{Data: map[string][]byte{"a/b": b("x")}}, "data[a/b]", "a valid config key must consist of alphanumeric characters"},
		{"stringData key checked as data", Secret{StringData: map[string]string{"..": "x"}}, "data[..]", "must not be '..'"},
		{"tls", Secret{Type: SecretTypeTLS, Data: map[string][]byte{TLSCertKey: b("c"), TLSPrivateKeyKey: b("k")}}, "", ""},
		{"tls without key", Secret{Type: SecretTypeTLS, Data: map[string][]byte{TLSCertKey: b("c")}}, "data[tls.key]", "Required value"},
		{"tls without cert", Secret{Type: SecretTypeTLS, StringData: map[string]string{TLSPrivateKeyKey: "k"}}, "data[tls.crt]", "Required value"},
		{"dockerconfigjson", Secret{Type: SecretTypeDockerConfigJSON, Data: map[string][]byte{DockerConfigJSONKey: b(`{"auths":{}}`)}}, "", ""},
		{"dockerconfigjson missing", Secret{Type: SecretTypeDockerConfigJSON}, "data[.dockerconfigjson]", "Required value"},
		{"dockerconfigjson not json", Secret{Type: SecretTypeDockerConfigJSON, Data: map[string][]byte{DockerConfigJSONKey: b("hunter2")}},
			"data[.dockerconfigjson]", "invalid character"},
		{"dockercfg not json", Secret{Type: SecretTypeDockercfg, Data: map[string][]byte{DockerConfigKey: b("{")}}, "data[.dockercfg]", "unexpected end of JSON input"},
		{"basic-auth password only", Secret{Type: SecretTypeBasicAuth, Data: map[string][]byte{BasicAuthPasswordKey: nil}}, "", ""},
		{"basic-auth empty", Secret{Type: SecretTypeBasicAuth}, "data[username]", "Required value"},
		{"ssh-auth", Secret{Type: SecretTypeSSHAuth, Data: map[string][]byte{SSHAuthPrivateKey: b("k")}}, "", ""},
		{"ssh-auth empty key", Secret{Type: SecretTypeSSHAuth, Data: map[string][]byte{SSHAuthPrivateKey: nil}}, "data[ssh-privatekey]", "Required value"},
		{"service-account-token", Secret{Type: SecretTypeServiceAccountToken,
			ObjectMeta: ObjectMeta{Annotations: map[string]string{ServiceAccountNameKey: "default"}}}, "", ""},
		{"service-account-token without account", Secret{Type: SecretTypeServiceAccountToken},
			"metadata.annotations[kubernetes.io/service-account.name]", "Required value"},
		{"a type of one's own", Secret{Type: "example.com/thing"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.ObjectMeta.Name, s.ObjectMeta.Namespace = "s", "default"
			Default(&s)
			err := Validate(&s)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Validate = %v, want %q", err, tt.detail)
			}
			if c, ok := causeOf(err, tt.field); !ok || !strings.Contains(c.Message, tt.detail) {
				t.Fatalf("Validate = %v, want %s: %s", err, tt.field, tt.detail)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the value: %v", err)
			}
		})
	}
}

func TestSecretDefaults(t *testing.T) {
	s := &Secret{Data: map[string][]byte{"a": []byte("1"), "b": []byte("2")}, StringData: map[string]string{"b": "two", "c": "3"}}
	Default(s)
	if s.Type != SecretTypeOpaque {
		t.Errorf("type %q, want Opaque", s.Type)
	}
	if s.StringData != nil {
		t.Errorf("stringData kept: %v", s.StringData)
	}
	if got := string(s.Data["a"]) + string(s.Data["b"]) + string(s.Data["c"]); got != "1two3" || len(s.Data) != 3 {
		t.Errorf("data %q, want stringData merged over data", s.Data)
	}
}

func TestSecretUpdate(t *testing.T) {
	yes, no := true, false
	base := func(imm *bool) *Secret {
		return &Secret{ObjectMeta: ObjectMeta{Name: "s", Namespace: "default", ResourceVersion: "1"}, Immutable: imm,
			Type: SecretTypeOpaque, Data: map[string][]byte{"a": []byte("1")}}
	}
	tests := []struct {
		name   string
		old    *bool
		mutate func(*Secret)
		field  string // "" for allowed
	}{
		{"mutable data changes", nil, func(s *Secret) { s.Data["a"] = []byte("2") }, ""},
		{"type changes", nil, func(s *Secret) { s.Type = "example.com/x" }, "type"},
		{"made immutable", nil, func(s *Secret) { s.Immutable = &yes }, ""},
		{"immutable data", &yes, func(s *Secret) { s.Data["a"] = []byte("2") }, "data"},
		{"immutable data through stringData", &yes, func(s *Secret) { s.StringData = map[string]string{"b": "x"} }, "data"},
		{"immutable unset", &yes, func(s *Secret) { s.Immutable = &no }, "immutable"},
		{"immutable labels change", &yes, func(s *Secret) { s.Labels = map[string]string{"x": "y"} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := base(tt.old), base(tt.old)
			tt.mutate(next)
			Default(next)
			err := ValidateUpdate(next, old)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateUpdate: %v", err)
				}
				return
			}
			if _, ok := causeOf(err, tt.field); !ok {
				t.Fatalf("ValidateUpdate = %v, want an error on %s", err, tt.field)
			}
		})
	}
}
