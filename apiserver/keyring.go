package apiserver

import (
	"context"
	"io"
	"net/http"

	v1 "orch.io/orch/api/v1"
)

// Keyring runs gossip keyring operations across the pool (gossip.Pool on a
// master). op is v1.KeyringList, KeyringInstall, KeyringUse or
// KeyringRemove; key is base64 (empty for list). Errors that are
// *v1.StatusError reach the client as they are.
type Keyring interface {
	KeyringOp(ctx context.Context, op, key string) (*v1.GossipKeyringResponse, error)
}

// KeyringHandler serves the gossip keyring to admins, as Nomad's
// /v1/agent/keyring/{list,install,use,remove}:
//
//	GET  /orch/v1/gossip/keyring                            list the keys and how many members hold each
//	POST /orch/v1/gossip/keyring/{install|use|remove}  {"key":"<base64>"}
//
// Each answers with a GossipKeyringResponse. kr may be nil (a master without
// gossip): every request then gets 404. The handler expects authenticated
// and authorized requests; mount it behind Server.authenticated and
// Server.authorizedNonResource (only system:masters may change the keyring
// unless an RBAC rule grants its path).
func KeyringHandler(kr Keyring, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kr == nil {
			writeError(w, v1.NewNotFound("gossip", "keyring"))
			return
		}
		op, key := v1.KeyringList, ""
		if r.Method != http.MethodGet {
			op = r.PathValue("op")
			switch op {
			case v1.KeyringInstall, v1.KeyringUse, v1.KeyringRemove:
			default:
				writeError(w, v1.NewNotFound("gossip keyring operation", op))
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			if err != nil {
				writeError(w, v1.NewBadRequest("read the request body: "+err.Error()))
				return
			}
			if int64(len(body)) > maxBody {
				writeError(w, v1.NewRequestTooLarge("the request body is too large"))
				return
			}
			var req v1.GossipKeyringRequest
			if err := decodeStrict(body, &req); err != nil {
				writeError(w, v1.AsStatusError(err))
				return
			}
			if req.Key == "" {
				writeError(w, v1.NewInvalid("GossipKeyring", "", []v1.StatusCause{{Type: "FieldValueRequired", Field: "key", Message: "key: Required value"}}))
				return
			}
			key = req.Key
		}
		res, err := kr.KeyringOp(r.Context(), op, key)
		if err != nil {
			writeError(w, v1.AsStatusError(err))
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}
