package pair

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bascule/bascule"
	"github.com/bascule/bascule/engine"
)

// client calls the peer API.
type client struct {
	base   string
	secret string
	http   *http.Client
}

func (c *client) get(ctx context.Context, path string, q url.Values, out any) error {
	u := strings.TrimRight(c.base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return c.do(req, out)
}

func (c *client) do(req *http.Request, out any) error {
	if c.secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("peer answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *client) changes(ctx context.Context, class bascule.FeedClass, since int64, limit int, wait time.Duration) (*ChangesResponse, error) {
	var out ChangesResponse
	err := c.get(ctx, pathChanges, url.Values{"class": {string(class)}, "since": {strconv.FormatInt(since, 10)},
		"limit": {strconv.Itoa(limit)}, "wait": {wait.String()}}, &out)
	return &out, err
}

func (c *client) state(ctx context.Context) (*StateResponse, error) {
	var out StateResponse
	err := c.get(ctx, pathState, nil, &out)
	return &out, err
}

func (c *client) talk(ctx context.Context, treq *engine.TalkRequest) (*engine.TalkResult, error) {
	body, err := json.Marshal(treq)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.base, "/")+pathTalk, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out engine.TalkResult
	return &out, c.do(req, &out)
}
