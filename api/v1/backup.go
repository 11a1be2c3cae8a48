package v1

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// A backup (`orchctl snapshot save`) is a snapshot of a cluster's store in
// the format Raft snapshots use — a header line {"version":1,"index":N}, then
// one JSON line per object {"r":resource,...} — followed by a trailer line
// {"sha256":"<hex>"} over everything before it. The FSM writes it; this file
// reads and checks it, for orchctl and orchd alike.

// BackupVersion is the snapshot format a backup holds.
const BackupVersion = 1

// BackupTrailer returns the trailer line for a backup whose content has the
// given SHA-256.
func BackupTrailer(sum []byte) []byte {
	b, _ := json.Marshal(map[string]string{"sha256": hex.EncodeToString(sum)})
	return append(b, '\n')
}

// BackupInfo describes a verified backup.
type BackupInfo struct {
	// Index is the Raft index the backup was taken at.
	Index uint64 `json:"index"`
	// SHA256 is the checksum the trailer carries (and the content matched).
	SHA256 string `json:"sha256"`
	// Objects counts the objects per resource.
	Objects map[string]int `json:"objects"`
	// Bytes is the size of the snapshot without the trailer.
	Bytes int `json:"bytes"`
}

// ReadBackup reads a whole backup, checks its checksum and format, and
// returns what it holds and the snapshot without the trailer.
func ReadBackup(r io.Reader) (BackupInfo, []byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return BackupInfo{}, nil, fmt.Errorf("read backup: %w", err)
	}
	body := bytes.TrimRight(data, "\n")
	cut := bytes.LastIndexByte(body, '\n')
	if cut < 0 {
		return BackupInfo{}, nil, errors.New("backup: no trailer line (the file is truncated or not an orch backup)")
	}
	body, last := data[:cut+1], body[cut+1:]
	var trailer struct {
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(last, &trailer); err != nil || trailer.SHA256 == "" {
		return BackupInfo{}, nil, errors.New("backup: the last line is not a checksum (the file is truncated or not an orch backup)")
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != trailer.SHA256 {
		return BackupInfo{}, nil, fmt.Errorf("backup: checksum mismatch: the trailer says %s, the content is %s", trailer.SHA256, hex.EncodeToString(sum[:]))
	}
	info := BackupInfo{SHA256: trailer.SHA256, Objects: map[string]int{}, Bytes: len(body)}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	first := true
	for sc.Scan() {
		if first {
			var h struct {
				Version int    `json:"version"`
				Index   uint64 `json:"index"`
			}
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != BackupVersion {
				return BackupInfo{}, nil, fmt.Errorf("backup: header %q is not a version %d snapshot header", sc.Text(), BackupVersion)
			}
			info.Index, first = h.Index, false
			continue
		}
		var line struct {
			Resource string `json:"r"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return BackupInfo{}, nil, fmt.Errorf("backup: bad line: %w", err)
		}
		info.Objects[line.Resource]++
	}
	if err := sc.Err(); err != nil {
		return BackupInfo{}, nil, fmt.Errorf("backup: %w", err)
	}
	return info, body, nil
}
