package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/uberan/latus/engine"
	"github.com/uberan/latus/internal/devices"
	"github.com/uberan/latus/meta"
	"github.com/uberan/latus/peers"
)

// The daemon answers `latus status [PATH]`, `log [--deleted]`, `restore`,
// `import [--watch|--stop]`, `prefetch`, `pin`, `unpin` and `devices
// [remove|approve ID]` on a unix socket
// in the state dir (HTTP, JSON), and serves Prometheus metrics at /metrics
// there.
const socketName = "latus.sock"

// statusReport is what /status returns.
type statusReport struct {
	PID            int            `json:"pid"`
	Mountpoint     string         `json:"mountpoint"`
	StateDir       string         `json:"state_dir"`
	Device         string         `json:"device"`
	Files          int            `json:"files"`
	Dirs           int            `json:"dirs"`
	Bytes          int64          `json:"bytes"`
	Versions       int            `json:"versions"`
	Ignored        int            `json:"ignored_files"` // files kept on this device only (.latusignore)
	CacheUsed      int64          `json:"cache_used"`
	CacheCap       int64          `json:"cache_cap"`
	Chunks         int            `json:"chunks"`
	LocalOnly      int            `json:"local_only_chunks"`
	Pinned         int            `json:"pinned_chunks"`
	XMPP           string         `json:"xmpp,omitempty"`
	Devices        []deviceReport `json:"devices,omitempty"`
	StartedAt      time.Time      `json:"started_at"`
	CommitsServed  int64          `json:"commits"`
	OpenForWrite   int            `json:"open_for_write"`  // pending: staged files not committed yet
	Kept           []string       `json:"kept,omitempty"`  // paths whose failed commit's content waits in staging/failed
	Jobs           int            `json:"jobs"`            // pending: imports, prefetches, pins running
	Downloading    int            `json:"downloading"`     // chunk fetches in flight
	Downloaded     int64          `json:"downloaded"`      // plain bytes fetched since the daemon started
	FetchFailed    int64          `json:"fetch_failed"`    // fetches no device could satisfy
	Retention      string         `json:"retention"`       // the policy, in words
	PrunedPolicy   int64          `json:"pruned_policy"`   // versions pruned by the retention policy since start
	PrunedPressure int64          `json:"pruned_pressure"` // versions pruned because the cache was full
	Collected      int64          `json:"collected"`       // unreferenced chunks collected since start
	CollectedBytes int64          `json:"collected_bytes"` // their stored bytes
	LastPrune      time.Time      `json:"last_prune,omitzero"`
	Replicas       int            `json:"replicas"`           // devices that should keep each chunk
	Unreplicated   int            `json:"unreplicated_files"` // live files fewer devices keep than they should
	Replicated     int64          `json:"replicated_chunks"`  // chunks another device took over and proved, since start
	Released       int64          `json:"released_chunks"`    // chunks handed to another device under cache pressure
	BadProofs      int64          `json:"bad_proofs"`         // keep answers whose proof of possession was wrong
	Watches        []watchReport  `json:"watches,omitempty"`  // followed folders (latus import --watch)
}

type deviceReport struct {
	Device string `json:"device"`
	JID    string `json:"jid"`
	Online bool   `json:"online"`
	// Transport carries the data channel to it: "direct ADDR", "relay
	// PROXY-JID" (the XMPP server's SOCKS5 proxy) or "in-band" (through
	// the XMPP server); empty before any data moved.
	Transport string `json:"transport,omitempty"`
	// RecvRate is bytes/s received from it lately (chunks, index pages).
	RecvRate float64 `json:"recv_rate"`
}

// versionReport is one line of `latus log`.
type versionReport struct {
	N       int       `json:"n"`
	Time    time.Time `json:"time"`
	Device  string    `json:"device"`
	Change  string    `json:"change"`
	Size    int64     `json:"size"`
	Kind    string    `json:"kind"`
	Deleted bool      `json:"deleted"`
	From    string    `json:"from,omitempty"`
}

func versionReports(vs []meta.FileVersion) []versionReport {
	out := make([]versionReport, len(vs))
	for i, v := range vs {
		out[i] = versionReport{N: i + 1, Time: v.MTime, Device: v.Origin, Change: v.Change.String(), Size: v.Size, Kind: v.Kind.String(), Deleted: v.Deleted, From: v.From}
	}
	return out
}

// serveControl listens on the socket until the returned stop is called.
// Requests run under the daemon's job context, so stopping ends long ones
// (import, prefetch) before the stores close.
func serveControl(d *daemon, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	sock := filepath.Join(d.stateDir, socketName)
	os.Remove(sock) // we hold the state lock: any socket file is stale
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, d.status()) })
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		vs, err := history(d.db, r.URL.Query().Get("path"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, versionReports(vs))
	})
	mux.HandleFunc("POST /restore", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("version"))
		v, err := d.restore(r.URL.Query().Get("path"), n)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, versionReports([]meta.FileVersion{v})[0])
	})
	mux.HandleFunc("GET /deleted", func(w http.ResponseWriter, r *http.Request) {
		ts, err := d.db.Deleted(r.URL.Query().Get("path"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, trashedReports(ts))
	})
	mux.HandleFunc("POST /restore-deleted", func(w http.ResponseWriter, r *http.Request) {
		var at time.Time
		if s := r.URL.Query().Get("at"); s != "" {
			var err error
			if at, err = time.Parse(time.RFC3339Nano, s); err != nil {
				httpError(w, fmt.Errorf("at: %w", err))
				return
			}
		}
		vs, err := d.restoreDeleted(r.URL.Query().Get("path"), at)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, versionReports(vs))
	})
	mux.HandleFunc("GET /stat", func(w http.ResponseWriter, r *http.Request) {
		rep, err := d.pathStatus(r.URL.Query().Get("path"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, rep)
	})
	mux.HandleFunc("GET /pins", func(w http.ResponseWriter, r *http.Request) {
		ps, err := d.engine.PinReport()
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, pinReports(ps))
	})
	mux.HandleFunc("POST /prune", func(w http.ResponseWriter, r *http.Request) {
		rep, err := d.pruner.run(r.URL.Query().Get("dry_run") == "1")
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, rep)
	})
	mux.HandleFunc("POST /flush", func(w http.ResponseWriter, r *http.Request) {
		if err := d.fsys.Flush(); err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, struct{}{})
	})
	mux.HandleFunc("POST /watch", func(w http.ResponseWriter, r *http.Request) {
		d.job(func(context.Context) { d.serveWatch(r.Context(), w, r.URL.Query().Get("dir")) })
	})
	mux.HandleFunc("POST /watch/stop", func(w http.ResponseWriter, r *http.Request) {
		if err := d.watches.stop(r.URL.Query().Get("dir")); err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, struct{}{})
	})
	mux.HandleFunc("POST /import", func(w http.ResponseWriter, r *http.Request) {
		d.job(func(context.Context) { d.serveImport(r.Context(), w, r.URL.Query().Get("dir")) })
	})
	for endpoint, mode := range map[string]engine.FetchMode{"/prefetch": engine.Prefetch, "/pin": engine.Pin, "/unpin": engine.Unpin} {
		mux.HandleFunc("POST "+endpoint, func(w http.ResponseWriter, r *http.Request) {
			d.job(func(context.Context) { d.serveFetch(r.Context(), w, r.URL.Query().Get("path"), mode) })
		})
	}
	mux.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, d.knownDevices()) })
	for endpoint, decide := range map[string]func(*peers.Swarm, string) error{"/devices/remove": (*peers.Swarm).RemoveDevice, "/devices/approve": (*peers.Swarm).ApproveDevice} {
		mux.HandleFunc("POST "+endpoint, func(w http.ResponseWriter, r *http.Request) {
			rep, err := d.decideDevice(r.URL.Query().Get("id"), decide)
			if err != nil {
				httpError(w, err)
				return
			}
			writeJSON(w, rep)
		})
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return d.jobCtx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control socket", "err", err)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(shutCtx)
			<-done
			os.Remove(sock)
		})
	}, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// Wire errors: an explicit code, not the text of a Go error alone.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func httpError(w http.ResponseWriter, err error) {
	code, status := "error", http.StatusInternalServerError
	switch {
	case errors.Is(err, meta.ErrNotFound):
		code, status = "not_found", http.StatusNotFound
	case errors.Is(err, meta.ErrExists):
		code, status = "exists", http.StatusConflict
	case errors.Is(err, meta.ErrInvalidPath):
		code, status = "invalid_path", http.StatusBadRequest
	case errors.Is(err, devices.ErrUnknown):
		code, status = "not_found", http.StatusNotFound
	case errors.Is(err, devices.ErrSelf), errors.Is(err, devices.ErrRemoved):
		code, status = "refused", http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{Code: code, Message: err.Error()})
}

// controlClient talks to a running daemon.
type controlClient struct {
	http *http.Client
}

func dialControl(stateDir string) *controlClient {
	sock := filepath.Join(stateDir, socketName)
	return &controlClient{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

func (c *controlClient) do(ctx context.Context, method, path string, q url.Values, out any) error {
	resp, err := c.call(ctx, method, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *controlClient) call(ctx context.Context, method, path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://latus"+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("talk to the daemon: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var ae apiError
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &ae) == nil && ae.Message != "" {
			if ae.Code == "not_found" {
				return nil, fmt.Errorf("%s: %w", ae.Message, meta.ErrNotFound)
			}
			return nil, errors.New(ae.Message)
		}
		return nil, fmt.Errorf("daemon answered %s", resp.Status)
	}
	return resp, nil
}
