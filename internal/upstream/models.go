package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/continuumhq/continuum/internal/backend"
)

// maxModelsBody bounds a model listing.
const maxModelsBody = 16 << 20

// ListModels discovers the models the backend serves from its OpenAI
// /v1/models listing; an Ollama backend that does not answer it is asked
// its native /api/tags instead.
func (c *Client) ListModels(ctx context.Context) ([]string, error) {
	if c.typ == backend.Gemini {
		return c.listGemini(ctx)
	}
	ids, err := c.listOpenAI(ctx)
	if err == nil || c.typ != backend.Ollama || ctx.Err() != nil {
		return ids, err
	}
	ids, terr := c.listTags(ctx)
	if terr != nil {
		return nil, fmt.Errorf("%w; /api/tags: %w", err, terr)
	}
	return ids, nil
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.Do(ctx, &Request{Method: "GET", Path: path, Header: Header{{"Accept", "application/json"}}})
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelsBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", path, err)
	}
	if resp.Status != 200 {
		return nil, fmt.Errorf("GET %s: status %d", path, resp.Status)
	}
	return body, nil
}

func (c *Client) listOpenAI(ctx context.Context) ([]string, error) {
	path := c.APIPath("/models")
	body, err := c.get(ctx, path)
	if err != nil {
		return nil, err
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", path, err)
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

func (c *Client) listTags(ctx context.Context) ([]string, error) {
	path := c.RootPath("/api/tags")
	body, err := c.get(ctx, path)
	if err != nil {
		return nil, err
	}
	var tags struct {
		Models []struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &tags); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", path, err)
	}
	ids := make([]string, 0, len(tags.Models))
	for _, m := range tags.Models {
		id := m.Name
		if id == "" {
			id = m.Model
		}
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// listGemini reads Gemini's native model list (names "models/<id>"),
// following its pages.
func (c *Client) listGemini(ctx context.Context) ([]string, error) {
	var ids []string
	token := ""
	for page := 0; page < 100; page++ {
		path := c.RootPath("/v1beta/models?pageSize=1000")
		if token != "" {
			path += "&pageToken=" + url.QueryEscape(token)
		}
		h := Header{{"Accept", "application/json"}}
		if c.geminiKey != "" { // the OpenAI-compatible mode authenticates with a bearer key
			h = append(h, Field{"x-goog-api-key", c.geminiKey})
		}
		resp, err := c.Do(ctx, &Request{Method: "GET", Path: path, Header: h})
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", path, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelsBody))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("GET %s: read: %w", path, err)
		}
		if resp.Status != 200 {
			return nil, fmt.Errorf("GET %s: status %d", path, resp.Status)
		}
		var list struct {
			Models []struct {
				Name string `json:"name"`
			} `json:"models"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("GET %s: decode: %w", path, err)
		}
		for _, m := range list.Models {
			if id := strings.TrimPrefix(m.Name, "models/"); id != "" {
				ids = append(ids, id)
			}
		}
		if token = list.NextPageToken; token == "" {
			break
		}
	}
	return ids, nil
}
