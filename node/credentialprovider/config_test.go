package credentialprovider

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestDockerConfigEntryUnmarshal(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name    string
		in      string
		want    DockerConfigEntry
		wantErr string
	}{
		{"fields", `{"username":"u","password":"p","email":"e@x"}`, DockerConfigEntry{"u", "p", "e@x"}, ""},
		{"auth wins", `{"username":"u","password":"p","auth":"` + b64("a:b") + `"}`, DockerConfigEntry{"a", "b", ""}, ""},
		{"password with colons", `{"auth":"` + b64("a:b:c") + `"}`, DockerConfigEntry{"a", "b:c", ""}, ""},
		{"unpadded auth", `{"auth":"` + strings.TrimRight(b64("ab:c"), "=") + `"}`, DockerConfigEntry{"ab", "c", ""}, ""},
		{"auth without colon", `{"auth":"` + b64("abc") + `"}`, DockerConfigEntry{}, "must be formatted as base64(username:password)"},
		{"auth not base64", `{"auth":"%%%"}`, DockerConfigEntry{}, "illegal base64"},
		{"not an object", `"x"`, DockerConfigEntry{}, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got DockerConfigEntry
			err := json.Unmarshal([]byte(tc.in), &got)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDockerConfigEntryRoundTrip(t *testing.T) {
	in := DockerConfigEntry{Username: "u", Password: "p:w", Email: "e@x"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out DockerConfigEntry
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("%s read back as %+v, %v", b, out, err)
	}
}

func TestFromSecrets(t *testing.T) {
	secret := func(name string, typ v1.SecretType, key, value string) *v1.Secret {
		return &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}, Type: typ,
			Data: map[string][]byte{key: []byte(value)}}
	}
	const host = "127.0.0.1:5000"
	for _, tc := range []struct {
		name    string
		secrets []*v1.Secret
		want    []AuthConfig
		wantErr string
	}{
		{"dockerconfigjson", []*v1.Secret{secret("a", v1.SecretTypeDockerConfigJSON, v1.DockerConfigJSONKey,
			`{"auths":{"`+host+`":{"username":"u","password":"p"}}}`)}, []AuthConfig{{Username: "u", Password: "p"}}, ""},
		{"dockercfg", []*v1.Secret{secret("a", v1.SecretTypeDockercfg, v1.DockerConfigKey,
			`{"`+host+`":{"username":"u","password":"p"}}`)}, []AuthConfig{{Username: "u", Password: "p"}}, ""},
		{"both, in order", []*v1.Secret{
			secret("a", v1.SecretTypeDockercfg, v1.DockerConfigKey, `{"`+host+`":{"username":"old","password":"1"}}`),
			secret("b", v1.SecretTypeDockerConfigJSON, v1.DockerConfigJSONKey, `{"auths":{"`+host+`":{"username":"new","password":"2"}}}`),
		}, []AuthConfig{{Username: "old", Password: "1"}, {Username: "new", Password: "2"}}, ""},
		{"opaque ignored", []*v1.Secret{secret("a", v1.SecretTypeOpaque, v1.DockerConfigJSONKey,
			`{"auths":{"`+host+`":{"username":"u","password":"p"}}}`)}, nil, ""},
		{"json key in a dockercfg secret ignored", []*v1.Secret{secret("a", v1.SecretTypeDockercfg, v1.DockerConfigJSONKey,
			`{"auths":{"`+host+`":{"username":"u","password":"p"}}}`)}, nil, ""},
		{"other registry", []*v1.Secret{secret("a", v1.SecretTypeDockerConfigJSON, v1.DockerConfigJSONKey,
			`{"auths":{"registry.example.com":{"username":"u","password":"p"}}}`)}, nil, ""},
		{"malformed", []*v1.Secret{secret("bad", v1.SecretTypeDockerConfigJSON, v1.DockerConfigJSONKey, `{"auths":`)},
			nil, "secret default/bad: .dockerconfigjson"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr, err := FromSecrets(tc.secrets)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := kr.Lookup(host + "/orch/hello")
			if ok != (len(tc.want) > 0) || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Lookup = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}
