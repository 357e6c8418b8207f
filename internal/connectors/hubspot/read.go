package hubspot

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// propertyBody is one entry of the properties API.
type propertyBody struct {
	Name       string `json:"name"`
	Label      string `json:"label"`
	Type       string `json:"type"`
	FieldType  string `json:"fieldType"`
	Calculated bool   `json:"calculated"`
	Hidden     bool   `json:"hidden"`
	Options    []struct {
		Value  string `json:"value"`
		Hidden bool   `json:"hidden"`
	} `json:"options"`
	HubspotDefined       bool `json:"hubspotDefined"`
	HasUniqueValue       bool `json:"hasUniqueValue"`
	ModificationMetadata struct {
		ReadOnlyValue bool `json:"readOnlyValue"`
	} `json:"modificationMetadata"`
}

// Describe reads the object's properties: HubSpot's type names (string, number, bool, date, datetime,
// enumeration, phone_number), enumeration values, read-only flags, and whether HubSpot defined them. The
// result is cached for the connector's life.
func (c *Connector) Describe(ctx context.Context, object string) (connectors.ObjectMeta, error) {
	op := "describe " + object
	if err := c.checkOpen(op); err != nil {
		return connectors.ObjectMeta{}, err
	}
	c.mu.Lock()
	meta, ok := c.describe[object]
	c.mu.Unlock()
	if ok {
		return meta, nil
	}
	if _, err := c.objectPath(op, object); err != nil {
		return connectors.ObjectMeta{}, err
	}
	var body struct {
		Results *[]propertyBody `json:"results"`
	}
	resp, err := c.call(ctx, transport.Request{Op: op, Path: c.props + "/" + url.PathEscape(object)}, &body)
	if err != nil {
		return connectors.ObjectMeta{}, err
	}
	if body.Results == nil {
		return connectors.ObjectMeta{}, malformed(crmerr.Permanent, op, resp.Status, "the answer has no results: the properties API changed shape")
	}
	meta = connectors.ObjectMeta{Name: object}
	required := c.required[object]
	for _, p := range *body.Results {
		if p.Name == "" {
			return connectors.ObjectMeta{}, malformed(crmerr.Transient, op, resp.Status, "a property without a name")
		}
		f := connectors.FieldMeta{
			Name:     p.Name,
			Label:    p.Label,
			Type:     p.Type,
			Required: slices.Contains(required, p.Name),
			ReadOnly: p.ModificationMetadata.ReadOnlyValue || p.Calculated,
			Custom:   !p.HubspotDefined,
			// batch/upsert takes a property with unique values as idProperty, and the email of contacts.
			UpsertKey: p.HasUniqueValue || (isContacts(object) && p.Name == "email"),
		}
		for _, o := range p.Options {
			f.Options = append(f.Options, o.Value)
		}
		meta.Fields = append(meta.Fields, f)
	}
	c.mu.Lock()
	c.describe[object] = meta
	c.mu.Unlock()
	return meta, nil
}

// defaultFields is every property of the object, for reads that name none.
func (c *Connector) defaultFields(ctx context.Context, object string) ([]string, error) {
	meta, err := c.Describe(ctx, object)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(meta.Fields))
	for i, f := range meta.Fields {
		names[i] = f.Name
	}
	return names, nil
}

// Get reads records by id through batch/read, 100 at a time. Unknown, archived and malformed ids are
// omitted. Fields nil reads every property.
func (c *Connector) Get(ctx context.Context, object string, ids []string, fields []string) ([]connectors.Record, error) {
	op := "read " + object
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	path, err := c.objectPath(op, object)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		if fields, err = c.defaultFields(ctx, object); err != nil {
			return nil, err
		}
	}
	modProp := modifiedProperty(object)
	fields = withField(fields, modProp)
	var want []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, err := strconv.ParseUint(id, 10, 64); err == nil && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	var out []connectors.Record
	for start := 0; start < len(want); start += MaxBatch {
		chunk := want[start:min(start+MaxBatch, len(want))]
		inputs := make([]map[string]string, len(chunk))
		for i, id := range chunk {
			inputs[i] = map[string]string{"id": id}
		}
		body, _ := json.Marshal(map[string]any{"properties": fields, "inputs": inputs})
		var b batchBody
		resp, err := c.call(ctx, transport.Request{Op: op, Method: http.MethodPost, Path: path + "/batch/read", Body: body, Idempotent: true}, &b)
		if err != nil {
			if e, ok := err.(*crmerr.Error); ok && e.Status == http.StatusNotFound && e.Code == "OBJECT_NOT_FOUND" {
				continue // none of the chunk exists
			}
			return nil, err
		}
		if b.Results == nil {
			return nil, malformed(crmerr.Permanent, op, resp.Status, "the answer has no results: the batch API changed shape")
		}
		for i := range *b.Results {
			rec, err := toRecord(op, resp.Status, &(*b.Results)[i], modProp)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// ListIDs pages through the live records by id, 100 at a time.
func (c *Connector) ListIDs(ctx context.Context, object string, yield func(ids []string) error) error {
	op := "list " + object
	if err := c.checkOpen(op); err != nil {
		return err
	}
	path, err := c.objectPath(op, object)
	if err != nil {
		return err
	}
	return c.list(ctx, op, path, false, []string{"hs_object_id"}, func(status int, recs []wireRecord) error {
		ids := make([]string, 0, len(recs))
		for _, r := range recs {
			if r.ID == "" {
				return malformed(crmerr.Transient, op, status, "a record without an id")
			}
			ids = append(ids, r.ID)
		}
		return yield(ids)
	})
}

// list pages through GET /objects/{object}, live or archived. It fails, without yielding the page, on a
// page without results, an empty page that still offers a next page, and a next cursor seen before.
func (c *Connector) list(ctx context.Context, op, path string, archived bool, fields []string, page func(status int, recs []wireRecord) error) error {
	after := ""
	seen := map[string]bool{}
	for {
		q := url.Values{"limit": {strconv.Itoa(MaxListPage)}}
		if archived {
			q.Set("archived", "true")
		}
		if after != "" {
			q.Set("after", after)
		}
		propertiesQuery(q, fields)
		var b pageBody
		resp, err := c.call(ctx, transport.Request{Op: op, Path: path, Query: q}, &b)
		if err != nil {
			return err
		}
		if b.Results == nil {
			return malformed(crmerr.Permanent, op, resp.Status, "the answer has no results: the list API changed shape")
		}
		next := b.next()
		switch {
		case len(*b.Results) == 0 && next != "":
			return malformed(crmerr.Transient, op, resp.Status, "an empty page that still offers a next page")
		case next != "" && (seen[next] || next == after):
			return malformed(crmerr.Transient, op, resp.Status, "the paging cursor loops: a next page that was already read")
		}
		if len(*b.Results) > 0 {
			if err := page(resp.Status, *b.Results); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		seen[next] = true
		after = next
	}
}
