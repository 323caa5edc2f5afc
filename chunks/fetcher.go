package chunks

import (
	"context"
	"log/slog"
)

// FetcherOptions configure a Fetcher.
type FetcherOptions struct {
	Parallel int             // fetches in flight; 0 = 16
	Sources  func() []Source // asked at each fetch: the set changes as devices come and go
	Logger   *slog.Logger
}

// Fetcher fetches missing chunks from Sources into a Store.
type Fetcher struct{}

func NewFetcher(s *Store, opts FetcherOptions) *Fetcher         { return &Fetcher{} }
func (*Fetcher) Get(ctx context.Context, id ID) ([]byte, error) { return nil, errTODO }
func (*Fetcher) FetchAll(ctx context.Context, ids []ID, progress func(done, total int)) error {
	return errTODO
}
func (*Fetcher) Close() error { return nil }
