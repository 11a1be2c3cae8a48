package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/natefinch/lumberjack.v2"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// DefaultQueueSize is the number of events waiting to be written before
// more are dropped (kube-apiserver's --audit-log-batch-buffer-size).
const DefaultQueueSize = 10000

// LogConfig configures the audit log file.
type LogConfig struct {
	// Path is the log file (required). Rotated files are kept beside it,
	// named with their rotation time.
	Path string
	// MaxSizeMB rotates the file when it would grow past this many
	// megabytes (kube-apiserver's --audit-log-maxsize); 0: 100.
	MaxSizeMB int
	// MaxBackups is the most rotated files kept (--audit-log-maxbackup);
	// 0: all.
	MaxBackups int
	// MaxAgeDays removes rotated files older than this (--audit-log-maxage);
	// 0: none by age.
	MaxAgeDays int
	// QueueSize is how many events may wait for the writer; 0:
	// DefaultQueueSize.
	QueueSize int
	// Logger receives write errors.
	Logger *slog.Logger
	// Registerer receives orch_audit_events_total and
	// orch_audit_events_dropped_total; nil: not registered.
	Registerer prometheus.Registerer
}

// Log is the Sink that writes events as JSON lines to a rotated file.
// Process never blocks: an event that finds the queue full is dropped and
// counted. Run writes until its context ends and then writes what is
// queued, so that events are flushed on shutdown.
type Log struct {
	queue   chan *auditv1.Event
	out     io.WriteCloser
	log     *slog.Logger
	written prometheus.Counter
	dropped *prometheus.CounterVec
}

// NewLog opens the audit log file (creating it with mode 0600 if needed);
// Run writes to it.
func NewLog(cfg LogConfig) (*Log, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit log: a path is required")
	}
	if cfg.MaxSizeMB < 0 || cfg.MaxBackups < 0 || cfg.MaxAgeDays < 0 || cfg.QueueSize < 0 {
		return nil, errors.New("audit log: maxsize, maxbackup, maxage and the queue size may not be negative")
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	// Fail at start, not at the first event, on a path that cannot be
	// written.
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f.Close()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		queue: make(chan *auditv1.Event, cfg.QueueSize),
		out: &lumberjack.Logger{Filename: cfg.Path, MaxSize: cfg.MaxSizeMB, MaxBackups: cfg.MaxBackups,
			MaxAge: cfg.MaxAgeDays, LocalTime: false},
		log: log.With("subsystem", "audit"),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orch_audit_events_total",
			Help: "Audit events written to the audit log.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orch_audit_events_dropped_total",
			Help: "Audit events not written: the queue was full (queue_full) or the file could not be written (write_error).",
		}, []string{"reason"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(l.written); err != nil {
			return nil, fmt.Errorf("audit log: register metrics: %w", err)
		}
		if err := cfg.Registerer.Register(l.dropped); err != nil {
			return nil, fmt.Errorf("audit log: register metrics: %w", err)
		}
	}
	l.dropped.WithLabelValues("queue_full")
	l.dropped.WithLabelValues("write_error")
	return l, nil
}

// Process queues ev for writing, or drops it if the queue is full.
func (l *Log) Process(ev *auditv1.Event) {
	select {
	case l.queue <- ev:
	default:
		l.dropped.WithLabelValues("queue_full").Inc()
	}
}

// Run writes queued events until ctx ends, then writes those still queued
// and closes the file. Events processed after Run returns are not written.
func (l *Log) Run(ctx context.Context) error {
	bw := &batch{w: bufio.NewWriterSize(l.out, 64<<10)}
	defer l.out.Close()
	for {
		select {
		case ev := <-l.queue:
			l.write(bw, ev)
			// Write what came in a burst in one go; flush when idle, so a
			// line reaches the file as soon as nothing else is waiting.
			if len(l.queue) == 0 {
				l.flush(bw)
			}
		case <-ctx.Done():
			for {
				select {
				case ev := <-l.queue:
					l.write(bw, ev)
				default:
					l.flush(bw)
					return nil
				}
			}
		}
	}
}

// batch is the buffered writer and the number of events in its buffer.
type batch struct {
	w       *bufio.Writer
	pending int
}

func (l *Log) write(bw *batch, ev *auditv1.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		l.dropped.WithLabelValues("write_error").Inc()
		l.log.Error("encode audit event", "auditID", ev.AuditID, "err", err)
		return
	}
	if bw.w.Available() < len(b)+1 {
		l.flush(bw)
	}
	bw.w.Write(b)
	bw.w.WriteByte('\n')
	bw.pending++
}

// flush writes the buffered events to the file; those it cannot write
// are counted as dropped.
func (l *Log) flush(bw *batch) {
	if err := bw.w.Flush(); err != nil {
		l.dropped.WithLabelValues("write_error").Add(float64(bw.pending))
		l.log.Error("write the audit log", "events", bw.pending, "err", err)
		// bufio keeps the error: start again on an empty buffer.
		bw.w.Reset(l.out)
	} else {
		l.written.Add(float64(bw.pending))
	}
	bw.pending = 0
}
