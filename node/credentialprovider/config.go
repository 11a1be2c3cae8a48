// Package credentialprovider reads registry credentials out of a pod's
// image pull Secrets and matches them to an image, as the kubelet's
// credentialprovider package does: the .dockerconfigjson and .dockercfg
// formats, and a keyring whose most specific entries match first. Nothing
// here touches the disk: credentials live in memory for one pull.
package credentialprovider

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// DockerConfig maps registry locations ("registry.example.com",
// "https://index.docker.io/v1/", "*.example.com/team") to credentials: the
// .dockercfg format, and the "auths" of the .dockerconfigjson format.
type DockerConfig map[string]DockerConfigEntry

// DockerConfigJSON is the .dockerconfigjson format (a Docker client's
// config.json).
type DockerConfigJSON struct {
	Auths DockerConfig `json:"auths"`
	// HTTPHeaders is read and ignored, as by the kubelet.
	HTTPHeaders map[string]string `json:"HttpHeaders,omitempty"`
}

// DockerConfigEntry is one registry's credentials. An "auth" field
// (base64 of username:password) wins over username and password.
type DockerConfigEntry struct {
	Username string
	Password string
	Email    string
}

type dockerConfigEntryWithAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Email    string `json:"email,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// UnmarshalJSON reads an entry as the kubelet does: username, password and
// email, then auth (base64 of username:password) over the first two.
func (e *DockerConfigEntry) UnmarshalJSON(data []byte) error {
	var tmp dockerConfigEntryWithAuth
	if err := json.Unmarshal(data, &tmp); err != nil {
		return err
	}
	e.Username, e.Password, e.Email = tmp.Username, tmp.Password, tmp.Email
	if tmp.Auth == "" {
		return nil
	}
	var err error
	e.Username, e.Password, err = decodeAuth(tmp.Auth)
	return err
}

// MarshalJSON writes the entry with its auth field, as Docker's clients do.
func (e DockerConfigEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(dockerConfigEntryWithAuth{Username: e.Username, Password: e.Password, Email: e.Email,
		Auth: base64.StdEncoding.EncodeToString([]byte(e.Username + ":" + e.Password))})
}

// decodeAuth is the kubelet's decodeDockerConfigFieldAuth: padded or
// unpadded standard base64 of "username:password".
func decodeAuth(field string) (username, password string, err error) {
	var decoded []byte
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		decoded, err = base64.StdEncoding.DecodeString(field)
	} else {
		decoded, err = base64.RawStdEncoding.DecodeString(field)
	}
	if err != nil {
		return "", "", err
	}
	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", errors.New("unable to parse auth field, must be formatted as base64(username:password)")
	}
	return user, pass, nil
}

// FromSecrets is the kubelet's MakeDockerKeyring over a pod's pull
// Secrets: a kubernetes.io/dockerconfigjson Secret contributes the auths of
// its .dockerconfigjson, a kubernetes.io/dockercfg Secret its .dockercfg;
// Secrets of other types, or without the key, contribute nothing. A
// malformed value is an error naming the Secret.
func FromSecrets(secrets []*v1.Secret) (*Keyring, error) {
	kr := &Keyring{}
	for _, s := range secrets {
		switch {
		case s.Type == v1.SecretTypeDockerConfigJSON && len(s.Data[v1.DockerConfigJSONKey]) > 0:
			var cfg DockerConfigJSON
			if err := json.Unmarshal(s.Data[v1.DockerConfigJSONKey], &cfg); err != nil {
				return nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, v1.DockerConfigJSONKey, err)
			}
			kr.Add(cfg.Auths)
		case s.Type == v1.SecretTypeDockercfg && len(s.Data[v1.DockerConfigKey]) > 0:
			var cfg DockerConfig
			if err := json.Unmarshal(s.Data[v1.DockerConfigKey], &cfg); err != nil {
				return nil, fmt.Errorf("secret %s/%s: %s: %w", s.Namespace, s.Name, v1.DockerConfigKey, err)
			}
			kr.Add(cfg)
		}
	}
	return kr, nil
}
