// Package gossip is the memberlist pool that masters and nodes share: who
// is in the cluster, which members are masters (and where their APIs are),
// and which nodes still answer. It owns the pool's keyring too.
package gossip
