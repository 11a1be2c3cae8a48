package apiserver

import (
	"encoding/json"
	"net/http"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func writeError(w http.ResponseWriter, err error) {
	se := v1.AsStatusError(err)
	writeJSON(w, int(se.Status.Code), se.Status)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(v1.NewInternalError(err).Status)
	}
	writeRaw(w, code, b)
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeRecord writes a stored record as resource r shows it.
func (s *Server) writeRecord(w http.ResponseWriter, code int, r v1.Resource, rec *fsm.Record) {
	b, err := s.recordJSON(r, rec)
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, code, b)
}

// successStatus is the Status returned for a successful binding.
func successStatus(code int) v1.Status {
	return v1.Status{TypeMeta: v1.TypeMeta{Kind: "Status", APIVersion: v1.APIVersion}, Status: "Success", Code: int32(code)}
}
