package agentserver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// RotateLogs rotates every current-attempt container log under podsDir
// (podsDir/<podUID>/logs/<container>/<attempt>.log, the highest attempt of
// each container) that is larger than maxBytes: it copies the file to
// <file>.1, replacing the previous piece, and truncates the file in place.
//
// Copy-truncate is safe because the runtime's writer opens the file with
// O_APPEND: its next write lands at the new end. Bytes written between the
// end of the copy and the truncation are lost, as with logrotate's
// copytruncate. The new piece is written to a temporary file and renamed
// over <file>.1 after the truncation, so a follower that sees a new piece
// knows the file was already truncated and reads the rest of what it was
// following from the piece.
//
// It goes on after a failure and returns every error, joined. The agent
// calls it periodically.
func RotateLogs(podsDir string, maxBytes int64) error {
	logs, err := filepath.Glob(filepath.Join(podsDir, "*", "logs", "*"))
	if err != nil {
		return fmt.Errorf("rotate logs in %s: %w", podsDir, err)
	}
	var errs []error
	for _, dir := range logs {
		cur, err := currentAttempt(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("rotate logs in %s: %w", dir, err))
			continue
		}
		if cur < 0 {
			continue
		}
		if err := rotateFile(attemptPath(dir, cur), maxBytes); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rotateFile copy-truncates path into path.1 when it is larger than maxBytes.
func rotateFile(path string, maxBytes int64) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // the pod went away meanwhile
		}
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	if fi.Size() <= maxBytes {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".rotate-*")
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	success := false
	defer func() {
		if !success {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return fmt.Errorf("rotate %s: copy: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("rotate %s: copy: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("rotate %s: truncate: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path+".1"); err != nil {
		return fmt.Errorf("rotate %s: rename the piece: %w", path, err)
	}
	success = true
	return nil
}
