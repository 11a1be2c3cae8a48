package v1

// Gossip keyring operations, as Consul's `keyring` and Nomad's `operator
// gossip keyring` name them.
const (
	KeyringList    = "list"
	KeyringInstall = "install"
	KeyringUse     = "use"
	KeyringRemove  = "remove"
)

// GossipKeyringRequest is the body of POST
// /orch/v1/gossip/keyring/{install,use,remove}.
type GossipKeyringRequest struct {
	// Key is the gossip key, base64 (standard encoding) of 32 bytes.
	Key string `json:"key"`
}

// GossipKeyringResponse is what a keyring operation found across the
// gossip pool: each member answers for itself, as Serf's KeyManager
// collects answers to its key queries.
type GossipKeyringResponse struct {
	// NumMembers is how many members were asked (the answering master included).
	NumMembers int `json:"numMembers"`
	// NumResponses is how many answered, successfully or not.
	NumResponses int `json:"numResponses"`
	// NumErrors is how many answered with an error.
	NumErrors int `json:"numErrors"`
	// Messages holds each failing member's error, by member name.
	Messages map[string]string `json:"messages,omitempty"`
	// NoAnswer lists the members that did not answer in time.
	NoAnswer []string `json:"noAnswer,omitempty"`
	// Keys counts, for a list, how many members hold each key (base64).
	Keys map[string]int `json:"keys,omitempty"`
	// PrimaryKeys counts, for a list, how many members encrypt with each key.
	PrimaryKeys map[string]int `json:"primaryKeys,omitempty"`
}
