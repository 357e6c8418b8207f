package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// wireRecord is a record as HubSpot sends it.
type wireRecord struct {
	ID                 string             `json:"id"`
	Properties         map[string]*string `json:"properties"`
	CreatedAt          string             `json:"createdAt"`
	UpdatedAt          string             `json:"updatedAt"`
	Archived           bool               `json:"archived"`
	ArchivedAt         string             `json:"archivedAt"`
	New                *bool              `json:"new"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId"`
}

// pageBody is a list or search answer. Results is a pointer so that a body without it (a different
// shape, only unknown fields) is told apart from an empty page.
type pageBody struct {
	Total   *int          `json:"total"`
	Results *[]wireRecord `json:"results"`
	Paging  *struct {
		Next *struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

func (p *pageBody) next() string {
	if p.Paging == nil || p.Paging.Next == nil {
		return ""
	}
	return p.Paging.Next.After
}

// batchBody is a batch answer: 200/201 on full success, 207 with per-input errors.
type batchBody struct {
	Status    string        `json:"status"`
	Results   *[]wireRecord `json:"results"`
	NumErrors int           `json:"numErrors"`
	Errors    []errorBody   `json:"errors"`
}

// call sends one request and decodes a JSON answer into out (when out is not nil).
func (c *Connector) call(ctx context.Context, req transport.Request, out any) (*transport.Response, error) {
	resp, err := c.client.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := resp.DecodeJSON(out); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// toRecord turns a wire record into the contract's Record. modProp names the modified-date property.
func toRecord(op string, status int, w *wireRecord, modProp string) (connectors.Record, error) {
	if w.ID == "" {
		return connectors.Record{}, malformed(crmerr.Transient, op, status, "a record without an id")
	}
	fields := make(map[string]any, len(w.Properties))
	for k, v := range w.Properties {
		if v == nil {
			fields[k] = nil
		} else {
			fields[k] = *v
		}
	}
	mod := w.UpdatedAt
	if v := w.Properties[modProp]; v != nil && *v != "" {
		mod = *v
	}
	at, err := parseTime(mod)
	if err != nil {
		return connectors.Record{}, malformed(crmerr.Transient, op, status, "record %s has an unreadable modified date %q", w.ID, truncate(mod, 40))
	}
	return connectors.Record{ID: w.ID, Fields: fields, ModifiedAt: at}, nil
}

// parseTime reads HubSpot's ISO 8601 timestamps (and milliseconds, which some properties use).
func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// wireValue turns a contract value into what HubSpot takes: every value as a string, multi-select values
// joined by ";", and "" to clear a property (nil).
func wireValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		return x.String(), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", fmt.Errorf("%v is not a number HubSpot can store", x)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case time.Time:
		return strconv.FormatInt(x.UnixMilli(), 10), nil
	case []string:
		return strings.Join(x, ";"), nil
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			s, err := wireValue(p)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ";"), nil
	}
	return "", fmt.Errorf("a %T value cannot be written to HubSpot", v)
}

// wireProperties converts a record's fields, or reports the first field that cannot be converted.
func wireProperties(fields map[string]any, skip string) (map[string]string, string, error) {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		if k == skip {
			continue
		}
		s, err := wireValue(v)
		if err != nil {
			return nil, k, err
		}
		out[k] = s
	}
	return out, "", nil
}

// propertiesQuery sets ?properties=a,b.
func propertiesQuery(q url.Values, fields []string) {
	if len(fields) > 0 {
		q.Set("properties", strings.Join(fields, ","))
	}
}

// withField returns fields plus name, when fields is not empty.
func withField(fields []string, names ...string) []string {
	if len(fields) == 0 {
		return fields
	}
	out := slices.Clone(fields)
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
